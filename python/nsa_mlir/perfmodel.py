"""Work counts and rooflines for the NSA benchmark (bench/benchmark.py).

Pure Python (no torch, no NumPy), so it is unit-tested on the build machines
(python/tests/test_perfmodel.py) and imported by the benchmark on the GPU
machine and by scripts/perf_table.py.

What is counted
  * FLOPs: 2·M·N·K per matrix product, over the *visible* work only (masked or
    invisible keys are not counted), summed exactly over the query positions
    t = 0 .. T-1 with Python integers. Softmax, pooling, gating, the score
    mapping and the top-n are not counted (they are O(T·Hq·Nc) or smaller
    element-wise work). Per (batch, query head) and position t the key counts are

      compressed  nc(t)  = #{i : i·d + l − 1 <= t}        = (t − l + 1) // d + 1 (0 if t < l − 1)
      selected    ns(t)  = (min(n, t // l' + 1) − 1)·l' + t mod l' + 1
                           (min(n, own + 1) blocks; every block full except the
                           query's own block, which the forced local blocks
                           always include, cut at t)
      window      nw(t)  = min(w, t + 1)
      dense       nd(t)  = t + 1

    and a branch with key set N(t) costs 2·B·Hq·Σ_t N(t)·(Dk + Dv) FLOPs (q·Kᵀ
    and P·V). The selection needs the compressed softmax probabilities: one more
    q·kcᵀ product, 2·B·Hq·Σ_t nc(t)·Dk, on top of the compressed attention that
    yields the log-sum-exp (our select bundle and fla's top-k both recompute it).
  * Bytes: the fewest any implementation must move: read every input once and
    write every output once (intermediates such as kc/vc, probabilities or the
    per-branch outputs of a fused kernel are not counted unless they are outputs
    of the timed function).
  * Roofline: time_roof = max(FLOPs / peak FLOP/s, bytes / peak bandwidth); a
    measurement reaches time_roof / time of its roofline.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .runtime import DTYPE_SIZES

# H100 SXM 80 GB figures from ../shared/docs/gpu-workflow.md ("H100 measured here:
# about 3.0 TB/s device memory; 690 to 800 TFLOP/s for a large bf16 matrix
# product"). 700 TFLOP/s is the dense bf16 tensor-core rate used for every kernel.
H100_PEAK_TFLOPS = 700.0
H100_PEAK_TBPS = 3.0
H100_PEAKS_NOTE = ("H100 SXM figures of ../shared/docs/gpu-workflow.md (measured there: "
                   "~3.0 TB/s copy bandwidth, 690-800 TFLOP/s large bf16 GEMM)")
# H200: the same GH100 SMs and tensor cores as the H100 SXM, with HBM3e. The
# bandwidth is our own measurement on the lent H200 (bench/memory_bandwidth.py,
# 2026-12-02: 4.32 TB/s DRAM read, bench/results/2026-12-02-h200-7005b38-memory-bandwidth.json).
H200_PEAK_TBPS = 4.3
H200_PEAKS_NOTE = ("H200: 700 TFLOP/s as the H100 (same GH100 tensor cores, not measured "
                   "on the H200), 4.3 TB/s DRAM read measured by bench/memory_bandwidth.py")


def device_peaks(device: str) -> tuple[float, float, str]:
    """(TFLOP/s, TB/s, note) of the roofline for a device name as torch reports
    it: the H200's measured bandwidth, the H100's figures otherwise."""
    if "H200" in device:
        return H100_PEAK_TFLOPS, H200_PEAK_TBPS, H200_PEAKS_NOTE
    note = H100_PEAKS_NOTE
    if "H100" not in device:
        note += f"; this device is {device}: the roofline figures are the H100's"
    return H100_PEAK_TFLOPS, H100_PEAK_TBPS, note


@dataclass(frozen=True)
class Problem:
    """One benchmark point: shapes and the NSA block parameters (l, d, l', n, w)."""

    B: int
    T: int
    Hq: int
    H: int
    Dk: int
    Dv: int
    cmp_block: int = 32  # l
    cmp_stride: int = 16  # d
    slc_block: int = 64  # l'
    top_n: int = 16  # n
    window: int = 512  # w
    dtype: str = "bf16"

    @classmethod
    def from_config(cls, cfg, B: int, T: int, Hq: int, H: int, Dk: int, Dv: int,
                    dtype: str = "bf16") -> "Problem":
        """From an NSAConfig (or anything with its block attributes)."""
        return cls(B, T, Hq, H, Dk, Dv, cfg.cmp_block, cfg.cmp_stride, cfg.slc_block,
                   cfg.top_n, cfg.window, dtype)

    @classmethod
    def from_shape(cls, shape: dict, T: int, params: dict) -> "Problem":
        """From a benchmark's shape (B, Hq, H, Dk, Dv, dtype, as its JSON records
        it) and a config's block parameters (l, d, l', n, w by field name)."""
        return cls(T=T, **{k: shape[k] for k in ("B", "Hq", "H", "Dk", "Dv", "dtype")},
                   **params)

    @property
    def elem(self) -> int:
        return DTYPE_SIZES[self.dtype]

    @property
    def num_cmp(self) -> int:
        """Nc = (T − l) // d + 1 compressed blocks (0 if T < l)."""
        l, d = self.cmp_block, self.cmp_stride
        return (self.T - l) // d + 1 if self.T >= l else 0

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------
# Key counts per (batch, query head), summed over the positions
# --------------------------------------------------------------------------------------


def cmp_keys(t: int, p: Problem) -> int:
    l, d = p.cmp_block, p.cmp_stride
    return (t - l + 1) // d + 1 if t >= l - 1 else 0


def slc_keys(t: int, p: Problem) -> int:
    ls = p.slc_block
    blocks = min(p.top_n, t // ls + 1)
    return (blocks - 1) * ls + t % ls + 1


def win_keys(t: int, p: Problem) -> int:
    return min(p.window, t + 1)


def sum_cmp_keys(p: Problem) -> int:
    return sum(cmp_keys(t, p) for t in range(p.T))


def sum_slc_keys(p: Problem) -> int:
    return sum(slc_keys(t, p) for t in range(p.T))


def sum_win_keys(p: Problem) -> int:
    return sum(win_keys(t, p) for t in range(p.T))


def sum_dense_keys(p: Problem) -> int:
    return p.T * (p.T + 1) // 2


def selected_tokens_from_indices(rows, t: int, slc_block: int) -> int:
    """Tokens that query t attends to for one row of block indices (−1 is
    padding, a block counts once): the count the selected kernel really does."""
    blocks = {int(j) for j in rows if j >= 0}
    return sum(max(0, min(slc_block, t - j * slc_block + 1)) for j in blocks)


def _chunk_rows(lo: int, hi: int, need_lo: int, need_hi: int, chunk: int) -> int:
    """Rows of the chunks of [lo, hi), `chunk` keys each from lo on (the last
    one shorter), that hold any key of [need_lo, need_hi]: a CTA copies a
    chunk whole, or skips it when none of its rows sees any of its keys."""
    need_lo, need_hi = max(need_lo, lo), min(need_hi, hi - 1)
    if need_hi < need_lo:
        return 0
    first, last = (need_lo - lo) // chunk, (need_hi - lo) // chunk
    return min(hi, lo + (last + 1) * chunk) - (lo + first * chunk)


def staged_key_rows(kernel: str, p: Problem, tile_positions: int,
                    loop_positions: int = 64, chunk: int = 64) -> int:
    """Key rows our kernels stage from L2 into shared memory per (batch, KV head),
    summed over their CTAs: what they read through L2, next to the bytes any
    implementation must move (work()). A CTA holds `tile_positions`
    neighbouring positions and all G heads of their group (64 rows / G) of a
    query tile of `loop_positions` positions (`block_q`), whose KV range it
    walks in `chunk`-key chunks (the CTA-shared kernels' 64), copying every
    chunk that one of its rows sees: for compressed attention and the
    probabilities the compressed keys from 0, for the window the tile's
    window range. Their `.cg` copies do not meet in L1, so this is what L2
    serves. Selected attention stages each position's selected keys (a warp
    per position; its `.ca` copies of blocks that neighbouring positions
    share partly hit L1, so L2 serves somewhat less)."""
    if kernel == "selected":
        return sum_slc_keys(p)
    if kernel not in ("compressed", "probs", "window"):
        raise ValueError(f"no staged-rows model for {kernel!r}")
    rows = 0
    for t0 in range(0, p.T, loop_positions):
        t_end = min(p.T, t0 + loop_positions)
        if kernel == "window":
            lo, hi = max(0, t0 - p.window + 1), t_end
        else:
            lo, hi = 0, cmp_keys(t_end - 1, p)
        for a in range(t0, t_end, tile_positions):
            b = min(t_end, a + tile_positions) - 1
            if kernel == "window":
                rows += _chunk_rows(lo, hi, a - p.window + 1, b, chunk)
            else:
                rows += _chunk_rows(lo, hi, 0, cmp_keys(b, p) - 1, chunk)
    return rows


def staged_bytes(kernel: str, p: Problem, tile_positions: int, loop_positions: int = 64,
                 chunk: int = 64) -> int:
    """staged_key_rows in bytes: K and V rows (K only for the probabilities), all
    batches and KV heads."""
    dims = p.Dk if kernel == "probs" else p.Dk + p.Dv
    rows = staged_key_rows(kernel, p, tile_positions, loop_positions, chunk)
    return p.B * p.H * rows * dims * p.elem


# --------------------------------------------------------------------------------------
# Work per timed function
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    flops: int
    bytes: int
    flops_formula: str
    bytes_formula: str

    def as_dict(self) -> dict:
        return asdict(self)


def _tensor_bytes(p: Problem) -> dict:
    e = p.elem
    B, T, Hq, H, Dk, Dv = p.B, p.T, p.Hq, p.H, p.Dk, p.Dv
    return {
        "q": B * T * Hq * Dk * e,
        "k": B * T * H * Dk * e,
        "v": B * T * H * Dv * e,
        "g": B * T * Hq * 3 * e,  # our gates [B, T, Hq, 3]
        "g2": B * T * Hq * 2 * e,  # fla's g_cmp, g_slc [B, T, Hq] each
        "o": B * T * Hq * Dv * e,
        "lse": B * T * Hq * 4,
        "kcvc": B * p.num_cmp * H * (Dk + Dv) * e,
        "kc": B * p.num_cmp * H * Dk * e,
        "indices": B * T * H * p.top_n * 4,
    }


def _sum(parts: dict, names) -> tuple[int, str]:
    return sum(parts[n] for n in names), " + ".join(names)


# name -> (what is timed, which inputs and outputs the byte count includes)
KERNELS = {
    "nsa": "full NSA forward: compress, compressed attention, probabilities, top-n, "
           "selected attention, window attention, gated combine",
    "compressed": "compress + compressed attention (o, lse, kc, vc)",
    "select": "compress + compressed attention (lse) + probabilities + top-n (indices)",
    "selection_only": "select minus compressed: probabilities + top-n (a difference of "
                      "two timings)",
    "selected": "selected attention with given indices",
    "window": "sliding-window attention",
    "dense_causal": "dense causal attention (SDPA)",
    "flex_window": "FlexAttention causal sliding window",
    "fla_nsa": "fla parallel_nsa, window_size=0: pooling, compressed attention, "
               "top-n, selected attention, gates",
    "fla_nsa_window": "fla parallel_nsa + FlexAttention window (sum of two timings)",
    "fla_compressed": "fla mean pooling + compressed attention",
    "fla_topk": "fla top-n (recomputes q·kc with the saved lse, bitonic sort)",
    "fla_selected": "fla selected attention with given indices",
    "selected_gather": "copy-only kernel reading the K/V rows selected attention reads "
                       "(bench/gather_roof.py): the selected kernel's gather roof",
}


def work(kernel: str, p: Problem) -> Work:
    """The FLOPs and minimal bytes of one timed function at problem p."""
    B, Hq, Dk, Dv = p.B, p.Hq, p.Dk, p.Dv
    base = 2 * B * Hq
    sc, ss, sw = sum_cmp_keys(p), sum_slc_keys(p), sum_win_keys(p)
    t = _tensor_bytes(p)
    pre = f"2·B·Hq = 2·{B}·{Hq}"
    cmp_f = f"Σnc(t)={sc}"
    slc_f = f"Σns(t)={ss}"
    win_f = f"Σnw(t)={sw}"
    if kernel in ("nsa", "fla_nsa_window"):
        flops = base * (sc * (2 * Dk + Dv) + (ss + sw) * (Dk + Dv))
        ff = (f"{pre} · ({cmp_f}·(2·{Dk}+{Dv}) + ({slc_f} + {win_f})·({Dk}+{Dv}))")
        names = ["q", "k", "v", "g", "o", "lse", "lse", "lse"] if kernel == "nsa" else \
            ["q", "k", "v", "g", "o"]
    elif kernel in ("compressed", "fla_compressed"):
        flops = base * sc * (Dk + Dv)
        ff = f"{pre} · {cmp_f} · ({Dk}+{Dv})"
        names = ["q", "k", "v", "o", "lse", "kcvc"] if kernel == "compressed" else \
            ["q", "k", "v", "o", "lse"]
    elif kernel == "select":
        flops = base * sc * (2 * Dk + Dv)
        ff = f"{pre} · {cmp_f} · (2·{Dk}+{Dv})  (compressed attention + probabilities)"
        names = ["q", "k", "v", "indices"]
    elif kernel in ("selection_only", "fla_topk"):
        flops = base * sc * Dk
        ff = f"{pre} · {cmp_f} · {Dk}  (q·kcᵀ once more)"
        names = ["q", "kc", "lse", "indices"]
    elif kernel in ("selected", "fla_selected"):
        flops = base * ss * (Dk + Dv)
        ff = f"{pre} · {slc_f} · ({Dk}+{Dv})"
        names = ["q", "k", "v", "indices", "o", "lse"]
    elif kernel == "selected_gather":
        # No math; its bytes are the rows as gathered (each selected key's K and V
        # row once per position and KV head), which mostly hit L2, not DRAM's
        # minimal bytes: its TB/s is an L2-level rate.
        ge = B * p.H * ss * (Dk + Dv) * p.elem
        return Work(0, ge, "0 (copies only)",
                    f"B·H·{slc_f}·(Dk+Dv)·{p.elem} = {B}·{p.H}·{ss}·({Dk}+{Dv})·{p.elem}")
    elif kernel == "window":
        flops = base * sw * (Dk + Dv)
        ff = f"{pre} · {win_f} · ({Dk}+{Dv})"
        names = ["q", "k", "v", "o", "lse"]
    elif kernel == "flex_window":
        flops = base * sw * (Dk + Dv)
        ff = f"{pre} · {win_f} · ({Dk}+{Dv})"
        names = ["q", "k", "v", "o"]
    elif kernel == "dense_causal":
        sd = sum_dense_keys(p)
        flops = base * sd * (Dk + Dv)
        ff = f"{pre} · T(T+1)/2={sd} · ({Dk}+{Dv})"
        names = ["q", "k", "v", "o"]
    elif kernel == "fla_nsa":
        flops = base * (sc * (2 * Dk + Dv) + ss * (Dk + Dv))
        ff = f"{pre} · ({cmp_f}·(2·{Dk}+{Dv}) + {slc_f}·({Dk}+{Dv}))"
        names = ["q", "k", "v", "g2", "o"]
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    nbytes, bf = _sum(t, names)
    return Work(flops, nbytes, ff, bf)


# --------------------------------------------------------------------------------------
# Roofline
# --------------------------------------------------------------------------------------


def roofline(w: Work, seconds: float, peak_tflops: float = H100_PEAK_TFLOPS,
             peak_tbps: float = H100_PEAK_TBPS) -> dict:
    """Achieved rates of one measurement and its distance to the roofline."""
    t_compute = w.flops / (peak_tflops * 1e12)
    t_memory = w.bytes / (peak_tbps * 1e12)
    t_roof = max(t_compute, t_memory)
    out = {
        "flops": w.flops,
        "bytes": w.bytes,
        "roof_ms": t_roof * 1e3,
        "bound": "compute" if t_compute >= t_memory else "memory",
        "arithmetic_intensity": w.flops / w.bytes if w.bytes else None,
    }
    if seconds and seconds > 0:
        out.update({
            "tflops": w.flops / seconds / 1e12,
            "tbps": w.bytes / seconds / 1e12,
            "pct_of_roof": 100.0 * t_roof / seconds,
        })
    return out


# --------------------------------------------------------------------------------------
# Size expressions of bundle manifests (docs/bundle-format.md), to size the scratch
# before a run (the runtime allocates it with cuMemAlloc, outside torch's allocator)
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z_0-9]*)|(.))")


def _tokens(text: str) -> list:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        pos = m.end()
        if m.group(1):
            out.append(("int", int(m.group(1))))
        elif m.group(2):
            out.append(("name", m.group(2)))
        elif m.group(3) and not m.group(3).isspace():
            out.append(("op", m.group(3)))
    return out


def eval_size_expr(expr, symbols: dict) -> int:
    """Evaluates a manifest size expression (an int, or a string over the grammar
    of docs/bundle-format.md) with MLIR affine semantics."""
    if isinstance(expr, int):
        return expr
    toks = _tokens(str(expr))
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else (None, None)

    def take(kind=None, value=None):
        nonlocal pos
        tok = peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise ValueError(f"size expression {expr!r}: expected {value or kind} at token "
                             f"{pos}, found {tok[1]!r}")
        pos += 1
        return tok

    def factor():
        kind, value = peek()
        if kind == "int":
            take()
            return value
        if kind == "op" and value == "-":
            take()
            return -factor()
        if kind == "op" and value == "(":
            take()
            x = sum_expr()
            take("op", ")")
            return x
        if kind == "name" and value in ("max", "min"):
            take()
            take("op", "(")
            a = sum_expr()
            take("op", ",")
            b = sum_expr()
            take("op", ")")
            return max(a, b) if value == "max" else min(a, b)
        if kind == "name":
            take()
            if value not in symbols:
                raise ValueError(f"size expression {expr!r}: unknown symbol {value!r}")
            return int(symbols[value])
        raise ValueError(f"size expression {expr!r}: unexpected {value!r}")

    def term():
        x = factor()
        while True:
            kind, value = peek()
            if kind == "op" and value == "*":
                take()
                x *= factor()
            elif kind == "name" and value in ("floordiv", "ceildiv", "mod"):
                take()
                y = factor()
                if y == 0:
                    raise ZeroDivisionError(f"size expression {expr!r}: division by zero")
                if value == "floordiv":
                    x = x // y
                elif value == "ceildiv":
                    x = -((-x) // y)
                else:
                    x = x % abs(y)
            else:
                return x

    def sum_expr():
        x = term()
        while True:
            kind, value = peek()
            if kind == "op" and value in "+-":
                take()
                y = term()
                x = x + y if value == "+" else x - y
            else:
                return x

    result = sum_expr()
    if pos != len(toks):
        raise ValueError(f"size expression {expr!r}: trailing input at token {pos}")
    return result


def tensor_bytes(entry: dict, symbols: dict) -> int:
    n = 1
    for extent in entry["shape"]:
        n *= max(eval_size_expr(extent, symbols), 0)
    return n * DTYPE_SIZES[entry["dtype"]]


def bundle_memory(manifest: dict, symbols: dict, align: int = 256) -> dict:
    """Scratch (buffers, each rounded up to `align`) and output bytes of a bundle
    run at the given symbol values, e.g. {"B": 1, "T": 65536}."""
    scratch = 0
    for buf in manifest.get("buffers", []):
        scratch += -(-tensor_bytes(buf, symbols) // align) * align
    outputs = sum(tensor_bytes(o, symbols) for o in manifest.get("outputs", []))
    inputs = sum(tensor_bytes(i, symbols) for i in manifest.get("inputs", []))
    return {"scratch": scratch, "outputs": outputs, "inputs": inputs}
