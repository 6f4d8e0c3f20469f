import os

def step(responses):
    return [{"name": "environ", "value": dict(os.environ)}]
