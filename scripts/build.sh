#!/usr/bin/env bash
# Builds what ./run.sh builds, without starting anything:
#   scripts/build.sh binaries       bin/feather-server and bin/feather (self-contained, single file)
#   scripts/build.sh runner-image   feather-runner:latest on the Docker engine (starting it if needed)
#   scripts/build.sh                both
source "$(dirname "$0")/setup.sh"
case "${1:-all}" in
  binaries) build_binaries ;;
  runner-image) ensure_docker; ensure_runner_image ;;
  all) ensure_docker; ensure_runner_image; build_binaries ;;
  *) die "usage: scripts/build.sh [binaries|runner-image|all]" ;;
esac
