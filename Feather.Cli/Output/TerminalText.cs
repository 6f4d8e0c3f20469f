using System.Text;

namespace Feather.Cli.Output;

/// <summary>
/// Makes text that came from a model or a server harmless to print on a terminal. A model's
/// output, logs or error message could otherwise move the cursor, rewrite earlier lines, set the
/// window title, plant hyperlinks or (on some terminals) answer queries into the input. Escape
/// sequences (CSI <c>ESC [</c>, OSC <c>ESC ]</c> up to BEL or ST, DCS/SOS/PM/APC up to ST, and
/// <c>ESC</c> with intermediates and a final byte, such as <c>ESC c</c>) are removed whole, their 8-bit forms too; a carriage return becomes a
/// line break (so progress lines stay readable); every other C0 or C1 control character and DEL
/// becomes U+FFFD. Newline and tab are kept. --json output needs none of this: JSON escapes them.
/// </summary>
public static class TerminalText
{
    private const char Esc = '\u001b';
    private const char Replacement = '\uFFFD';

    public static string Safe(string text)
    {
        if (!text.Any(NeedsWork)) return text;
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n' || c == '\t') { sb.Append(c); continue; }
            if (c == '\r')
            {
                if (i + 1 >= text.Length || text[i + 1] != '\n') sb.Append('\n');
                continue;
            }
            if (c == Esc && i + 1 < text.Length && text[i + 1] is >= '@' and <= '_')
            {
                i = SkipSequence(text, i + 2, text[i + 1]) - 1;
                continue;
            }
            if (c == Esc && i + 1 < text.Length && text[i + 1] is >= ' ' and <= '~')
            {
                // ESC, intermediate bytes, one final byte (ESC c resets the terminal, ESC ( 0 switches charset)
                var j = i + 1;
                while (j < text.Length && text[j] is >= ' ' and <= '/') j++;
                i = j < text.Length && text[j] is >= '0' and <= '~' ? j : j - 1;
                continue;
            }
            if (c is '\u009b' or '\u009d' or '\u0090' or '\u0098' or '\u009e' or '\u009f')
            {
                i = SkipSequence(text, i + 1, (char)(c - 0x40)) - 1;
                continue;
            }
            sb.Append(IsControl(c) ? Replacement : c);
        }
        return sb.ToString();
    }

    private static bool NeedsWork(char c) => c == '\r' || IsControl(c);

    private static bool IsControl(char c) => (c < ' ' && c != '\n' && c != '\t') || c is >= '\u007f' and <= '\u009f';

    /// <summary>The index just past the sequence whose introducer (the 7-bit final of <c>ESC x</c>) is <paramref name="kind"/>, body from <paramref name="start"/>.</summary>
    private static int SkipSequence(string text, int start, char kind)
    {
        switch (kind)
        {
            case '[': // CSI: parameter and intermediate bytes, then one final byte
                var i = start;
                while (i < text.Length && text[i] is >= '\u0020' and <= '\u003f') i++;
                while (i < text.Length && text[i] is >= '\u0020' and <= '\u002f') i++;
                return i < text.Length && text[i] is >= '\u0040' and <= '\u007e' ? i + 1 : i;
            case ']' or 'P' or 'X' or '^' or '_': // OSC, DCS, SOS, PM, APC: a string up to BEL (OSC) or ST
                for (var j = start; j < text.Length; j++)
                {
                    if (text[j] == '\u0007' && kind == ']') return j + 1;
                    if (text[j] == '\u009c') return j + 1;
                    if (text[j] == Esc && j + 1 < text.Length && text[j + 1] == '\\') return j + 2;
                }
                return text.Length; // unterminated: drop the rest rather than print half a sequence
            default: // the other Fe sequences (ESC D, ESC M, ...) are two characters
                return start;
        }
    }
}
