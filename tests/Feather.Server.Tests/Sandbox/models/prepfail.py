def prepare():
    raise FileNotFoundError("weights.bin is missing")


def step(responses):
    return [{"name": "never", "component": "Json", "value": 1}]
