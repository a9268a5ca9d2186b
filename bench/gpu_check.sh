#!/usr/bin/env bash
# The GPU check, in one call on the lent GPU machine (docs: bench/gpu_check.py and
# ../shared/docs/gpu-workflow.md). From the repository root, with $OUT set:
#
#   bash bench/gpu_check.sh [BUNDLES_DIR]        (default .bundles/check)
#
# 1. builds the runtime standalone (build-rt/, no LLVM needed) and runs its smoke test;
# 2. cross-checks the torch reference against the NumPy reference on the GPU;
# 3. runs bench/gpu_check.py over every bundle of BUNDLES_DIR/index.json
#    -> $OUT/gpu_check.json, $OUT/gpu_check.log (a CUDA fault that kills the context
#    restarts it with --resume, without the faulting bundle, up to 4 times);
# 4. runs compute-sanitizer memcheck and racecheck over a few small cases
#    -> $OUT/memcheck.log, $OUT/racecheck.log (and their JSON / stdout);
# 5. prints a summary (also $OUT/summary.txt). Exit status 0 only if all passed.
#
# Time: everything is kept under TOTAL_BUDGET seconds (default 540, the device
# call's limit is 600). The main check stops starting new cases after
# GPU_CHECK_BUDGET seconds (default 300, less if the build was slow); skipped cases
# are listed in the JSON and the summary, never silently dropped.
#
# Environment: PYTHON (default python3), TOTAL_BUDGET, GPU_CHECK_BUDGET,
# SANITIZE_FILTER (comma-separated bundle-name substrings for step 4; default: an
# attention, a selected and a compressed bundle of the index), GPU_CHECK_ARGS (more
# arguments for step 3, e.g. "--max-T 4097"), SANITIZE_ARGS (more arguments for the
# step-4 runs), NSA_COMMIT (recorded in the JSON).
set -uo pipefail

BUNDLES=${1:-.bundles/check}
OUT=${OUT:-out-gpu-check}
PY=${PYTHON:-python3}
TOTAL_BUDGET=${TOTAL_BUDGET:-540}
GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-300}
SANITIZER_RESERVE=150 # seconds kept for step 4
mkdir -p "$OUT"
START=$(date +%s)
elapsed() { echo $(($(date +%s) - START)); }
SUMMARY=()
STATUS=0
note() { echo "$*"; SUMMARY+=("$*"); }

export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${NSA_COMMIT:-}" ]; then
  NSA_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ "$NSA_COMMIT" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null | head -1)" ]; then
    NSA_COMMIT="$NSA_COMMIT+dirty"
  fi
fi
export NSA_COMMIT

echo "== gpu_check.sh: bundles $BUNDLES, out $OUT, commit $NSA_COMMIT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
head -15 "$OUT/nvidia-smi.txt" | grep -E "Driver|H100|H200|MiB" || true
if [ ! -f "$BUNDLES/index.json" ]; then
  echo "FAILED: $BUNDLES/index.json not found (compile the bundles on the build machine:"
  echo "  python -m nsa_mlir.bundles --out $BUNDLES --preset check; carry the folder)"
  exit 1
fi

# -- 1. the runtime ---------------------------------------------------------------
echo "== [$(elapsed)s] building the runtime (build-rt)"
if cmake -S lib/Runtime -B build-rt -G Ninja -DCMAKE_BUILD_TYPE=Release \
    > "$OUT/build-rt.log" 2>&1 && ninja -C build-rt >> "$OUT/build-rt.log" 2>&1; then
  note "runtime build: ok ($(elapsed)s)"
else
  tail -30 "$OUT/build-rt.log"
  note "runtime build: FAILED (see build-rt.log)"
  printf '%s\n' "${SUMMARY[@]}" > "$OUT/summary.txt"
  exit 1
fi
export NSA_RUNTIME_LIB="$PWD/build-rt/lib/libnsa_runtime.so"
if [ ! -e "$NSA_RUNTIME_LIB" ]; then
  note "runtime build: no $NSA_RUNTIME_LIB (CUDA toolkit not found by CMake?)"
  printf '%s\n' "${SUMMARY[@]}" > "$OUT/summary.txt"
  exit 1
fi
if [ -x build-rt/bin/nsa-runtime-smoke ]; then
  if timeout 60 build-rt/bin/nsa-runtime-smoke > "$OUT/runtime-smoke.log" 2>&1; then
    note "runtime smoke test: ok ($(tail -1 "$OUT/runtime-smoke.log"))"
  else
    tail -20 "$OUT/runtime-smoke.log"
    note "runtime smoke test: FAILED (see runtime-smoke.log)"
    STATUS=1
  fi
fi

# -- 2. the reference, torch against NumPy ----------------------------------------
echo "== [$(elapsed)s] reference cross-check (torch on the GPU vs NumPy)"
# (on the GPU when torch sees one; the log's last line names the device)
if timeout 120 "$PY" -m nsa_mlir.reference_torch > "$OUT/crosscheck.log" 2>&1; then
  note "reference cross-check: ok ($(tail -1 "$OUT/crosscheck.log"))"
else
  tail -30 "$OUT/crosscheck.log"
  note "reference cross-check: FAILED: the torch reference disagrees with the NumPy one" \
       "(see crosscheck.log); no bundle checked"
  printf '%s\n' "${SUMMARY[@]}" > "$OUT/summary.txt"
  exit 1
fi

# -- 3. the numerics check --------------------------------------------------------
budget=$((TOTAL_BUDGET - $(elapsed) - SANITIZER_RESERVE))
if [ "$budget" -gt "$GPU_CHECK_BUDGET" ]; then budget=$GPU_CHECK_BUDGET; fi
if [ "$budget" -lt 30 ]; then budget=30; fi
echo "== [$(elapsed)s] gpu_check.py over $BUNDLES (time budget ${budget}s)"
JSON="$OUT/gpu_check.json"
rm -f "$JSON"
attempt=0
resume=()
main_start=$(date +%s)
while true; do
  left=$((budget - ($(date +%s) - main_start)))
  if [ "$left" -lt 10 ]; then left=10; fi
  # Hard stop a little after the budget: one started T=16384 case may run over.
  # shellcheck disable=SC2086
  timeout $((left + 90)) "$PY" bench/gpu_check.py --bundles "$BUNDLES" --json "$JSON" \
    --time-budget "$left" --no-crosscheck "${resume[@]}" ${GPU_CHECK_ARGS:-} \
    2>&1 | tee -a "$OUT/gpu_check.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 3 ] && [ "$attempt" -lt 4 ]; then
    attempt=$((attempt + 1))
    echo "== [$(elapsed)s] CUDA fault: restarting without the faulting bundle (attempt $attempt)" \
      | tee -a "$OUT/gpu_check.log"
    resume=(--resume "$JSON")
    continue
  fi
  break
done
case "$rc" in
  0) note "gpu_check: PASSED ($(grep -E '^gpu_check:' "$OUT/gpu_check.log" | tail -1))" ;;
  124) note "gpu_check: TIMED OUT (killed; partial results in gpu_check.json)"; STATUS=1 ;;
  *) note "gpu_check: FAILED, exit $rc ($(grep -E '^gpu_check:' "$OUT/gpu_check.log" | tail -1))"
     STATUS=1 ;;
esac
if grep -q '^INCOMPLETE' "$OUT/gpu_check.log"; then
  note "$(grep '^INCOMPLETE' "$OUT/gpu_check.log" | tail -1)"
fi
if [ "$attempt" -gt 0 ]; then note "gpu_check: restarted $attempt times after CUDA faults"; fi

# -- 4. compute-sanitizer ---------------------------------------------------------
SAN=$(command -v compute-sanitizer || true)
if [ -z "$SAN" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
  SAN=/usr/local/cuda/bin/compute-sanitizer
fi
if [ -z "$SAN" ]; then
  note "compute-sanitizer: not found; skipped"
else
  if [ -z "${SANITIZE_FILTER:-}" ]; then
    SANITIZE_FILTER=$("$PY" - "$BUNDLES/index.json" <<'EOF'
import json, sys
entries = json.load(open(sys.argv[1]))
def pick(kind, prefs):
    ranked = sorted((e for e in entries if e["kind"] == kind),
                    key=lambda e: [p not in e["name"] for p in prefs])
    return ranked[0]["name"] if ranked else None
names = [pick("attention", ["-bf16", "paper", "hq8"]),
         pick("selected", ["fla64", "-f32", "dk192"]),
         pick("compressed", ["-f16", "hq32"])]
print(",".join(n for n in names if n))
EOF
)
  fi
  # Only our kernels are instrumented (torch's run at full speed) if this
  # compute-sanitizer knows --kernel-name; every tensor gets its own allocation, so
  # that memcheck sees the bounds of each one (torch's caching allocator off).
  KFILTER=()
  if "$SAN" --help 2>&1 | grep -q -- "--kernel-name"; then KFILTER=(--kernel-name kns=nsa_); fi
  for tool in memcheck racecheck; do
    left=$((TOTAL_BUDGET - $(elapsed)))
    if [ "$tool" = memcheck ]; then limit=$((left / 2)); else limit=$((left - 10)); fi
    if [ "$limit" -lt 30 ]; then
      note "compute-sanitizer $tool: skipped (no time left: $(elapsed)s used)"
      continue
    fi
    echo "== [$(elapsed)s] compute-sanitizer --tool $tool on $SANITIZE_FILTER, T in {17, 100} (limit ${limit}s)"
    # shellcheck disable=SC2086
    PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout "$limit" "$SAN" --tool "$tool" "${KFILTER[@]}" \
      --error-exitcode 99 --log-file "$OUT/$tool.log" \
      "$PY" bench/gpu_check.py --bundles "$BUNDLES" --filter "$SANITIZE_FILTER" --T 17,100 \
      --no-crosscheck --json "$OUT/$tool.json" ${SANITIZE_ARGS:-} > "$OUT/$tool.stdout" 2>&1
    rc=$?
    summary_line=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/$tool.log" | tail -1)
    case "$rc" in
      0) note "compute-sanitizer $tool: ok (${summary_line:-no summary line})" ;;
      99) note "compute-sanitizer $tool: ERRORS (${summary_line}; see $tool.log)"; STATUS=1 ;;
      124) note "compute-sanitizer $tool: INCONCLUSIVE, timed out after ${limit}s (see" \
              "$tool.stdout; raise TOTAL_BUDGET or lower GPU_CHECK_BUDGET)" ;;
      *) note "compute-sanitizer $tool: exit $rc (${summary_line:-no summary}; numerics under" \
              "the sanitizer failed or it could not run: see $tool.stdout)"; STATUS=1 ;;
    esac
  done
fi

# -- 5. summary -------------------------------------------------------------------
echo
echo "== summary ($(elapsed)s)"
if [ -f "$JSON" ]; then
  "$PY" - "$JSON" <<'EOF' | tee "$OUT/table.txt"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
by_kind = {}
for b in d["bundles"]:
    k = by_kind.setdefault(b["kind"], [0, 0, 0, 0.0])
    for c in b["cases"]:
        k[{"pass": 0, "fail": 1}.get(c["status"], 2)] += 1
        for m in c.get("metrics", {}).values():
            if isinstance(m, dict) and "rel" in m:
                k[3] = max(k[3], m["rel"] if m["rel"] == m["rel"] else float("inf"))
print(f"{'kind':<11} {'pass':>5} {'fail':>5} {'skip':>5} {'worst rel':>10}")
for kind, (p, f, sk, rel) in sorted(by_kind.items()):
    print(f"{kind:<11} {p:>5} {f:>5} {sk:>5} {rel:>10.2e}")
print(f"device {d['meta'].get('device')}, torch {d['meta'].get('torch')}, "
      f"{s['cases_passed']} passed, {s['cases_failed']} failed, {s['cases_skipped']} skipped, "
      f"{s['elapsed_s']} s")
EOF
fi
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
echo "total $(elapsed)s; logs in $OUT"
exit $STATUS
