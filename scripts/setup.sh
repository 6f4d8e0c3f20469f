# Shared set-up for ./run.sh and ./test.sh (sourced, not run). Each step installs or builds only
# what is missing or out of date, so a second run is fast. Debian 12, as root.
set -euo pipefail

FEATHER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages given that are not installed yet (one apt-get call for all).
ensure_apt() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The swarm tests' lab (tests/Shared/SwarmLab.cs, bench/swarmlab.py) runs Debian's docker-registry itself, on a
# free loopback port with htpasswd credentials from apache2-utils. Installing the package also enables a
# registry service on port 5000 (where systemd runs): when this installs it, that service is stopped and disabled.
ensure_swarm_lab_tools() {
  local fresh=0
  dpkg-query -W -f='${Status}' docker-registry 2>/dev/null | grep -q 'install ok installed' || fresh=1
  ensure_apt docker-registry apache2-utils
  if [ "$fresh" = 1 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

ensure_dotnet() {
  command -v dotnet >/dev/null || die "the .NET SDK 10 is required (https://dot.net); 'dotnet' is not on PATH"
}

# Starts dockerd when no engine answers, and waits until it does.
ensure_docker() {
  # apparmor: where the kernel enforces it, dockerd needs its parser to load the default profile
  command -v dockerd >/dev/null || ensure_apt docker.io apparmor
  if docker info >/dev/null 2>&1; then return 0; fi
  if [ -n "${DOCKER_HOST:-}" ]; then die "DOCKER_HOST=$DOCKER_HOST does not answer"; fi
  log "starting the Docker engine"
  nohup dockerd >/var/log/feather-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  tail -n 20 /var/log/feather-dockerd.log >&2
  die "the Docker engine did not start within 60 s (log: /var/log/feather-dockerd.log)"
}

# The runner base image: a public one where it can be pulled, else one made locally.
ensure_runner_image() {
  if [ -z "${BASE_IMAGE:-}" ] && ! docker image inspect feather-base:bookworm >/dev/null 2>&1; then
    # a public Debian image where one can be pulled (bounded: an unreachable registry may hang)
    if docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
       || timeout 120 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
      export BASE_IMAGE=debian:bookworm-slim
    else
      log "no base image can be pulled: making feather-base:bookworm with debootstrap"
      ensure_apt debootstrap
      bash "$FEATHER_ROOT/images/base/bootstrap.sh" feather-base:bookworm
    fi
  fi
  bash "$FEATHER_ROOT/images/runner/build.sh"
}

# Hash of the sources a binary is built from, to skip a publish when nothing changed.
_src_hash() {
  (cd "$FEATHER_ROOT" && find "$@" Directory.Build.props Directory.Packages.props -type f \
     \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' -o -name '*.py' -o -name '*.js' -o -name '*.css' -o -name '*.html' \) \
     -not -path '*/bin/*' -not -path '*/obj/*' -not -path '*/node_modules/*' -not -path '*/__pycache__/*' -print0 \
   | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# bin/feather-server and bin/feather: self-contained single-file executables.
build_binaries() {
  ensure_dotnet
  mkdir -p "$FEATHER_ROOT/bin"
  local name proj hash stamp
  # ReadyToRun: the code is compiled ahead of time, so a short `feather` command (and the server's start) does not
  # spend its CPU in the JIT (about 0.5 s of CPU less for `feather publish`); changing these flags rebuilds the binaries
  local flags="-p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:PublishReadyToRun=true"
  for pair in "feather-server:Feather.Server" "feather:Feather.Cli"; do
    name="${pair%%:*}"; proj="${pair#*:}"
    hash="$(_src_hash "$proj" Feather.Contracts Feather.Datasets python-sdk/feather)"  # and the libraries both binaries build from
    hash="${hash}-$(printf %s "$flags" | sha256sum | cut -c1-8)"
    stamp="$FEATHER_ROOT/bin/.$name.src"
    if [ -x "$FEATHER_ROOT/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then continue; fi
    log "building bin/$name"
    dotnet publish "$FEATHER_ROOT/$proj" -c Release -r linux-x64 --self-contained \
      $flags \
      -o "$FEATHER_ROOT/artifacts/publish/$name" -v quiet -nologo >/tmp/feather-build-$name.log 2>&1 \
      || { tail -n 40 /tmp/feather-build-$name.log >&2; die "building $name failed (log: /tmp/feather-build-$name.log)"; }
    install -m 0755 "$FEATHER_ROOT/artifacts/publish/$name/$name" "$FEATHER_ROOT/bin/$name.new"
    mv -f "$FEATHER_ROOT/bin/$name.new" "$FEATHER_ROOT/bin/$name"
    echo "$hash" > "$stamp"
  done
}

# Node tools the tests use (tools/package.json, pinned by tools/package-lock.json): Redocly CLI lints
# the OpenAPI documents. Node from Debian (nodejs 18, npm) when none is installed.
ensure_node_tools() {
  command -v node >/dev/null && command -v npm >/dev/null || ensure_apt nodejs npm
  local stamp="$FEATHER_ROOT/tools/node_modules/.package-lock.json"
  if [ -x "$FEATHER_ROOT/tools/node_modules/.bin/redocly" ] && [ "$stamp" -nt "$FEATHER_ROOT/tools/package-lock.json" ]; then return 0; fi
  log "installing the Node tools (tools/package-lock.json)"
  (cd "$FEATHER_ROOT/tools" && npm ci --no-audit --no-fund --loglevel=error >/tmp/feather-npm.log 2>&1) \
    || { tail -n 20 /tmp/feather-npm.log >&2; die "npm ci in tools/ failed (log: /tmp/feather-npm.log)"; }
}

# Host Python packages: the SDK's inspect imports the samples' modules on this machine.
ensure_host_python() {
  ensure_apt python3 python3-numpy python3-pil python3-opencv opencv-data python3-sklearn
}
