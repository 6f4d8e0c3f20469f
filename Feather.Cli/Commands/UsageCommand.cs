using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary><c>feather usage [--user U | --team T] [--from] [--to] [--json]</c></summary>
public static class UsageCommand
{
    public static readonly Option<string?> User = new("--user") { Description = "Another user's usage (admins)" };
    public static readonly Option<string?> Team = new("--team") { Description = "A team's usage (its members and admins)" };
    public static readonly Option<DateTime?> From = new("--from") { Description = "From (UTC; default 30 days ago)" };
    public static readonly Option<DateTime?> To = new("--to") { Description = "To (UTC; default now)" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("usage", "Show steps, seconds, GPU seconds and cost per day, profile and model, with your quotas")
        {
            User, Team, From, To,
        };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            if (parse.GetValue(User) is not null && parse.GetValue(Team) is not null)
                throw new CliException(ExitCodes.Usage, "--user and --team exclude each other");
            var path = Routes.WithQuery(Routes.Usage, ("user", parse.GetValue(User)), ("team", parse.GetValue(Team)),
                ("from", parse.GetValue(From)?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)),
                ("to", parse.GetValue(To)?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)));
            var answer = await context.Api.SendAsync<UsageView>(HttpMethod.Get, path, null, ct);
            if (context.Json)
            {
                JsonOutput.Write(context.Out, answer.Body);
                return ExitCodes.Ok;
            }
            var u = answer.Value;
            context.Out.WriteLine($"usage of {u.Subject} from {Format.Time(u.From)} to {Format.Time(u.To)}");
            foreach (var (title, rows) in new[] { ("DAY", u.ByDay), ("PROFILE", u.ByProfile), ("MODEL", u.ByModel) })
            {
                context.Out.WriteLine();
                Table.Write(context.Out, [title, "STEPS", "FAILED", "SECONDS", "GPU SECONDS", "COST"],
                    rows.Append(u.Totals with { Key = "total" }).Select(r => (IReadOnlyList<string>)
                        [r.Key, N(r.Steps), N(r.Failed), N(r.Seconds), N(r.GpuSeconds), N(r.Cost)]));
            }
            if (u.Quotas.Length > 0)
            {
                context.Out.WriteLine();
                Table.Write(context.Out, ["QUOTA", "USED", "LIMIT", "RESETS"], u.Quotas.Select(q => (IReadOnlyList<string>)
                    [q.Quota, N(q.Used), N(q.Limit), q.ResetsAt is { } r ? Format.Time(r) : "—"]));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string N(double value) => value.ToString(value == Math.Floor(value) ? "0" : "0.###", CultureInfo.InvariantCulture);
}

/// <summary><c>feather quotas list | set (--user U | --team T) [limits] | remove (--user U | --team T)</c> (admins)</summary>
public static class QuotasCommand
{
    public static readonly Option<string?> User = new("--user") { Description = "The user" };
    public static readonly Option<string?> Team = new("--team") { Description = "The team" };
    public static readonly Option<int?> StepsPerDay = new("--steps-per-day") { Description = "Steps per UTC day" };
    public static readonly Option<double?> CpuSeconds = new("--cpu-seconds-per-month") { Description = "Seconds of steps per calendar month" };
    public static readonly Option<double?> GpuSeconds = new("--gpu-seconds-per-month") { Description = "Seconds of GPU steps per calendar month" };
    public static readonly Option<long?> StorageBytes = new("--storage-bytes") { Description = "Bytes the runs' inputs and outputs may hold" };

    public static Command Create(CliEnvironment env)
    {
        var list = new Command("list", "List every user's and team's quotas");
        CommandContext.Bind(list, env, async (context, parse, ct) =>
        {
            var answer = await context.Api.SendAsync<QuotaView[]>(HttpMethod.Get, Routes.Quotas, null, ct);
            if (context.Json) JsonOutput.Write(context.Out, answer.Body);
            else Table.Write(context.Out, ["KIND", "NAME", "STEPS/DAY", "CPU S/MONTH", "GPU S/MONTH", "STORAGE"], answer.Value.Select(q => (IReadOnlyList<string>)
                [q.Kind, q.Name, q.StepsPerDay?.ToString(CultureInfo.InvariantCulture) ?? "—", q.CpuSecondsPerMonth?.ToString(CultureInfo.InvariantCulture) ?? "—",
                    q.GpuSecondsPerMonth?.ToString(CultureInfo.InvariantCulture) ?? "—", q.StorageBytes is { } b ? Format.Bytes(b) : "—"]));
            return ExitCodes.Ok;
        });
        var set = new Command("set", "Set a user's or team's quotas (a limit left out has none)") { User, Team, StepsPerDay, CpuSeconds, GpuSeconds, StorageBytes };
        CommandContext.Bind(set, env, async (context, parse, ct) =>
        {
            var (kind, name) = Subject(parse);
            var answer = await context.Api.SendAsync<QuotaView>(HttpMethod.Put, Routes.Expand(Routes.Quota, kind, name),
                new QuotaRequest(parse.GetValue(StepsPerDay), parse.GetValue(CpuSeconds), parse.GetValue(GpuSeconds), parse.GetValue(StorageBytes)), ct);
            if (context.Json) JsonOutput.Write(context.Out, answer.Body);
            else context.Out.WriteLine($"quotas of {kind} {name} set");
            return ExitCodes.Ok;
        });
        var remove = new Command("remove", "Remove a user's or team's quotas") { User, Team };
        CommandContext.Bind(remove, env, async (context, parse, ct) =>
        {
            var (kind, name) = Subject(parse);
            await context.Api.DeleteAsync(Routes.Expand(Routes.Quota, kind, name), ct);
            if (context.Json) JsonOutput.Write(context.Out, new JsonObject { ["removed"] = $"{kind}:{name}" });
            else context.Out.WriteLine($"quotas of {kind} {name} removed");
            return ExitCodes.Ok;
        });
        return new Command("quotas", "Set users' and teams' quotas (admins)") { list, set, remove };
    }

    private static (string Kind, string Name) Subject(ParseResult parse) => (parse.GetValue(User), parse.GetValue(Team)) switch
    {
        ({ } user, null) => ("user", user),
        (null, { } team) => ("team", team),
        _ => throw new CliException(ExitCodes.Usage, "name one --user or one --team"),
    };
}
