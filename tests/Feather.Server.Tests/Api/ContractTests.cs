using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Contracts;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>The wire contract of Feather.Contracts is what the server serves and documents.</summary>
public class ContractTests
{
    [Fact]
    public async Task Every_contract_route_is_served_under_its_operation_id_and_every_served_operation_has_one()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        var doc = await (await client.GetAsync("/openapi/v1.json")).Json(HttpStatusCode.OK);
        var served = doc["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(o => (Path: p.Key, Method: o.Key.ToUpperInvariant(), Id: o.Value!["operationId"]?.GetValue<string>())))
            .ToList();
        foreach (var operation in Routes.Operations)
            Assert.Contains((operation.Path, operation.Method, (string?)operation.Id), served);
        Assert.DoesNotContain(served, o => o.Id is null);
        Assert.Equal(Routes.Operations.Count, Routes.Operations.Select(o => o.Id).Distinct().Count());
    }

    [Fact]
    public async Task The_step_status_schema_lists_every_status_and_which_are_active_and_terminal()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        var doc = await (await client.GetAsync("/openapi/v1.json")).Json(HttpStatusCode.OK);
        var status = doc["components"]!["schemas"]!["StepView"]!["properties"]!["status"]!;
        Assert.Equal(StepStatus.All, status["enum"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal(["queued", "running"], status["x-feather-active"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal(["succeeded", "failed", "invalid_input", "timed_out", "cancelled"],
            status["x-feather-terminal"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.All(StepStatus.All, s => Assert.Equal(StepStatus.Active.Contains(s), StepStatus.IsActive(s)));
        Assert.All(StepStatus.All, s => Assert.Equal(StepStatus.Terminal.Contains(s), StepStatus.IsTerminal(s)));
    }

    [Fact]
    public async Task The_portal_serves_the_generated_contract_module_and_no_script_writes_an_api_path_by_hand()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        var module = await client.GetStringAsync("/js/contract.js");
        Assert.Contains("cancelStep: Object.freeze({ method: \"DELETE\", path: \"/api/runs/{runId}/steps/{index}\" })", module);
        Assert.Contains("export const ACTIVE = Object.freeze(new Set([\"queued\", \"running\"]));", module);
        var scripts = Feather.Server.Portal.PortalApi.Files.Where(f => f.EndsWith(".js", StringComparison.Ordinal) && f != "js/contract.js" && f != "js/snippets.js").ToList();
        Assert.Contains("js/run.js", scripts);
        Assert.Contains("js/api.js", scripts);
        foreach (var file in scripts)
        {
            var text = await client.GetStringAsync("/" + file);
            Assert.False(text.Contains("'/api/", StringComparison.Ordinal) || text.Contains("`/api/", StringComparison.Ordinal) || text.Contains("firstRoute", StringComparison.Ordinal),
                $"{file} writes an API route by hand; take it from contract.js");
        }
    }

    [Theory]
    [InlineData(Routes.Step, new object[] { "r 1/x", 2 }, "/api/runs/r%201%2Fx/steps/2")]
    [InlineData(Routes.Model, new object[] { "ada", "vqg" }, "/api/models/ada/vqg")]
    [InlineData(Routes.Runs, new object[0], "/api/runs")]
    public void Routes_expand_to_escaped_paths(string route, object[] values, string expected) =>
        Assert.Equal(expected, Routes.Expand(route, values));

    [Fact]
    public void A_route_given_the_wrong_number_of_values_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Routes.Expand(Routes.Step, "r1"));
        Assert.Throws<ArgumentException>(() => Routes.Expand(Routes.Run, "r1", 2));
    }

    [Fact]
    public void The_records_travel_in_camel_case_with_nulls_written()
    {
        var text = JsonSerializer.Serialize(new ExecutionView("r1", new StepView(0, "greet", StepStatus.Queued, null, null, null, "", null, null, null)),
            ContractJson.Options);
        var json = JsonNode.Parse(text)!;
        Assert.Equal("r1", json["runId"]!.GetValue<string>());
        Assert.True(json["step"]!.AsObject().ContainsKey("outputs"));
        Assert.Equal("queued", json["step"]!["status"]!.GetValue<string>());
    }
}
