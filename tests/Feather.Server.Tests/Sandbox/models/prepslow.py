import time

STATE = {}


def prepare():
    time.sleep(5)  # longer than the "medium" test profile's 3 s step timeout
    STATE["ready"] = True


def step(responses):
    return [{"name": "ready", "component": "Json", "value": STATE.get("ready", False)}]
