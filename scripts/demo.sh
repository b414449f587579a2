#!/usr/bin/env bash
# Set everything up and start the demo on SQLite (database and keys under var/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export EBR_DATA_DIR=${EBR_DATA_DIR:-$PWD/var/demo}
export EBR_DATABASE_URL=${EBR_DATABASE_URL:-sqlite:///$EBR_DATA_DIR/ebr.sqlite}
export EBR_SECURE_COOKIES=${EBR_SECURE_COOKIES:-false}
mkdir -p "$EBR_DATA_DIR"
exec .venv/bin/ebr demo "$@"
