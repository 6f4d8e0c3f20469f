public class PlaceholderEndToEnd { }
