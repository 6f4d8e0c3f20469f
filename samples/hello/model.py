"""hello: the smallest Feather model. One step: the user types a name, the model greets them."""
import feather as ftr


def init():
    return ftr.Text.In(default_text="Ada", title="Your name", max_chars=64)


@ftr.step(title="Greet", description="Says hello to whoever you name.", outputs=["greeting"])
def greet(name: ftr.Text.In) -> ftr.Text.View:
    who = name.get()[0].strip() or "stranger"
    return ftr.Text.View(f"Hello, {who}!", title="Greeting")


ftr.build(name="hello", init=init, steps=[greet], description="Greets you by name.",
          tasks=["text-generation"])
