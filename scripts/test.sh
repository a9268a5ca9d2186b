#!/usr/bin/env bash
# Sets up, builds, and runs every test suite: lit (FileCheck), GoogleTest and
# pytest. Ends with one count line; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec .venv/bin/python scripts/run_tests.py "$@"
