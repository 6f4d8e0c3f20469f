"""files: a model that takes a .pt file and gives it back (tests/python/test_step_files.py). Step 0 reads the
uploaded file as a stream (its SHA-256 and size) and offers it back as a download; a file whose name starts with
"grow" comes back four times as large (to pass the server's output limit). Step 1 reads the download step 0 gave,
so files also travel from one step to the next."""
import hashlib

import feather as ftr


def init():
    return ftr.File.Upload(types=[".pt"], max_files=2, title="Weights")


def digest(blob: ftr.Blob) -> str:
    h, size = hashlib.sha256(), 0
    with blob.open() as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return f"{size} {h.hexdigest()}"


@ftr.step(title="Digest", outputs=["copy", "digest"])
def read(weights: ftr.File.Upload) -> tuple[ftr.File.Download, ftr.Text.View]:
    blob = weights.get()[0]
    if blob.name.startswith("grow"):
        back = ftr.Blob(name="grown.pt", data=blob.data * 4)
    else:
        back = blob
    return ftr.File.Download([back], output_filenames=["back-" + blob.name]), ftr.Text.View(digest(blob))


@ftr.step(title="Again", outputs=["digest"])
def again(copy: ftr.File.Download, shown: ftr.Text.View) -> ftr.Text.View:
    return ftr.Text.View(digest(copy.get()[0]))


ftr.build(name="files", init=init, steps=[read, again], description="Takes a .pt file and gives it back.")
