"""contract: the model of the contract suite (tests/python/test_client.py and
tests/Feather.Cli.Tests/CliAgainstServerTests.cs run the SDK client and the CLI against the real
feather-server with it). Step 0 greets the name it is given; "slow" makes it sleep (to cancel it
while it runs), "fail" makes it raise. Step 1 repeats the greeting it was given."""
import sys
import time

import feather as ftr


def init():
    return ftr.Text.In(default_text="Ada", title="Your name", max_chars=64)


@ftr.step(title="Greet", outputs=["greeting"])
def greet(name: ftr.Text.In) -> ftr.Text.View:
    who = name.get()[0].strip() or "stranger"
    print(f"greeting {who}", file=sys.stderr, flush=True)
    if who == "slow":
        time.sleep(60)
    if who == "fail":
        raise ValueError("no greeting for fail")
    return ftr.Text.View(f"Hello, {who}!", title="Greeting")


@ftr.step(title="Echo", outputs=["echo"])
def echo(greeting: ftr.Text.View) -> ftr.Text.View:
    return ftr.Text.View(greeting.get()[0] + " Again!", title="Echo")


ftr.build(name="contract", init=init, steps=[greet, echo], description="The contract suite's model.",
          tasks=["text-generation"])
