#!/usr/bin/env python3
"""The selected-attention kernel against a copy-only kernel that reads the same blocks.

Selected attention reads, per position and KV head, the K and V rows of its n
selected blocks (up to n * l' keys of 2 * 256 bytes at D = 128) to serve the G query
heads of the group: about 16 FLOP per byte, far below the tensor cores' ridge, and
on random inputs neighbouring positions share few blocks, so those bytes come from
L2 (see docs/performance.md). Its binding roof is then how fast an SM can gather
those rows, which no datasheet gives. This measures it: copy-only kernels that read
exactly the rows the selected kernel reads (the same indices, from our select bundle
on the benchmark's inputs), with the same work split (a warp per position, the CTA's
warps neighbouring positions, 32-key chunks), and only fold the bytes into a
checksum. The fastest of them is the measured gather roof; our selected kernel is
timed in the same process on the same inputs and indices.

Variants (CUDA C compiled with NVRTC through CuPy):
  cp_async_ca_1  cp.async through L1 into warp-private shared tiles, one stage
                 (what our kernel does, without the math)
  cp_async_ca_2  the same, two stages (the next chunk copied while one is read)
  cp_async_cg_2  two stages, bypassing L1 (.cg)
  ldg            16-byte loads straight into registers (no shared memory), all of
                 a chunk's loads in flight at once

Usage (GPU machine, repository root, runtime built, NSA_RUNTIME_LIB and PYTHONPATH
set as in bench/benchmark.sh):
    python3 bench/gather_roof.py --bundles .bundles/bench --T 65536 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "bench"))

from cuda_timing import median_event_seconds  # noqa: E402

WARPS = 4       # positions per CTA, as the selected kernel's default selected_num_warps
CHUNK = 32      # keys per chunk, as in the selected kernel (kPrivateKeyChunk)

SOURCE = r"""
constexpr int ROW = DIM / 8;          // 16-byte pieces per K or V row
constexpr int PIECES = CHUNK * ROW;   // per K (or V) chunk

__device__ __forceinline__ void copy16(uint4* dst, const uint4* src) {
  unsigned s = (unsigned)__cvta_generic_to_shared(dst);
#if BYPASS_L1
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(s), "l"(src));
#else
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16;\n" :: "r"(s), "l"(src));
#endif
}

// The chunks of one (position, head) in the selected kernel's order: its valid
// blocks ascending, each cut causally at the position, CHUNK keys at a time.
struct Chunks {
  const int* sel; int n, pos, block, b, c;
  __device__ bool next(int& first, int& len) {
    while (b < n) {
      int blk = sel[b];
      int keys = blk < 0 ? 0 : min(block, pos + 1 - blk * block);
      if (c * CHUNK < keys) {
        first = blk * block + c * CHUNK;
        len = min(CHUNK, keys - c * CHUNK);
        ++c;
        return true;
      }
      ++b; c = 0;
    }
    return false;
  }
};

extern "C" __global__ void __launch_bounds__(WARPS * 32)
gather_cp_async(const uint4* __restrict__ k, const uint4* __restrict__ v,
                const int* __restrict__ idx, int T, int H, int n, int block,
                unsigned* __restrict__ out) {
  extern __shared__ uint4 smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int pos = blockIdx.x * WARPS + warp, head = blockIdx.y;
  unsigned acc = 0;
  if (pos < T) {
    uint4* tiles = smem + warp * STAGES * 2 * PIECES;
    Chunks chunks{idx + ((unsigned long long)pos * H + head) * n, n, pos, block, 0, 0};
    bool have[STAGES];
    auto issue = [&](int stage) {
      int first, len;
      have[stage] = chunks.next(first, len);
      if (have[stage]) {
        uint4* kt = tiles + stage * 2 * PIECES;
        uint4* vt = kt + PIECES;
#pragma unroll
        for (int i = lane; i < PIECES; i += 32) {
          int r = i / ROW, s = i % ROW;
          if (r < len) {
            unsigned long long g = ((unsigned long long)(first + r) * H + head) * ROW + s;
            copy16(kt + i, k + g);
            copy16(vt + i, v + g);
          }
        }
      }
      asm volatile("cp.async.commit_group;\n" ::);
    };
    for (int s = 0; s < STAGES; ++s)
      issue(s);
    for (int stage = 0; have[stage]; stage = (stage + 1) % STAGES) {
      asm volatile("cp.async.wait_group %0;\n" :: "n"(STAGES - 1));
      __syncwarp();
      const uint4* t = tiles + stage * 2 * PIECES;
#pragma unroll 4
      for (int i = lane; i < 2 * PIECES; i += 32) {
        uint4 x = t[i];
        acc ^= x.x ^ x.y ^ x.z ^ x.w;
      }
      __syncwarp();
      issue(stage);
    }
  }
  out[((unsigned long long)blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x] = acc;
}

extern "C" __global__ void __launch_bounds__(WARPS * 32)
gather_ldg(const uint4* __restrict__ k, const uint4* __restrict__ v,
           const int* __restrict__ idx, int T, int H, int n, int block,
           unsigned* __restrict__ out) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int pos = blockIdx.x * WARPS + warp, head = blockIdx.y;
  unsigned acc = 0;
  if (pos < T) {
    Chunks chunks{idx + ((unsigned long long)pos * H + head) * n, n, pos, block, 0, 0};
    int first, len;
    while (chunks.next(first, len)) {
      uint4 x[2 * PIECES / 32];
#pragma unroll
      for (int j = 0; j < PIECES / 32; ++j) {
        int i = lane + 32 * j, r = min(i / ROW, len - 1), s = i % ROW;
        unsigned long long g = ((unsigned long long)(first + r) * H + head) * ROW + s;
        x[2 * j] = k[g];
        x[2 * j + 1] = v[g];
      }
#pragma unroll
      for (int j = 0; j < 2 * PIECES / 32; ++j)
        acc ^= x[j].x ^ x[j].y ^ x[j].z ^ x[j].w;
    }
  }
  out[((unsigned long long)blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x] = acc;
}
"""

# name: (kernel, stages, bypass L1)
VARIANTS = {
    "cp_async_ca_1": ("gather_cp_async", 1, False),
    "cp_async_ca_2": ("gather_cp_async", 2, False),
    "cp_async_cg_2": ("gather_cp_async", 2, True),
    "ldg": ("gather_ldg", 1, False),
}


def launcher(cp, torch, variant: str, k, v, idx, T: int, params: dict):
    """A function that runs one copy-only variant over the rows `idx` selects from
    k and v ([B, T, H, D] bf16; B = 1)."""
    name, stages, bypass = VARIANTS[variant]
    if k.shape[0] != 1 or not (k.is_contiguous() and v.is_contiguous() and idx.is_contiguous()):
        raise ValueError("the probe reads contiguous B = 1 tensors")
    # One row layout for K and V (the kernels index both with DIM), int32 indices.
    if v.shape != k.shape or idx.dtype != torch.int32 or k.shape[3] % 8 or k.shape[3] > 128:
        raise ValueError(f"the probe needs K and V of one shape with D a multiple of 8 up "
                         f"to 128 and int32 indices; got {tuple(k.shape)}, "
                         f"{tuple(v.shape)}, {idx.dtype}")
    H, D = k.shape[2], k.shape[3]
    kernel = cp.RawKernel(SOURCE, name, options=(
        "-std=c++17", f"-DDIM={D}", f"-DCHUNK={CHUNK}", f"-DWARPS={WARPS}",
        f"-DSTAGES={stages}", f"-DBYPASS_L1={int(bypass)}"))
    shared = WARPS * stages * 2 * CHUNK * D * 2 if name == "gather_cp_async" else 0
    if shared > 48 * 1024:
        kernel.max_dynamic_shared_size_bytes = shared
    grid = (-(-T // WARPS), H)
    out = cp.empty(grid[0] * grid[1] * WARPS * 32, dtype=cp.uint32)
    # bf16 has no CuPy dtype: the kernels read raw 16-byte pieces.
    args = (cp.asarray(k.view(torch.int16)), cp.asarray(v.view(torch.int16)),
            cp.asarray(idx), cp.int32(T), cp.int32(H), cp.int32(params["top_n"]),
            cp.int32(params["slc_block"]), out)
    return lambda: kernel(grid, (WARPS * 32,), args, shared_mem=shared)


def probe(cp, torch, variant: str, k, v, idx, T: int, params: dict, samples: int) -> float:
    """Median seconds of one copy-only variant over the rows `idx` selects."""
    seconds = median_event_seconds(torch, launcher(cp, torch, variant, k, v, idx, T, params),
                             samples)
    cp.cuda.runtime.deviceSynchronize()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--T", type=int, default=65536)
    parser.add_argument("--configs", default="fla64")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import cupy as cp
    import torch
    from benchmark import SHAPE, check_indices, random_indices
    from nsa_mlir import runtime
    from profile_kernels import inputs

    index = json.loads((args.bundles / "index.json").read_text())

    def bundle_of(kind, config):
        for entry in index:
            if (entry["kind"], entry["config"], entry["dtype"], entry["num_q_heads"]) == (
                    kind, config, SHAPE["dtype"], SHAPE["Hq"]):
                return entry
        raise SystemExit(f"no {kind} bundle for {config} in {args.bundles}")

    results = {"device": torch.cuda.get_device_name(0), "T": args.T,
               "method": __doc__.split("\n\n")[1].replace("\n", " "), "configs": []}
    for config in args.configs.split(","):
        select_entry, selected_entry = bundle_of("select", config), bundle_of("selected", config)
        params = select_entry["config_params"]
        q, k, v = inputs(torch, args.T, "selected")
        select = runtime.load_bundle(args.bundles / select_entry["name"])
        try:
            outs = select.allocate_outputs([q, k, v])
            select.run([q, k, v], outs)
            torch.cuda.synchronize()
            idx = outs[0]
        finally:
            select.close()
        check = check_indices(torch, idx, args.T, params)
        source = "ours.select output"
        if not check["valid"]:
            idx, source = random_indices(torch, args.T, params), "random valid indices"
            check = check_indices(torch, idx, args.T, params)
        nbytes = check["selected_pairs"] * (SHAPE["Dk"] + SHAPE["Dv"]) * 2
        rec = {"config": config, "indices": source, "selected_pairs": check["selected_pairs"],
               "bytes": nbytes, "variants": {}}

        selected = runtime.load_bundle(args.bundles / selected_entry["name"])
        try:
            ins = [q, k, v, idx]
            outs = selected.allocate_outputs(ins)
            seconds = median_event_seconds(torch, lambda: selected.run(ins, outs),
                                           args.samples)
        finally:
            selected.close()
        rec["ours_selected"] = {"bundle": selected_entry["name"], "median_ms": seconds * 1e3,
                                "tb_per_s": nbytes / seconds / 1e12}
        print(f"{config}: {nbytes / 1e9:.1f} GB of K/V rows ({source}); "
              f"ours.selected {seconds * 1e3:.3f} ms, {nbytes / seconds / 1e12:.2f} TB/s")
        for variant in VARIANTS:
            try:
                s = probe(cp, torch, variant, k, v, idx, args.T, params, args.samples)
                rec["variants"][variant] = {"median_ms": s * 1e3, "tb_per_s": nbytes / s / 1e12}
                print(f"  {variant:14s} {s * 1e3:8.3f} ms  {nbytes / s / 1e12:6.2f} TB/s")
            except Exception as e:  # noqa: BLE001 (one failing variant must not stop the rest)
                rec["variants"][variant] = {"error": f"{type(e).__name__}: {e}"}
                print(f"  {variant:14s} failed: {type(e).__name__}: {e}")
        timed = {n: r["median_ms"] for n, r in rec["variants"].items() if "median_ms" in r}
        if timed:
            best = min(timed, key=timed.get)
            rec["roof"] = {"variant": best, "median_ms": timed[best],
                           "ours_pct_of_roof": 100 * timed[best] / rec["ours_selected"]["median_ms"]}
            print(f"  gather roof: {best}, {timed[best]:.3f} ms; ours.selected at "
                  f"{rec['roof']['ours_pct_of_roof']:.1f}% of it")
        results["configs"].append(rec)
        del q, k, v, idx
        torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
