#!/usr/bin/env bash
# Builds the server image from bin/feather-server (run `scripts/build.sh binaries`
# first). Usage: images/server/build.sh [TAG]   (default feather-server:latest)
# BASE_IMAGE picks the base (default debian:bookworm-slim; offline: feather-base:bookworm, which is
# used automatically when debian:bookworm-slim is not on the engine and cannot be pulled).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-feather-server:latest}"
binary="$root/bin/feather-server"
[ -x "$binary" ] || { echo "error: $binary is missing: run scripts/build.sh binaries" >&2; exit 1; }
base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1 || timeout 120 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    base=debian:bookworm-slim
  else
    base=feather-base:bookworm
  fi
fi
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$root/images/server/Dockerfile" "$context/Dockerfile"
ln "$binary" "$context/feather-server" 2>/dev/null || cp "$binary" "$context/feather-server"
docker build -q --build-arg "BASE_IMAGE=$base" --label "org.feather.server-binary=$(sha256sum "$binary" | cut -c1-16)" -t "$tag" "$context" >/dev/null
echo "$tag (base $base)"
