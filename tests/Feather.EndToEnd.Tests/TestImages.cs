using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Feather.EndToEnd.Tests;

/// <summary>Plain-colour PNG files written by hand (RGB, 8 bits, zlib from the BCL): real images for real models.</summary>
public static class TestImages
{
    public static byte[] Png(int width, int height, byte red, byte green, byte blue)
    {
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[1 + width * 3]; // filter byte 0, then RGB
            for (var x = 0; x < width; x++) (row[1 + 3 * x], row[2 + 3 * x], row[3 + 3 * x]) = (red, green, blue);
            for (var y = 0; y < height; y++) z.Write(row);
        }
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // truecolour
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", raw.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        s.Write(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        s.Write(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A File.Upload response holding one PNG.</summary>
    public static System.Text.Json.Nodes.JsonObject Upload(string name, byte[] png) => new()
    {
        ["files"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = name, ["media_type"] = "image/png", ["data"] = Convert.ToBase64String(png),
        }),
    };
}
