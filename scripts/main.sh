#!/usr/bin/env bash
# The main job: set up, build, and compile the sample NSA graph as deep as the
# compiler goes today (nsa.attention decomposed into its branch ops).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
sample=${1:-examples/sample_nsa.mlir}
echo "== nsa-opt --nsa-decompose $sample"
build/bin/nsa-opt --nsa-decompose "$sample"
