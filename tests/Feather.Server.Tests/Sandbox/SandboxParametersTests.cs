using Feather.Server.Sandbox;

namespace Feather.Server.Tests.Sandbox;

public class SandboxParametersTests
{
    private static SandboxSpec Spec(string profile)
    {
        var limits = new ProfileSet().Find(profile)!;
        return new SandboxSpec("feather-step-1", "feather-version:m-1", profile, limits, "server-a",
            new Dictionary<string, string> { ["org.feather.run"] = "r1", ["org.feather.step"] = "0" });
    }

    [Theory]
    [InlineData("low", 512, 1.0, 128, 64)]
    [InlineData("medium", 2048, 2.0, 256, 256)]
    [InlineData("high", 8192, 4.0, 512, 1024)]
    public void Each_profile_gets_its_limits_without_swap(string profile, int memMiB, double cpus, int pids, int tmpfsMiB)
    {
        var p = SandboxParameters.Create(Spec(profile));
        Assert.Equal(memMiB * 1024L * 1024, p.HostConfig!.Memory);
        Assert.Equal(p.HostConfig!.Memory, p.HostConfig!.MemorySwap);
        Assert.Equal((long)(cpus * 1e9), p.HostConfig!.NanoCPUs);
        Assert.Equal(pids, p.HostConfig!.PidsLimit);
        Assert.Equal($"rw,nosuid,nodev,size={tmpfsMiB}m,mode=1777", p.HostConfig!.Tmpfs!["/tmp"]);
        Assert.Equal(profile, p.Labels![SandboxParameters.ProfileLabel]);
    }

    [Theory]
    [InlineData("low")]
    [InlineData("medium")]
    [InlineData("high")]
    public void Every_profile_is_hardened(string profile)
    {
        var p = SandboxParameters.Create(Spec(profile));
        Assert.Equal("none", p.HostConfig!.NetworkMode);
        Assert.True(p.NetworkDisabled);
        Assert.True(p.HostConfig!.ReadonlyRootfs);
        Assert.Equal(["ALL"], p.HostConfig!.CapDrop);
        Assert.Contains("no-new-privileges", p.HostConfig!.SecurityOpt);
        Assert.Equal("10001:10001", p.User);
        Assert.Null(p.HostConfig!.Binds);
        // the one mount: the step's own anonymous file-area volume (no host path)
        var mount = Assert.Single(p.HostConfig!.Mounts!);
        Assert.Equal(("volume", SandboxParameters.FilesDirectory, null), (mount.Type, mount.Target, mount.Source));
        Assert.Null(p.HostConfig!.CapAdd);
        Assert.False(p.HostConfig!.Privileged);
        Assert.Equal("none", p.HostConfig!.LogConfig!.Type);
        Assert.Empty(p.Env);
        Assert.Equal("private", p.HostConfig!.IpcMode);
        Assert.Equal(8L * 1024 * 1024, p.HostConfig!.ShmSize);
        Assert.Contains(p.HostConfig!.Ulimits, u => u is { Name: "nofile", Soft: 1024, Hard: 4096 });
        Assert.Contains(p.HostConfig!.Ulimits, u => u is { Name: "core", Soft: 0, Hard: 0 });
        Assert.Null(p.HostConfig!.Devices);
        Assert.True(string.IsNullOrEmpty(p.HostConfig!.PidMode)); // not the host's pid namespace
    }

    [Fact]
    public void A_versions_weights_are_bound_read_only_and_nothing_else_of_the_host_is()
    {
        var spec = Spec("low") with
        {
            ReadOnlyFiles = [new EngineMount("/srv/feather/blobs/ab/cdef", "/model/weights/a.bin"), new EngineMount("/srv/feather/blobs/12/3456", "/model/b.pt")],
        };
        var p = SandboxParameters.Create(spec);
        Assert.Null(p.HostConfig!.Binds);
        var binds = p.HostConfig!.Mounts!.Where(m => m.Type == "bind").ToList();
        Assert.Equal([("/srv/feather/blobs/ab/cdef", "/model/weights/a.bin", true), ("/srv/feather/blobs/12/3456", "/model/b.pt", true)],
            binds.Select(m => (m.Source, m.Target, m.ReadOnly)).ToList());
        Assert.Equal(3, p.HostConfig!.Mounts!.Count); // and the file area
        Assert.True(p.HostConfig!.ReadonlyRootfs);
    }

    [Fact]
    public void Stdin_is_attached_once_without_a_tty()
    {
        var p = SandboxParameters.Create(Spec("low"));
        Assert.True(p.OpenStdin);
        Assert.True(p.StdinOnce);
        Assert.True(p.AttachStdin);
        Assert.True(p.AttachStdout);
        Assert.True(p.AttachStderr);
        Assert.False(p.Tty);
    }

    [Fact]
    public void Labels_mark_the_container_as_managed_by_this_server_and_keep_the_request_labels()
    {
        var p = SandboxParameters.Create(Spec("low"));
        Assert.Equal("true", p.Labels!["org.feather.managed"]);
        Assert.Equal("server-a", p.Labels!["org.feather.owner"]);
        Assert.Equal("r1", p.Labels!["org.feather.run"]);
        Assert.Equal("0", p.Labels!["org.feather.step"]);
        Assert.Equal("feather-step-1", p.Name);
        Assert.Equal("feather-version:m-1", p.Image);
    }

    [Fact]
    public void Request_labels_cannot_override_the_ownership_labels()
    {
        var spec = Spec("low") with
        {
            Labels = new Dictionary<string, string> { ["org.feather.owner"] = "someone-else", ["org.feather.managed"] = "false" },
        };
        var p = SandboxParameters.Create(spec);
        Assert.Equal("server-a", p.Labels!["org.feather.owner"]);
        Assert.Equal("true", p.Labels!["org.feather.managed"]);
    }

    [Fact]
    public void Only_high_requests_a_gpu()
    {
        Assert.Null(SandboxParameters.Create(Spec("low")).HostConfig!.DeviceRequests);
        Assert.Null(SandboxParameters.Create(Spec("medium")).HostConfig!.DeviceRequests);
        var gpu = Assert.Single(SandboxParameters.Create(Spec("high")).HostConfig!.DeviceRequests);
        Assert.Equal(-1, gpu.Count);
        Assert.Equal("nvidia", gpu.Driver);
        Assert.Equal([["gpu"]], gpu.Capabilities);
    }

    [Fact]
    public void Configured_limits_are_used_as_given()
    {
        var limits = new ProfileLimits { MemoryMiB = 100, Cpus = 0.5, PidsLimit = 32, TmpfsMiB = 8, TimeoutSeconds = 5 };
        var p = SandboxParameters.Create(Spec("low") with { Limits = limits });
        Assert.Equal(100 * 1024L * 1024, p.HostConfig!.Memory);
        Assert.Equal(500_000_000, p.HostConfig!.NanoCPUs);
        Assert.Equal(32, p.HostConfig!.PidsLimit);
        Assert.StartsWith("rw,nosuid,nodev,size=8m", p.HostConfig!.Tmpfs!["/tmp"]);
    }
}
