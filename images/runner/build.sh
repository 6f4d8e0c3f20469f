#!/usr/bin/env bash
# Builds feather-runner:<sdk-hash> and points feather-runner:latest at it. Fast when nothing changed.
# BASE_IMAGE: the base to build on (default: feather-base:bookworm when present, else a public image).
set -euo pipefail
cd "$(dirname "$0")/../.."
base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if docker image inspect feather-base:bookworm >/dev/null 2>&1; then base=feather-base:bookworm
  else base=debian:bookworm-slim; fi
fi
hash=$( (echo "$base"; cat images/runner/Dockerfile; find python-sdk/feather -type f -not -name '*.pyc' -not -path '*__pycache__*' | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)
if docker image inspect "feather-runner:$hash" >/dev/null 2>&1; then
  docker tag "feather-runner:$hash" feather-runner:latest
  echo "runner image feather-runner:$hash up to date"; exit 0
fi
docker build -q --build-arg "BASE_IMAGE=$base" -f images/runner/Dockerfile -t "feather-runner:$hash" -t feather-runner:latest python-sdk >/dev/null
echo "built runner image feather-runner:$hash (base $base)"
