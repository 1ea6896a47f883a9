#!/usr/bin/env bash
# Creates .venv and installs the project (strict editable mode, see STYLE §4) with dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]' --config-settings editable_mode=strict
