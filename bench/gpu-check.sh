#!/usr/bin/env bash
# Runs the step runtime of a `high`-profile model (bench/gpu-check/model.py) on a machine with an
# NVIDIA GPU and PyTorch: the same `python3 -m feather.runtime` entry point the sandbox runs,
# fed the same JSON request on stdin. Prints the GPU, the runtime's result line and its log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
size="${1:-4096}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
request='{"protocol":1,"entrypoint":"model.py","step":0,"responses":{"size":{"texts":["'"$size"'"]}},"previous":null}'
echo "request: $request"
cd "$here/gpu-check"
echo "$request" | PYTHONPATH="$here/../python-sdk" python3 -m feather.runtime 2>runtime.log
echo "--- step log (stderr)"; cat runtime.log; rm -f runtime.log
echo "--- inspect"
PYTHONPATH="$here/../python-sdk" python3 -m feather inspect model.py | python3 -c 'import json,sys; m=json.load(sys.stdin); print("profile:", m["profile"], "| environment:", m["environment"])'
