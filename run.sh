#!/usr/bin/env bash
# Sets up and runs Feather with its samples on a fresh Debian 12 machine (as root):
# Docker engine, runner images, bin/feather-server and bin/feather, the server on
# http://127.0.0.1:${FEATHER_PORT:-8080}, an admin account, the CLI logged in, every sample
# published. Ctrl-C stops the server. A second run skips what is done.
source "$(dirname "$0")/scripts/setup.sh"
cd "$FEATHER_ROOT"

export FEATHER_PORT="${FEATHER_PORT:-8080}"
export FEATHER_DATA="${FEATHER_DATA:-$FEATHER_ROOT/data}"
# the interpreter that set-up installed the samples' libraries for (Debian's), for `feather publish`
export FEATHER_PYTHON="${FEATHER_PYTHON:-/usr/bin/python3}"
# steps take containers prepared ahead (model imported, its prepare run); false: cold containers (docs/deploy.md)
export Runner__PrepareContainers="${Runner__PrepareContainers:-true}"
url="http://127.0.0.1:$FEATHER_PORT"

ensure_apt curl ca-certificates
ensure_host_python
ensure_docker
ensure_runner_image
build_binaries

# The data directory holds secrets: 0700, and the files run.sh writes there 0600 (the server
# tightens the rest on start; docs/security.md).
mkdir -p "$FEATHER_DATA" && chmod 700 "$FEATHER_DATA"
pwfile="$FEATHER_DATA/admin-password"
if [ ! -s "$pwfile" ]; then
  if [ -e "$FEATHER_DATA/feather.db" ]; then
    die "$FEATHER_DATA holds a database but no admin-password file; log the CLI in yourself (bin/feather login $url)"
  fi
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
fi
chmod 600 "$pwfile"
(umask 077; touch "$FEATHER_DATA/server.log") && chmod 600 "$FEATHER_DATA/server.log"

if curl -fsS "$url/healthz" >/dev/null 2>&1; then
  die "something already answers on $url; stop it or set FEATHER_PORT"
fi
log "starting the server on $url (data: $FEATHER_DATA, log: $FEATHER_DATA/server.log)"
FEATHER_ADMIN_PASSWORD="$(cat "$pwfile")" ./bin/feather-server >>"$FEATHER_DATA/server.log" 2>&1 &
server=$!
stop() { trap - INT TERM EXIT; if kill -0 "$server" 2>/dev/null; then log "stopping the server"; kill -TERM "$server"; wait "$server" 2>/dev/null || true; fi; }
trap 'stop; exit 130' INT TERM
trap stop EXIT
for _ in $(seq 1 60); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; kill -0 "$server" 2>/dev/null || { tail -n 30 "$FEATHER_DATA/server.log"; die "the server exited"; }; sleep 0.5; done
curl -fsS "$url/healthz" >/dev/null || die "the server did not answer on $url within 30 s"

if ! FEATHER_URL="$url" ./bin/feather whoami >/dev/null 2>&1; then
  log "logging the CLI in as admin"
  ./bin/feather login "$url" --user admin --password-stdin <"$pwfile" >/dev/null
fi

mkdir -p "$FEATHER_DATA/.samples"
failed=()
for dir in samples/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/model.py" ] || continue
  hash="$( (cd "$dir" && find . -type f -not -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
  if [ "$(cat "$FEATHER_DATA/.samples/$name" 2>/dev/null)" = "$hash" ]; then continue; fi
  log "publishing samples/$name"
  if ./bin/feather publish "$dir" --visibility public --notes "published by run.sh"; then
    echo "$hash" > "$FEATHER_DATA/.samples/$name"
  else
    failed+=("samples/$name")
  fi
done
for dir in samples/datasets/*/; do
  name="dataset-$(basename "$dir")"
  [ -f "$dir/dataset.json" ] || continue
  hash="$( (cd "$dir" && find . -type f -not -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
  if [ "$(cat "$FEATHER_DATA/.samples/$name" 2>/dev/null)" = "$hash" ]; then continue; fi
  log "publishing the dataset $dir"
  if ./bin/feather datasets publish "$dir" --visibility public --notes "published by run.sh"; then
    echo "$hash" > "$FEATHER_DATA/.samples/$name"
  else
    failed+=("$dir")
  fi
done
[ ${#failed[@]} -eq 0 ] || printf '\n  warning: publishing failed for %s (see above); the next ./run.sh tries again\n' "${failed[*]}"

cat <<MSG

  Feather is running: $url
  Admin account: admin / $(cat "$pwfile")   (also in $pwfile)
  Try it:        bin/feather models list
                 bin/feather run admin/hello --inputs samples/hello/example-inputs.json
                 bin/feather datasets show admin/digits-heldout
                 bin/feather leaderboard image-classification   (once the evaluations ran: $url/leaderboards)
                 bin/feather leaderboard text-classification
                 bin/feather finetune admin/image-classifier --dataset admin/digits-train --param epochs=10 --wait
  Ctrl-C stops the server.

MSG
wait "$server"
