"""passfile: bench/stepfile's model. Takes one file of any type and gives the same file back as a download."""
import feather as ftr


def init():
    return ftr.File.Upload(types=["*"], max_files=1, title="File")


@ftr.step(title="Pass", outputs=["file"])
def passthrough(file: ftr.File.Upload) -> ftr.File.Download:
    return ftr.File.Download([file.get()[0]])


ftr.build(name="passfile", init=init, steps=[passthrough], description="Gives back the file it takes.")
