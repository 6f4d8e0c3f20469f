using Feather.Server.Environments;

namespace Feather.Server.Tests.Unit;

public sealed class BuildLogRedactionTests
{
    [Theory]
    [InlineData("Step 3/5 : RUN python3 -m pip install --index-url 'https://ci:s3cret@nexus.lab/simple' 'numpy'",
                "Step 3/5 : RUN python3 -m pip install --index-url 'https://***@nexus.lab/simple' 'numpy'")]
    [InlineData("Looking in indexes: http://user:tok@10.0.0.5:8081/simple", "Looking in indexes: http://***@10.0.0.5:8081/simple")]
    [InlineData("Get:1 http://deb.debian.org/debian bookworm InRelease", "Get:1 http://deb.debian.org/debian bookworm InRelease")]
    [InlineData("mail me at ada@lab.org", "mail me at ada@lab.org")]
    public void Credentials_in_urls_are_hidden_and_nothing_else_changes(string line, string expected) =>
        Assert.Equal(expected, DockerImageBuilder.Redact(line));
}
