#!/usr/bin/env bash
# Installs what the build and the tests need; idempotent and non-interactive.
#   - Debian packages: LLVM/MLIR 22, CMake, Ninja, GoogleTest, ccache
#     (installed only when missing, so a second run takes a second)
#   - a Python virtual environment in .venv with NumPy and pytest
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  cmake ninja-build g++ ccache libgtest-dev python3 python3-venv
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The Python side runs in its own environment so that it works the same with
# Debian's python3 (which refuses system-wide pip installs) and any other.
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import numpy, pytest" 2>/dev/null; then
  echo "setup: installing Python test dependencies into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r python/requirements-test.txt
fi
echo "setup: done"
