# Test stand-in for feather.runtime (the real SDK is built elsewhere). In a prepared container
# (FEATHER_ENTRYPOINT set) it imports the entrypoint and calls its prepare() before reading stdin; then it
# reads the request, runs step(responses) of the entrypoint file and prints the result event as the last stdout line.
import json
import os
import runpy
import sys


def load(entrypoint):
    namespace = runpy.run_path(os.path.join("/model", entrypoint))
    if "prepare" in namespace:
        namespace["prepare"]()
    return namespace


ready, failure = None, None
if os.environ.get("FEATHER_ENTRYPOINT"):
    try:
        ready = (os.environ["FEATHER_ENTRYPOINT"], load(os.environ["FEATHER_ENTRYPOINT"]))
    except Exception as e:
        failure = {"type": "PreparationError", "message": f"the model's preparation failed: {type(e).__name__}: {e}"}
    status = {"type": "status", "status": "prepared", "ok": failure is None}
    if failure is not None:
        status["error"] = failure
    sys.stdout.write(json.dumps(status) + "\n")
    sys.stdout.flush()

request = json.loads(sys.stdin.read())
try:
    if failure is not None:
        raise RuntimeError(failure["message"])
    namespace = ready[1] if ready and ready[0] == request["entrypoint"] else load(request["entrypoint"])
    outputs = namespace["step"](request.get("responses") or {})
    result = {"type": "result", "status": "succeeded", "outputs": outputs}
except Exception as e:  # the contract's failed result
    error = failure or {"type": type(e).__name__, "message": str(e)}
    result = {"type": "result", "status": "failed", "error": error}
sys.stdout.write(json.dumps(result) + "\n")
