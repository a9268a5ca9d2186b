#!/usr/bin/env bash
# The main job: set up, build, and compile the sample NSA graph as deep as the
# compiler goes: the decomposed IR, then a GPU kernel bundle (cubin, PTX,
# manifest). Where a GPU is present (nvidia-smi works), the bundle also runs
# through the runtime on random inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
sample=${1:-examples/sample_nsa.mlir}
bundle=${2:-.bundles/sample.nsab}
echo "== nsa-opt --nsa-decompose $sample"
build/bin/nsa-opt --nsa-decompose "$sample"
echo "== nsa-opt --nsa-to-nvvm --nsa-export-bundle=dir=$bundle $sample"
rm -rf "$bundle"
build/bin/nsa-opt "$sample" --nsa-to-nvvm --nsa-export-bundle="dir=$bundle" -o /dev/null
ls -l "$bundle"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "== running $bundle on $(nvidia-smi -L | head -1)"
  build/bin/nsa-bundle run "$bundle" B=1 T=4096 --iters 5
else
  echo "== no GPU here: the bundle is compiled, not run" \
       "($(grep -c '"kernel"' "$bundle/manifest.json") launches in $bundle/manifest.json)"
fi
