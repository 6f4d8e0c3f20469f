import os
import time

def step(responses):
    for _ in range(100000):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    return [{"name": "forked", "value": 100000}]
