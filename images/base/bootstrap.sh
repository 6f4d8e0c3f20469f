#!/usr/bin/env bash
# Makes the local runner base image (default tag feather-base:bookworm) when no public base
# image can be pulled: debootstrap a minimal Debian 12 with python3 and `docker import` it.
# A normal site skips this and builds images/runner/Dockerfile on a public image instead
# (docker build --build-arg BASE_IMAGE=debian:bookworm-slim ...).
set -euo pipefail
tag="${1:-feather-base:bookworm}"
# the machine's own Debian mirror (a lab may have a local one), else Debian's
configured="$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
               grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') | grep -v security | head -n1 || true)"
mirror="${DEBIAN_MIRROR:-${configured:-http://deb.debian.org/debian}}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"; exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
root="$(mktemp -d /var/tmp/feather-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrapping a minimal Debian bookworm with python3 into $root (takes a few minutes)"
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 30 "$root.log"; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# keep the image small and apt usable inside docker build
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
echo "deb $mirror bookworm-updates main" >> "$root/etc/apt/sources.list"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "imported $tag"
