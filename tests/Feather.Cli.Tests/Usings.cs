public class PlaceholderCli { }
