using Feather.Cli;

return await FeatherApp.RunAsync(args, CliEnvironment.FromConsole());
