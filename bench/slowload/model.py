"""slowload: a model whose preparation takes about 2 s (a stand-in for loading weights) and whose one step
is instant; used by bench/model-load."""
import time

import feather as ftr


def load():
    time.sleep(2)  # loading weights
    return {"loaded_at": time.time()}


def init():
    return ftr.Text.In(default_text="x", title="Anything", max_chars=16)


@ftr.step(title="Answer", description="Returns at once, using what the preparation loaded.", outputs=["done"])
def answer(text: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View(f"loaded at {ftr.prepared()['loaded_at']:.3f}")


ftr.build(name="slowload", init=init, steps=[answer], prepare=load,
          description="Prepares for 2 s, then answers at once; used by the benchmarks.")
