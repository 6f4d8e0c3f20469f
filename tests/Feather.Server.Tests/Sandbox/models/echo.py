import sys

def step(responses):
    print("greeting " + responses["name"], file=sys.stderr)
    return [{"name": "greeting", "component": "Text.View", "value": "Hello, " + responses["name"]}]
