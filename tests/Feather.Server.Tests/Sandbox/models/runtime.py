# Test stand-in for feather.runtime (the real SDK is built elsewhere): reads the request from stdin,
# runs step(responses) of the entrypoint file and prints the result event as the last stdout line.
import json
import os
import runpy
import sys

request = json.loads(sys.stdin.read())
try:
    namespace = runpy.run_path(os.path.join("/model", request["entrypoint"]))
    outputs = namespace["step"](request.get("responses") or {})
    result = {"type": "result", "status": "succeeded", "outputs": outputs}
except Exception as e:  # the contract's failed result
    result = {"type": "result", "status": "failed", "error": {"type": type(e).__name__, "message": str(e)}}
sys.stdout.write(json.dumps(result) + "\n")
