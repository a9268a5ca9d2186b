#!/usr/bin/env bash
# Configures (once) and builds the compiler, the unit tests and the docs into
# build/. Assumes scripts/setup.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."

LLVM_PREFIX=$(llvm-config-22 --prefix 2>/dev/null || echo /usr/lib/llvm-22)
if [[ ! -f build/build.ninja ]]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -G Ninja -S . -B build \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    "${launcher[@]}"
fi
cmake --build build
