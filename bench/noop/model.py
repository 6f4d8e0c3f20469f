"""noop: a model whose one step does nothing, for the latency benchmarks (bench/step-latency, bench/concurrency)."""
import feather as ftr


def init():
    return ftr.Text.In(default_text="x", title="Anything", max_chars=16)


@ftr.step(title="Nothing", description="Returns at once.", outputs=["done"])
def nothing(text: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View("ok")


ftr.build(name="noop", init=init, steps=[nothing], description="Does nothing; used by the benchmarks.")
