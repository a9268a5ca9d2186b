#!/usr/bin/env python3
"""Read bandwidth of the GPU from L2 and from DRAM, measured with one Triton kernel.

The selected-attention kernel reads every selected block of every position from
global memory (the blocks of neighbouring positions overlap little on random
inputs), and those reads mostly hit L2: its binding roof is the L2 -> SM read
bandwidth, not the tensor cores. This measures that roof on the lent GPU, so
docs/performance.md can put the kernel against a measured number.

The kernel: a grid of programs that each sum their share of a bf16 buffer, `reps`
times over, with L1-bypassing loads (`.cg`), so a buffer well inside L2 measures
L2 reads and one far larger than L2 measures DRAM reads. Median of CUDA-event
timings after warm-up; bytes = buffer bytes x reps.

Usage (GPU machine, repository root):
    python3 bench/memory_bandwidth.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys

from cuda_timing import median_event_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    parser.add_argument("--l2-mib", type=int, default=24,
                        help="buffer size for the L2 measurement (default 24 MiB)")
    parser.add_argument("--dram-mib", type=int, default=4096)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()

    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def read_sum(x_ptr, out_ptr, n, reps, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        programs = tl.num_programs(0)
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for _ in range(reps):
            for start in range(pid * BLOCK, n, programs * BLOCK):
                offsets = start + tl.arange(0, BLOCK)
                x = tl.load(x_ptr + offsets, mask=offsets < n, other=0.0,
                            cache_modifier=".cg")
                acc += x.to(tl.float32)
        tl.store(out_ptr + pid * BLOCK + tl.arange(0, BLOCK), acc)

    props = torch.cuda.get_device_properties(0)
    block = 2048
    programs = props.multi_processor_count * 8
    out = torch.empty(programs * block, device="cuda", dtype=torch.float32)

    def measure(mib: int, reps: int) -> dict:
        n = mib * 2**20 // 2
        x = torch.randn(n, device="cuda", dtype=torch.bfloat16)
        run = lambda: read_sum[(programs,)](x, out, n, reps, BLOCK=block,
                                           num_warps=8)
        seconds = median_event_seconds(torch, run, args.samples)
        bytes_read = n * 2 * reps
        # The sums are used, so nothing was optimized away; and finite.
        assert torch.isfinite(out).all().item()
        return {"buffer_mib": mib, "reps": reps, "bytes": bytes_read,
                "median_s": seconds, "tb_per_s": bytes_read / seconds / 1e12,
                "samples": args.samples}

    result = {
        "device": props.name,
        "sm_count": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "method": __doc__.split("\n\n")[2].replace("\n", " "),
        "l2": measure(args.l2_mib, reps=50),
        "dram": measure(args.dram_mib, reps=1),
    }
    for level in ("l2", "dram"):
        r = result[level]
        print(f"{level}: {r['buffer_mib']} MiB x {r['reps']}: "
              f"{r['median_s'] * 1e3:.3f} ms, {r['tb_per_s']:.2f} TB/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
