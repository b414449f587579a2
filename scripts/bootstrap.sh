#!/usr/bin/env bash
# Set up everything the demo and the test suite need, idempotently:
#  - as root on Debian: the system packages (fonts/HarfBuzz for WeasyPrint, poppler,
#    Chromium for the browser tests, slapd for the LDAP tests);
#  - a virtualenv in .venv with the pinned Python packages (constraints.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils
                 chromium slapd ldap-utils graphviz)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.ebr-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python packages (pinned by constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import ebr.cli, flask, sqlalchemy, asyncua, pymodbus, weasyprint" \
    || { echo "bootstrap: the Python install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
