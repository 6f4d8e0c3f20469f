public class PlaceholderServer { }
