#!/usr/bin/env python3
"""Per-kernel time of our bundles on the GPU: where a bundle's time goes.

benchmark.py times whole bundles; this runs one or more bundles of an index
under torch.profiler (CUPTI sees the runtime's cuLaunchKernel launches like
PyTorch's own) and reports, for every kernel of the bundle, its mean device time
per bundle run and its share. Same shape and inputs as benchmark.py (bf16, B = 1,
64 query heads, 4 KV heads, D = 128, q/k/v ~ N(0, 1), gates U(0, 1)).

Usage (repository root, runtime built, NSA_RUNTIME_LIB and PYTHONPATH set as in
bench/benchmark.sh):
    python3 bench/profile_kernels.py --bundles .bundles/bench --T 65536 \
        --kinds attention,select --configs paper,fla64 --json out.json
Under Nsight Compute, with --plain (ncu and torch.profiler cannot both hold
CUPTI), skipping the 2 warm-up runs' launches (12 per attention bundle):
    ncu -k regex:nsa_ --launch-skip 24 --launch-count 12 --section WarpStateStats \
        python3 bench/profile_kernels.py --bundles .bundles/bench --kinds attention \
        --configs fla64 --runs 1 --plain
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "bench"))

from benchmark import SHAPE  # noqa: E402


def inputs(torch, T: int, kind: str) -> list:
    gen = torch.Generator(device="cuda").manual_seed(T)
    B, Hq, H, Dk, Dv = (SHAPE[k] for k in ("B", "Hq", "H", "Dk", "Dv"))
    kw = dict(generator=gen, device="cuda", dtype=torch.bfloat16)
    ins = [torch.randn(B, T, Hq, Dk, **kw), torch.randn(B, T, H, Dk, **kw),
           torch.randn(B, T, H, Dv, **kw)]
    if kind == "attention":
        ins.append(torch.rand(B, T, Hq, 3, **kw))
    return ins


def profile_bundle(torch, runtime, path: Path, kind: str, T: int, runs: int,
                   plain: bool = False) -> dict:
    from torch.profiler import ProfilerActivity, profile

    bundle = runtime.load_bundle(path)
    try:
        ins = inputs(torch, T, kind)
        outs = bundle.allocate_outputs(ins)
        for _ in range(2):  # warm-up: module load, scratch allocation
            bundle.run(ins, outs)
        torch.cuda.synchronize()
        if plain:
            # Under an external profiler (ncu), which cannot share CUPTI with
            # torch.profiler: just launch.
            for _ in range(runs):
                bundle.run(ins, outs)
            torch.cuda.synchronize()
            return {"bundle": path.name, "T": T, "runs": runs}
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(runs):
                bundle.run(ins, outs)
            torch.cuda.synchronize()
        kernels = {}
        for event in prof.events():
            if event.device_type != torch.autograd.DeviceType.CUDA:
                continue
            entry = kernels.setdefault(event.name, {"calls": 0, "total_us": 0.0})
            entry["calls"] += 1
            entry["total_us"] += event.device_time
        total = sum(e["total_us"] for e in kernels.values()) or 1.0
        rows = [{"kernel": name, "calls_per_run": e["calls"] / runs,
                 "ms_per_run": e["total_us"] / runs / 1e3,
                 "share": e["total_us"] / total}
                for name, e in sorted(kernels.items(), key=lambda kv: -kv[1]["total_us"])]
        return {"bundle": path.name, "T": T, "runs": runs,
                "ms_per_run": total / runs / 1e3, "kernels": rows}
    finally:
        bundle.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--T", type=int, default=65536)
    parser.add_argument("--kinds", default="attention,select")
    parser.add_argument("--configs", default="paper,fla64")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plain", action="store_true",
                        help="launch without torch.profiler, to run under ncu: "
                             "2 warm-up runs, then --runs runs, no timing")
    args = parser.parse_args()

    import torch
    from nsa_mlir import runtime

    index = json.loads((args.bundles / "index.json").read_text())
    kinds, configs = args.kinds.split(","), args.configs.split(",")
    results = []
    for entry in index:
        if entry["kind"] not in kinds or entry["config"] not in configs:
            continue
        if entry["dtype"] != SHAPE["dtype"] or entry["num_q_heads"] != SHAPE["Hq"]:
            continue
        try:
            rec = profile_bundle(torch, runtime, args.bundles / entry["name"],
                                 entry["kind"], args.T, args.runs, args.plain)
        except Exception as e:  # noqa: BLE001 (one failing bundle must not stop the rest)
            rec = {"bundle": entry["name"], "T": args.T, "error": f"{type(e).__name__}: {e}"}
        rec["config"] = entry["config"]
        results.append(rec)
        print(f"== {rec['bundle']} T={args.T}: "
              + (rec["error"] if "error" in rec
                 else f"{rec['ms_per_run']:.3f} ms/run" if "ms_per_run" in rec
                 else f"{args.runs} runs launched"))
        for row in rec.get("kernels", []):
            print(f"   {row['ms_per_run']:9.3f} ms {100 * row['share']:5.1f}%  "
                  f"x{row['calls_per_run']:g}  {row['kernel']}")
        torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
