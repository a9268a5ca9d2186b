#!/usr/bin/env bash
# The performance benchmark on the GPU machine, in one call: builds the runtime,
# runs bench/benchmark.py (ours and the anchors, in one process) and writes
#   $OUT/benchmark.json         every measurement and derived number
#   $OUT/benchmark.log          everything printed (build, progress, summary)
#   $OUT/performance-table.md   scripts/perf_table.py's markdown for docs/performance.md
#
# Before the call, here (the build machine):
#   (cd python && python -m nsa_mlir.bundles --out ../.bundles/bench --preset bench)
#   bench/prepare_fla.sh          # fla's fla/ package into third_party_carry/fla_src
# The call (device tool), from the repository root:
#   command: NSA_COMMIT=<commit> bash bench/benchmark.sh
#   carry:   [".bundles/bench", "third_party_carry/fla_src"]     (~8 MiB)
#
# Environment: NSA_COMMIT (recorded in the JSON; default git rev-parse HEAD where
# the copy has .git), OUT (default build-rt/bench-out),
# BENCH_TIME_BUDGET (seconds of measurements, default 380), BENCH_TIMEOUT (hard
# limit of the Python process, default 480: SIGINT, the JSON keeps what was
# measured). Extra arguments go to bench/benchmark.py (e.g. --T 8192,65536).
# Expected: ~1 min build and start-up + the budget + the last measurement: about
# 7.5 to 8.5 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/build-rt/bench-out}   # build-rt/ is git-ignored
NSA_COMMIT=${NSA_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export NSA_COMMIT
mkdir -p "$OUT"
exec > >(tee "$OUT/benchmark.log") 2>&1
start=$(date +%s)
stamp() { echo "== [$(($(date +%s) - start)) s] $*"; }

stamp "NSA benchmark, commit ${NSA_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true

missing=0
for path in .bundles/bench/index.json third_party_carry/fla_src/fla/ops/nsa/parallel.py; do
  if [[ ! -e $path ]]; then
    echo "missing $path: was it in the call's carry list?"
    missing=1
  fi
done
[[ -e .bundles/bench/index.json ]] || { echo "no bundles: nothing of ours to time"; }

stamp "building the runtime"
if ! { cmake -S lib/Runtime -B build-rt -G Ninja -DCMAKE_BUILD_TYPE=Release \
         -DNSA_RUNTIME_BUILD_TESTS=OFF >"$OUT/cmake.log" 2>&1 &&
       ninja -C build-rt >"$OUT/ninja.log" 2>&1; }; then
  echo "runtime build failed (benchmark.py records our kernels as errors):"
  tail -n 30 "$OUT/cmake.log" "$OUT/ninja.log" 2>/dev/null
fi
export NSA_RUNTIME_LIB=$PWD/build-rt/lib/libnsa_runtime.so
export PYTHONPATH=$PWD/python:$PWD/third_party_carry/fla_src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1

stamp "bench/benchmark.py"
timeout -s INT -k 30 "${BENCH_TIMEOUT:-480}" \
  python3 bench/benchmark.py --bundles .bundles/bench --json "$OUT/benchmark.json" \
    --time-budget "${BENCH_TIME_BUDGET:-380}" "$@"
rc=$?
stamp "benchmark.py exited with $rc"

if [[ -s $OUT/benchmark.json ]]; then
  python3 scripts/perf_table.py "$OUT/benchmark.json" --out "$OUT/performance-table.md" &&
    echo "markdown: $OUT/performance-table.md"
fi
stamp "done"
if (( rc == 0 && missing )); then rc=4; fi
exit "$rc"
