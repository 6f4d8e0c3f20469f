#nullable disable warnings
using Feather.Server.Sandbox;
using Feather.Server.Sandbox.Swarm;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox.Swarm;

/// <summary>The one pure function from a step to a swarm service, and the swarm options' checks; no Docker.</summary>
public class SwarmServiceSpecTests
{
    private static SwarmStepSpec Spec(string profile, SwarmOptions? options = null, bool asJob = true, int chunks = 1) =>
        new("feather-step-1", "reg:5000/feather/feather-version@sha256:" + new string('a', 64), ["python3", "-m", "feather.runtime"],
            profile, new ProfileSet().Find(profile)!, "server-a", new Dictionary<string, string> { ["org.feather.run"] = "r1" },
            "net-1", Enumerable.Range(0, chunks).Select(i => ($"s{i}", $"feather-step-1-{i:D3}")).ToList(), 40 << 20,
            options ?? new SwarmOptions { Registry = "reg:5000/feather" }, asJob);

    [Theory]
    [InlineData("low", 512, 1.0, 128, 64)]
    [InlineData("medium", 2048, 2.0, 256, 256)]
    [InlineData("high", 8192, 4.0, 512, 1024)]
    public void Each_profile_gets_its_limits_as_swarm_resources(string profile, int memMiB, double cpus, int pids, int tmpfsMiB)
    {
        var task = SwarmServiceSpec.Create(Spec(profile)).Service.TaskTemplate;
        Assert.Equal(memMiB * 1024L * 1024, task.Resources.Limits.MemoryBytes);
        Assert.Equal((long)(cpus * 1e9), task.Resources.Limits.NanoCPUs);
        Assert.Equal(pids, task.Resources.Limits.Pids);
        Assert.Equal(memMiB * 1024L * 1024, task.Resources.Reservations.MemoryBytes);
        var tmp = Assert.Single(task.ContainerSpec.Mounts);
        Assert.Equal(("tmpfs", "/tmp", tmpfsMiB * 1024L * 1024, 1023L), (tmp.Type, tmp.Target, tmp.TmpfsOptions.SizeBytes!.Value, (long)tmp.TmpfsOptions.Mode!.Value));
    }

    [Fact]
    public void The_sandbox_is_that_of_a_local_step_in_swarm_terms()
    {
        var service = SwarmServiceSpec.Create(Spec("low")).Service;
        var c = service.TaskTemplate.ContainerSpec;
        Assert.True(c.ReadOnly);
        Assert.Equal(SandboxParameters.SandboxUser, c.User);
        Assert.Equal(["ALL"], c.CapabilityDrop);
        Assert.Null(c.CapabilityAdd);
        Assert.True(c.Privileges.NoNewPrivileges);
        Assert.Empty(c.Env);
        Assert.Equal("sandbox", c.Hostname);
        Assert.Contains(c.Ulimits, u => u.Name == "core" && u.Hard == 0);
        // the one network is the step's own; never restarted; one task
        Assert.Equal("net-1", Assert.Single(service.TaskTemplate.Networks).Target);
        Assert.Equal("none", service.TaskTemplate.RestartPolicy.Condition);
        Assert.Equal(1UL, service.Mode.ReplicatedJob.TotalCompletions);
        Assert.Equal("json-file", service.TaskTemplate.LogDriver.Name);
        Assert.Equal((40 << 20).ToString(), service.TaskTemplate.LogDriver.Options["max-size"]);
        // the request's chunks in order, readable by the sandbox user only
        Assert.Equal(["/bin/sh", "-c", "cat /run/secrets/feather-request-* | exec \"$@\"", "feather-step", "python3", "-m", "feather.runtime"], c.Command);
        var secret = Assert.Single(c.Secrets);
        Assert.Equal(("s0", "feather-request-000", "10001", 256u), (secret.SecretID, secret.File.Name, secret.File.UID, secret.File.Mode));
    }

    [Fact]
    public void Labels_mark_the_service_as_this_servers_but_not_its_containers_as_local_leftovers()
    {
        var service = SwarmServiceSpec.Create(Spec("low")).Service;
        Assert.Equal("true", service.Labels[SandboxParameters.ManagedLabel]);
        Assert.Equal("server-a", service.Labels[SandboxParameters.OwnerLabel]);
        Assert.Equal("feather-step-1", service.Labels[SwarmServiceSpec.StepLabel]);
        Assert.Equal("r1", service.Labels["org.feather.run"]);
        Assert.False(service.TaskTemplate.ContainerSpec.Labels.ContainsKey(SandboxParameters.ManagedLabel));
        Assert.Equal("feather-step-1", service.TaskTemplate.ContainerSpec.Labels[SwarmServiceSpec.StepLabel]);
    }

    [Fact]
    public void High_is_placed_by_node_label_or_reserves_the_gpu_resource()
    {
        var byLabel = SwarmServiceSpec.Create(Spec("high")).Service.TaskTemplate;
        Assert.Contains("node.labels.feather.gpu==true", byLabel.Placement.Constraints);
        Assert.Null(byLabel.Resources.Reservations.GenericResources);
        var byResource = SwarmServiceSpec.Create(Spec("high", new SwarmOptions { Registry = "r", GpuResource = "NVIDIA-GPU" })).Service.TaskTemplate;
        Assert.DoesNotContain(byResource.Placement.Constraints, c => c.Contains("gpu"));
        var gpu = Assert.Single(byResource.Resources.Reservations.GenericResources).DiscreteResourceSpec;
        Assert.Equal(("NVIDIA-GPU", 1L), (gpu.Kind, gpu.Value!.Value));
        Assert.DoesNotContain(SwarmServiceSpec.Create(Spec("low")).Service.TaskTemplate.Placement.Constraints, c => c.Contains("gpu"));
    }

    [Fact]
    public void A_pre_pull_is_a_global_service_that_runs_nothing_of_the_image_on_the_nodes_that_can_run_the_version()
    {
        var o = new SwarmOptions { Registry = "reg:5000/feather" };
        var image = "reg:5000/feather/feather-version@sha256:" + new string('b', 64);
        var service = SwarmServiceSpec.PrePull("feather-pull-1", image, "server-a", "low", new ProfileSet().Find("low"), o).Service;
        Assert.NotNull(service.Mode.Global);
        Assert.Equal("none", service.TaskTemplate.RestartPolicy.Condition);
        var c = service.TaskTemplate.ContainerSpec;
        Assert.Equal(image, c.Image);
        Assert.Equal([SwarmServiceSpec.PrePullCommand], c.Command); // replaces the entrypoint: a path no image has
        Assert.Null(c.Args);
        Assert.True(c.ReadOnly);
        Assert.Equal(SandboxParameters.SandboxUser, c.User);
        Assert.Equal(["ALL"], c.CapabilityDrop);
        Assert.Null(c.Secrets);
        Assert.Null(service.TaskTemplate.Networks);
        Assert.Equal(("true", "server-a", "feather-pull-1"),
            (service.Labels[SandboxParameters.ManagedLabel], service.Labels[SandboxParameters.OwnerLabel], service.Labels[SwarmServiceSpec.StepLabel]));
        Assert.DoesNotContain(service.TaskTemplate.Placement.Constraints, k => k.Contains("gpu"));
        // a GPU version: only the GPU nodes pull it
        var high = SwarmServiceSpec.PrePull("p", image, "s", "high", new ProfileSet().Find("high"), o).Service.TaskTemplate;
        Assert.Contains("node.labels.feather.gpu==true", high.Placement.Constraints);
    }

    [Fact]
    public void Without_jobs_the_step_is_one_replica_that_is_never_restarted()
    {
        var service = SwarmServiceSpec.Create(Spec("low", asJob: false)).Service;
        Assert.Null(service.Mode.ReplicatedJob);
        Assert.Equal(1UL, service.Mode.Replicated.Replicas);
        Assert.Equal("none", service.TaskTemplate.RestartPolicy.Condition);
    }

    [Fact]
    public void A_request_is_split_into_secrets_and_joins_back_in_order()
    {
        var bytes = Enumerable.Range(0, SwarmOptions.SecretChunkBytes * 2 + 7).Select(i => (byte)i).ToArray();
        var chunks = SwarmServiceSpec.Chunks(bytes);
        Assert.Equal(3, chunks.Count);
        Assert.All(chunks, c => Assert.True(c.Length <= SwarmOptions.SecretChunkBytes));
        Assert.Equal(bytes, chunks.SelectMany(c => c).ToArray());
        Assert.Single(SwarmServiceSpec.Chunks([])); // an empty request is one empty secret
        var e = Assert.Throws<ArgumentException>(() => SwarmServiceSpec.Chunks(new byte[SwarmOptions.MaxRequestBytes + 1]));
        Assert.StartsWith("the step's request is", e.Message);
        Assert.Equal(["feather-request-000", "feather-request-001", "feather-request-010"], new[] { 0, 1, 10 }.Select(SwarmServiceSpec.ChunkFile));
    }

    [Theory]
    [InlineData("feather-version:m-1", "reg/f/feather-version", "m-1")]
    [InlineData("lab.example:5000/feather-env:abc", "reg/f/feather-env", "abc")]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "reg/f/feather-image", "0123456789abcdef")]
    public void Images_go_to_the_registry_under_their_own_name(string image, string repository, string tag) =>
        Assert.Equal((repository, tag), SwarmImagePublisher.Target("reg/f", image, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));

    [Theory]
    [InlineData("", "Runner:Swarm:Registry must name the registry")]
    [InlineData("http://reg:5000", "Runner:Swarm:Registry must name the registry")]
    [InlineData("Reg:5000", "Runner:Swarm:Registry must name the registry")]
    public void A_bad_registry_is_refused_at_start_in_swarm_mode(string registry, string message)
    {
        var validator = new SwarmOptionsValidator(Options.Create(new RunnerOptions { Mode = "swarm" }));
        var result = validator.Validate(null, new SwarmOptions { Registry = registry });
        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage);
        // in local mode the section is not needed
        Assert.True(new SwarmOptionsValidator(Options.Create(new RunnerOptions())).Validate(null, new SwarmOptions { Registry = registry }).Succeeded);
    }

    [Fact]
    public void Credentials_come_in_pairs_and_the_service_mode_is_one_of_three()
    {
        var validator = new SwarmOptionsValidator(Options.Create(new RunnerOptions { Mode = "swarm" }));
        var result = validator.Validate(null, new SwarmOptions { Registry = "reg:5000", RegistryUsername = "u", ServiceMode = "global" });
        Assert.Contains("Runner:Swarm:RegistryUsername and Runner:Swarm:RegistryPassword must be set together", result.FailureMessage);
        Assert.Contains("Runner:Swarm:ServiceMode must be auto, replicated-job or replicated (got 'global')", result.FailureMessage);
        Assert.True(validator.Validate(null, new SwarmOptions { Registry = "reg:5000/feather", RegistryUsername = "u", RegistryPassword = "p" }).Succeeded);
    }

    [Fact]
    public void The_mode_is_local_or_swarm()
    {
        var result = new RunnerOptionsValidator().Validate(null, new RunnerOptions { Mode = "kubernetes" });
        Assert.Contains("Runner:Mode must be local or swarm (got 'kubernetes')", result.FailureMessage);
    }

    [Fact]
    public void A_swarm_task_container_of_a_tracked_step_is_protected_from_the_local_reaper()
    {
        var tracker = new ContainerTracker();
        tracker.Add("feather-step-1");
        Assert.True(tracker.Contains("feather-step-1.node7.task3"));
        Assert.True(tracker.Contains("feather-step-1"));
        Assert.False(tracker.Contains("feather-step-2.node7.task3"));
        Assert.False(tracker.Contains(".x"));
    }
}
