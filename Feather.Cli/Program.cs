Console.WriteLine("feather");
