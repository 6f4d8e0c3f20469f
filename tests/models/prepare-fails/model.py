"""prepare-fails: a model whose preparation always fails (PreparedContainerEndToEndTests): the version shows it,
and each step that needs it fails with the model's own error and traceback."""
import sys

import feather as ftr


def init():
    return ftr.Text.In(default_text="x", title="Anything")


def open_weights(path):
    print(f"loading weights from {path}", file=sys.stderr)
    raise FileNotFoundError(f"{path} is missing from the bundle")


def load():
    return open_weights("weights.bin")


@ftr.step(title="Echo", outputs=["echo"])
def echo(text: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View(text.get()[0] + str(ftr.prepared()))


ftr.build(name="prepare-fails", init=init, steps=[echo], prepare=load, description="Fails to prepare (tests only).")
