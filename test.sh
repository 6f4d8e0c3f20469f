#!/usr/bin/env bash
# Runs every test suite of Feather on a fresh Debian 12 machine (as root): the same set-up as
# ./run.sh (Docker engine, runner images, binaries), then the .NET suites (unit, integration,
# end-to-end with real containers, browser) and the Python SDK suite. Each suite prints its
# summary; the last line adds them up. Exits non-zero when any test fails. The swarm tests make the
# engine a one-node swarm (when it is in none) with a registry of their own, and leave it again.
source "$(dirname "$0")/scripts/setup.sh"
cd "$FEATHER_ROOT"

ensure_apt curl ca-certificates python3-pytest python3-jsonschema chromium docker-compose
ensure_swarm_lab_tools
ensure_host_python
ensure_node_tools
ensure_docker
ensure_runner_image
build_binaries

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
status=0

log "building the test projects"
dotnet build Feather.sln -c Debug -nologo -v quiet >"$results/build.log" 2>&1 \
  || { tail -n 60 "$results/build.log"; die "the build failed"; }

for proj in tests/*/*.csproj; do
  name="$(basename "$proj" .csproj)"
  log "dotnet test $name"
  set +e
  dotnet test "$proj" --no-build -nologo --logger "console;verbosity=normal" >"$results/$name.log" 2>&1
  rc=$?
  set -e
  # the per-test lines; for a failure its message (the lines after "Error Message:", up to the stack
  # trace, at most 40) and its frames in Feather code; then the summary
  awk '
    /^[[:space:]]+(Passed|Failed|Skipped) [A-Z]/ { msg = 0; print; next }
    /^[[:space:]]+Error Message:/ { msg = 1; lines = 0; print; next }
    /^[[:space:]]+(Stack Trace|Standard Output Messages|Standard Error Messages):/ { msg = 0; next }
    msg && lines < 40 { lines++; print; next }
    /^[[:space:]]+at Feather/ { print }
  ' "$results/$name.log"
  grep -A3 -E '^Test Run (Successful|Failed|Aborted)' "$results/$name.log" || true
  grep -qE '^Total tests: [1-9]' "$results/$name.log" || { echo "no test ran in $name (exit $rc)"; tail -n 30 "$results/$name.log"; status=1; }
  [ "$rc" = 0 ] || status=1
done

log "pytest tests/python"
set +e
/usr/bin/python3 -m pytest tests/python -q -p no:cacheprovider 2>&1 | tee "$results/pytest.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
set -e

passed=0; failed=0
for suite in "$results"/Feather.*.log; do
  p=$(grep -E '^\s+Passed: +[0-9]+' "$suite" | tail -n1 | grep -oE '[0-9]+' || true); passed=$((passed + ${p:-0}))
  f=$(grep -E '^\s+Failed: +[0-9]+' "$suite" | tail -n1 | grep -oE '[0-9]+' || true); failed=$((failed + ${f:-0}))
done
p=$(grep -oE '[0-9]+ passed' "$results/pytest.log" | tail -n1 | cut -d' ' -f1 || true); passed=$((passed + ${p:-0}))
f=$(grep -oE '[0-9]+ failed' "$results/pytest.log" | tail -n1 | cut -d' ' -f1 || true); failed=$((failed + ${f:-0}))
echo
echo "total: $passed passed, $failed failed"
exit $status
