#!/usr/bin/env bash
# The complete test suite: lint, format, types, then every test on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export EBR_TEST_POSTGRES_URL=${EBR_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
mkdir -p var/test-artifacts
echo "== ruff check";  .venv/bin/ruff check .
echo "== ruff format"; .venv/bin/ruff format --check .
echo "== mypy";        .venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest -p no:cacheprovider -n "${EBR_TEST_WORKERS:-2}" --junitxml=var/test-artifacts/junit.xml "$@"
code=$?
set -e
if [ "$code" = "5" ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$code"
