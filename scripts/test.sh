#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need — Debian's chromium
# and postgresql, the project with its dev extras in .venv — then runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's packages the tests need: chromium (browser tests) and the postgresql server (the
# PostgreSQL back end's tests start a throwaway cluster of their own with its initdb/pg_ctl).
NEED=""
command -v chromium >/dev/null 2>&1 || NEED="$NEED chromium"
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || NEED="$NEED postgresql"
if [ -n "$NEED" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $NEED >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
# strict editable mode: mypy can resolve the costhq.* mapping (STYLE §4)
.venv/bin/python -m pip install -q -e '.[dev]' --config-settings editable_mode=strict 2>&1 \
  | grep -vE "is ignored|^\s*$|!!|\*\*\*|strategy|setuptools|Please|See https|wheel_obj|importing|to import|By 2|deprecat" || true

echo "== ruff";         .venv/bin/ruff check .
echo "== import-linter"; .venv/bin/lint-imports
echo "== mypy";         .venv/bin/mypy -p costhq.domain -p costhq.application
echo "== pytest";       .venv/bin/pytest "$@"
