#!/usr/bin/env python3
"""GPU numerics check of compiled NSA kernel bundles against the float64 reference.

For every bundle of a bundle directory (index.json, as written by
``python -m nsa_mlir.bundles --out DIR --preset check|smoke``) and every case of
the matrix T in {1, 17, 100, 1000, 4097, 16384} x B in {1, 2}: fresh random inputs
(torch, seeded per case, on the GPU, in the bundle's dtype), outputs pre-filled
with NaN (integer outputs with a sentinel), one run through the runtime
(python/nsa_mlir/runtime.py), and a comparison with nsa_mlir.reference_torch in
float64 computed from the same (rounded) inputs. Inputs are generated once per
(config, shape, dtype, B, T) and every kind of that shape runs on them, so the
reference is computed once for all five kinds.

Checks (thresholds by the bundle's dtype, docs: ../shared/docs/gpu-workflow.md):

* every float output: no NaN/Inf (lse: no NaN/+inf, and -inf exactly where the
  reference's is); ||out − ref|| / ||ref|| < REL_TOL (f32 1e-5, f16/bf16 1e-2);
  every row (last axis) max|out − ref| <= ROW_TOL · max(max|ref row|, rms(ref))
  (f32 1e-4, f16 2e-2, bf16 5e-2: a few units of the dtype's rounding), so one
  wrong row is not averaged away; lse entries |out − ref| <= LSE_TOL · max(1, |ref|)
  (f32 1e-4, f16 5e-3, bf16 2e-2).
* compressed: o, lse, kc, vc. window: o, lse. selected: o, lse, with the
  reference's indices as the input, and again with each list reversed and its
  first slot repeating the last (a repeated block counts once).
* select: per (b, t, h) row the index SET equals the reference's, and the row's
  format is exact (ascending, then -1 padding, min(n, visible) entries, forced
  blocks present). A row whose set differs passes only as a *legitimate
  difference*: the reference's choice is ambiguous there and the kernel's set is
  consistent with the scores within the tolerance, i.e. some perturbation of each
  block's score s_j by at most tol_j makes the kernel's set the top choice.
  tol_j = |s_model_j − s_j| + SELECT_SLACK·s_j: s_model is the reference's score
  with kc, vc rounded to the bundle's dtype (the compiled graph keeps the
  compressed keys in the input dtype; that rounding dominates a low-precision
  kernel's score error: up to ~1e-2 relative for bf16), the slack (f32 1e-4,
  f16 5e-4, bf16 2e-3) covers fp32 accumulation. Ambiguous rows and legitimate
  differences are counted and reported, never hidden. Plus one exact-tie case
  per select bundle whose config maps compressed to selection blocks 1:1 (fla64):
  keys constant in t, so every candidate's score ties exactly and the tie rule
  (lower index) must hold exactly.
* attention: the selected sets are checked first, through the select bundle of the
  same config and shape run on the same inputs (the composite's selection is not an
  output; it is assumed to equal the standalone select's), as for select. Rows
  where that choice differs legitimately are compared with the reference
  recomputed on it (strict thresholds). o and lse_slc rows that still fail, in a
  group whose reference selection is ambiguous, are tried against every other
  selection consistent with the scores within the tolerance (swaps of near-tied
  blocks at the boundary, at most 64 per row): a row that matches one strictly is
  excused and counted ("alternatives" in the JSON, a note in the table); all
  other failures stand. lse_cmp and lse_win are always strict.

Exit status: 0 all checked cases passed, 1 something failed, 3 a CUDA fault left
the context unusable (the JSON names the bundle; rerun with --resume JSON to go
on without it), 2 usage errors.

Usage (from the repository root; PYTHONPATH is set up by this script):
    python3 bench/gpu_check.py --bundles .bundles/check --json out.json
    python3 bench/gpu_check.py --quick --filter window-paper --json q.json
    python3 bench/gpu_check.py --simulate --quick      # no GPU: the harness itself
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
import itertools
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402

from nsa_mlir import reference_torch as rt  # noqa: E402
from nsa_mlir.bundles import KINDS  # noqa: E402
from nsa_mlir.reference import NSAConfig  # noqa: E402
from nsa_mlir.runtime import torch_dtype  # noqa: E402

T_FULL = (1, 17, 100, 1000, 4097, 16384)
T_QUICK = (1, 17, 100)
B_VALUES = (1, 2)
T_TIES = 2065  # > n·l' = 1024 so that the exact-tie case has real choices

# Order of the kinds within a shape group: select before attention, whose selection
# check reuses the select bundle's indices of the same case.
RUN_ORDER = ("compressed", "select", "selected", "window", "attention")

KIND_INPUTS = {
    "attention": ("q", "k", "v", "g"),
    "compressed": ("q", "k", "v"),
    "select": ("q", "k", "v"),
    "selected": ("q", "k", "v", "indices"),
    "window": ("q", "k", "v"),
}
KIND_OUTPUTS = {
    "attention": ("o", "lse_cmp", "lse_slc", "lse_win"),
    "compressed": ("o", "lse", "kc", "vc"),
    "select": ("indices",),
    "selected": ("o", "lse"),
    "window": ("o", "lse"),
}

REL_TOL = {"f32": 1e-5, "f16": 1e-2, "bf16": 1e-2}
ROW_TOL = {"f32": 1e-4, "f16": 2e-2, "bf16": 5e-2}
# lse is f32 whatever the inputs; its error comes from the computation alone (and, for
# lse_cmp, from kc rounded to the dtype: up to ~7e-3 for bf16 where |lse| < 1).
LSE_TOL = {"f32": 1e-4, "f16": 5e-3, "bf16": 2e-2}
# Selection tolerance, per block score s_j: tol_j = |s_model_j − s_j| + SELECT_SLACK·s_j,
# where s_model is the reference's score with kc, vc rounded to the bundle's dtype
# (the compiled graph keeps the compressed keys in the input dtype: the compressed
# kind returns them so, and that rounding is by far the largest perturbation of a
# low-precision kernel's scores), and the slack covers fp32 accumulation and kc
# elements that round the other way from an fp32 mean (1 ulp).
SELECT_SLACK = {"f32": 1e-4, "f16": 5e-4, "bf16": 2e-3}
INT_SENTINEL = -(2 ** 31) + 7  # pre-fill of integer outputs: never a valid index

# Input distribution. Logits s·q·k have standard deviation ~Q_SCALE (O(1), as in
# real attention). Keys share a component per 64-token block and query heads of a
# GQA group share one, so compressed keys keep O(1) structure and the selection
# scores of a row are spread out (well-separated for the most part) rather than
# all alike.
Q_SCALE = 1.5
KEY_BLOCK = 64


# --------------------------------------------------------------------------------------
# Bundle index
# --------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One bundle of index.json."""
    name: str
    kind: str
    config: str
    cfg: NSAConfig
    num_q_heads: int
    num_kv_heads: int
    key_dim: int
    value_dim: int
    dtype: str
    path: Path

    @property
    def group_key(self) -> tuple:
        return (self.config, json.dumps(_cfg_dict(self.cfg), sort_keys=True),
                self.num_q_heads, self.num_kv_heads, self.key_dim, self.value_dim, self.dtype)

    @property
    def group_name(self) -> str:
        return (f"{self.config}-hq{self.num_q_heads}-h{self.num_kv_heads}-dk{self.key_dim}"
                f"-dv{self.value_dim}-{self.dtype}")


def _cfg_dict(cfg: NSAConfig) -> dict:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}


def load_index(bundles: Path) -> list[Entry]:
    """The entries of bundles/index.json (validated)."""
    index = bundles / "index.json"
    if not index.exists():
        raise SystemExit(f"error: {index} not found (compile bundles with "
                         f"`python -m nsa_mlir.bundles --out {bundles} --preset check`)")
    entries = []
    for i, raw in enumerate(json.loads(index.read_text())):
        try:
            kind = raw["kind"]
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            if raw["dtype"] not in REL_TOL:
                raise ValueError(f"unknown dtype {raw['dtype']!r}")
            entries.append(Entry(
                name=raw["name"], kind=kind, config=raw["config"],
                cfg=NSAConfig(**raw["config_params"]),
                num_q_heads=int(raw["num_q_heads"]), num_kv_heads=int(raw["num_kv_heads"]),
                key_dim=int(raw["key_dim"]), value_dim=int(raw["value_dim"]),
                dtype=raw["dtype"], path=bundles / raw["name"]))
        except (KeyError, TypeError, ValueError) as error:
            raise SystemExit(f"error: {index} entry {i}: {error}")
    return entries


def select_entries(entries: list[Entry], filters: list[str], excludes: list[str]
                   ) -> list[Entry]:
    def wanted(e: Entry) -> bool:
        if filters and not any(f in e.name for f in filters):
            return False
        return not any(x in e.name for x in excludes)
    return [e for e in entries if wanted(e)]


def group_entries(entries: list[Entry]) -> dict[tuple, list[Entry]]:
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.group_key, []).append(e)
    for members in groups.values():
        members.sort(key=lambda e: RUN_ORDER.index(e.kind))
    return groups


def case_list(args) -> list[tuple[int, int]]:
    if args.T:
        ts = sorted({int(x) for x in args.T.split(",")})
    else:
        ts = list(T_QUICK if args.quick else T_FULL)
    if args.max_T is not None:
        ts = [t for t in ts if t <= args.max_T]
    bs = sorted({int(x) for x in args.B.split(",")}) if args.B else list(B_VALUES)
    return [(t, b) for t in ts for b in bs]


def ties_applicable(cfg: NSAConfig) -> bool:
    """The exact-tie case needs scores that tie exactly in any summation order:
    selection weights all 0 or 1 with one compressed block per selection block."""
    if cfg.score_mapping == "identity":
        return True
    return cfg.cmp_block == cfg.cmp_stride == cfg.slc_block


# --------------------------------------------------------------------------------------
# Inputs and reference
# --------------------------------------------------------------------------------------


def case_seed(group_name: str, T: int, B: int, variant: str) -> int:
    return zlib.crc32(f"{group_name}|T={T}|B={B}|{variant}".encode())


def make_inputs(e: Entry, T: int, B: int, variant: str, device) -> dict:
    """q, k, v, g in the bundle's dtype (seeded per case)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(case_seed(e.group_name, T, B, variant))
    H, Hq, Dk, Dv = e.num_kv_heads, e.num_q_heads, e.key_dim, e.value_dim
    G = Hq // H

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device=device, dtype=torch.float32)

    q = Q_SCALE * (randn(B, T, H, 1, Dk) + randn(B, T, H, G, Dk)) / math.sqrt(2.0)
    q = q.reshape(B, T, Hq, Dk)
    if variant == "ties":
        # Keys constant in t: every compressed key is the same, so every candidate
        # block's score ties exactly and only the tie rule decides.
        k = randn(B, 1, H, Dk).expand(B, T, H, Dk).contiguous()
    else:
        blocks = -(-T // KEY_BLOCK)
        shared = randn(B, blocks, H, Dk).repeat_interleave(KEY_BLOCK, dim=1)[:, :T]
        k = (shared + randn(B, T, H, Dk)) / math.sqrt(2.0)
    v = randn(B, T, H, Dv)
    g = torch.sigmoid(randn(B, T, Hq, 3))
    dt = torch_dtype(e.dtype)
    return {"q": q.to(dt).contiguous(), "k": k.to(dt).contiguous(),
            "v": v.to(dt).contiguous(), "g": g.to(dt).contiguous()}


class Reference:
    """The float64 reference of one case, computed piece by piece on demand."""

    def __init__(self, inputs: dict, cfg: NSAConfig, chunk_bytes: int | None):
        self.q, self.k, self.v, self.g = (inputs[n].to(torch.float64) for n in "qkvg")
        self.cfg = cfg
        self.T = self.q.shape[1]
        self.chunk_bytes = chunk_bytes
        self._cache: dict = {}
        self.seconds = 0.0

    def _get(self, key, compute):
        if key not in self._cache:
            start = time.perf_counter()
            self._cache[key] = compute()
            if self.q.is_cuda:
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - start
        return self._cache[key]

    def kc_vc(self):
        return self._get("kcvc", lambda: rt.compress(self.k, self.v, self.cfg))

    def cmp(self):
        def compute():
            kc, vc = self.kc_vc()
            return rt.compressed_branch(self.q, kc, vc, self.cfg, self.T, with_scores=True,
                                        chunk_bytes=self.chunk_bytes)
        return self._get("cmp", compute)

    def indices(self):
        return self._get("indices", lambda: rt.select_blocks(
            self.cmp()["score"], self.cfg, self.T, chunk_bytes=self.chunk_bytes))

    def slc(self, indices=None):
        if indices is None:
            return self._get("slc", lambda: rt.selected_attention(
                self.q, self.k, self.v, self.indices(), self.cfg,
                chunk_bytes=self.chunk_bytes))
        start = time.perf_counter()
        result = rt.selected_attention(self.q, self.k, self.v, indices, self.cfg,
                                       chunk_bytes=self.chunk_bytes)
        self.seconds += time.perf_counter() - start
        return result

    def win(self):
        return self._get("win", lambda: rt.window_attention(
            self.q, self.k, self.v, self.cfg, chunk_bytes=self.chunk_bytes))

    def score_tol(self, dtype: str) -> torch.Tensor:
        """Per-block tolerance of the selection scores (see SELECT_SLACK)."""
        def compute():
            score = self.cmp()["score"]
            tol = SELECT_SLACK[dtype] * score
            if dtype != "f32":
                kc, vc = self.kc_vc()
                dt = torch_dtype(dtype)
                model = rt.compressed_branch(
                    self.q, kc.to(dt).to(torch.float64), vc[..., :0], self.cfg, self.T,
                    with_scores=True, chunk_bytes=self.chunk_bytes)["score"]
                tol = tol + (model - score).abs()
            return tol
        return self._get(("tol", dtype), compute)

    def combine(self, o_slc):
        return rt.combine(self.cmp()["o"], o_slc, self.win()[0], self.g)

    def o(self):
        return self._get("o", lambda: self.combine(self.slc()[0]))


# --------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------


def _index(flat: int, shape) -> list[int]:
    out = []
    for extent in reversed(shape):
        out.append(flat % extent if extent else 0)
        flat //= max(extent, 1)
    return list(reversed(out))


@dataclass
class Check:
    """The outcome of one output's comparison."""
    metrics: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    bad_rows: torch.Tensor | None = None  # bool over the leading dims


def compare_dense(name: str, out: torch.Tensor, ref: torch.Tensor, dtype: str,
                  excuse: torch.Tensor | None = None) -> Check:
    """A float output [..., D] against ref: NaN/Inf, relative norm, per-row max error.
    Rows in `excuse` (bool over the leading dims) are left out of the norm and the
    row check (the caller accounts for them)."""
    c = Check()
    if tuple(out.shape) != tuple(ref.shape):
        c.problems.append(f"{name}: shape {tuple(out.shape)} != reference {tuple(ref.shape)}")
        return c
    if out.numel() == 0:
        c.metrics = {"rel": 0.0, "max_abs": 0.0, "row_ratio": 0.0, "numel": 0}
        c.bad_rows = torch.zeros(out.shape[:-1], dtype=torch.bool, device=out.device)
        return c
    o64 = out.to(torch.float64)
    nonfinite = ~torch.isfinite(o64)
    n_nonfinite = int(nonfinite.sum())
    keep = None if excuse is None else ~excuse
    err = o64 - ref
    ref_kept = ref
    if keep is not None:
        err = torch.where(keep[..., None], err, torch.zeros_like(err))
        ref_kept = torch.where(keep[..., None], ref, torch.zeros_like(ref))
    ref_norm = float(torch.linalg.vector_norm(ref_kept))
    err_finite = torch.where(torch.isfinite(err), err, torch.zeros_like(err))
    err_norm = float(torch.linalg.vector_norm(err_finite))
    rel = err_norm / ref_norm if ref_norm > 0 else err_norm
    rms = ref_norm / math.sqrt(max(ref_kept.numel(), 1))
    row_err = err.abs().amax(dim=-1)  # NaN rows stay NaN
    row_ref = ref.abs().amax(dim=-1)
    bound = ROW_TOL[dtype] * torch.clamp(row_ref, min=max(rms, 1e-30))
    ratio = row_err / bound
    bad = ~(ratio <= 1.0)  # NaN counts as bad
    if keep is not None:
        bad &= keep
    ratio_kept = torch.where(torch.isnan(ratio), torch.full_like(ratio, math.inf), ratio)
    if keep is not None:
        ratio_kept = ratio_kept * keep
    worst = int(torch.argmax(ratio_kept.reshape(-1)))
    c.metrics = {"rel": rel, "max_abs": float(torch.nan_to_num(
        err.abs(), nan=math.inf).max()), "row_ratio": float(ratio_kept.reshape(-1)[worst]),
        "worst_row": _index(worst, ratio.shape), "bad_rows": int(bad.sum()),
        "nonfinite": n_nonfinite}
    c.bad_rows = bad
    if n_nonfinite:
        first = _index(int(torch.argmax(nonfinite.reshape(-1).to(torch.int8))), out.shape)
        c.problems.append(f"{name}: {n_nonfinite} NaN/Inf entries, first at {first}")
    if not rel < REL_TOL[dtype]:
        c.problems.append(f"{name}: ||out - ref|| / ||ref|| = {rel:.3e} >= {REL_TOL[dtype]}")
    if int(bad.sum()):
        w = c.metrics["worst_row"]
        c.problems.append(
            f"{name}: {int(bad.sum())} rows with max|err| > {ROW_TOL[dtype]} * "
            f"max(max|ref row|, rms); worst row {w}: max|err| = "
            f"{float(row_err[tuple(w)]):.3e}, max|ref row| = {float(row_ref[tuple(w)]):.3e}")
    return c


def compare_lse(name: str, out: torch.Tensor, ref: torch.Tensor, dtype: str,
                excuse: torch.Tensor | None = None) -> Check:
    """A log-sum-exp [B, T, Hq] against ref: no NaN/+inf, -inf exactly where the
    reference's is, relative norm and per-entry error on the finite entries."""
    c = Check()
    if tuple(out.shape) != tuple(ref.shape):
        c.problems.append(f"{name}: shape {tuple(out.shape)} != reference {tuple(ref.shape)}")
        return c
    o64 = out.to(torch.float64)
    bad_value = torch.isnan(o64) | torch.isposinf(o64)
    ref_empty, out_empty = torch.isneginf(ref), torch.isneginf(o64)
    empty_mismatch = ref_empty != out_empty
    finite = ~ref_empty & ~out_empty & ~bad_value
    keep = finite if excuse is None else finite & ~excuse
    err = torch.where(keep, o64 - ref, torch.zeros_like(ref))
    ref_f = torch.where(keep, ref, torch.zeros_like(ref))
    ref_norm = float(torch.linalg.vector_norm(ref_f))
    err_norm = float(torch.linalg.vector_norm(err))
    rel = err_norm / ref_norm if ref_norm > 0 else err_norm
    bound = LSE_TOL[dtype] * torch.clamp(ref_f.abs(), min=1.0)
    over = err.abs() > bound
    bad = over | bad_value | empty_mismatch
    if excuse is not None:
        bad &= ~excuse | bad_value | empty_mismatch
    ratio = err.abs() / bound
    worst = int(torch.argmax(ratio.reshape(-1))) if ratio.numel() else 0
    c.metrics = {"rel": rel, "max_abs": float(err.abs().max()) if err.numel() else 0.0,
                 "row_ratio": float(ratio.reshape(-1)[worst]) if ratio.numel() else 0.0,
                 "worst_row": _index(worst, ratio.shape) if ratio.numel() else [],
                 "bad_rows": int(bad.sum()), "nonfinite": int(bad_value.sum()),
                 "neginf_mismatch": int(empty_mismatch.sum()),
                 "neginf": int(ref_empty.sum())}
    c.bad_rows = bad
    if int(bad_value.sum()):
        first = _index(int(torch.argmax(bad_value.reshape(-1).to(torch.int8))), out.shape)
        c.problems.append(f"{name}: {int(bad_value.sum())} NaN/+inf entries, first at {first}")
    if int(empty_mismatch.sum()):
        first = _index(int(torch.argmax(empty_mismatch.reshape(-1).to(torch.int8))),
                       out.shape)
        c.problems.append(
            f"{name}: -inf differs from the reference at {int(empty_mismatch.sum())} entries, "
            f"first {first}: kernel {float(o64[tuple(first)])}, reference "
            f"{float(ref[tuple(first)])}")
    if not rel < REL_TOL[dtype]:
        c.problems.append(f"{name}: ||out - ref|| / ||ref|| = {rel:.3e} >= {REL_TOL[dtype]}")
    n_over = int(over.sum() if excuse is None else (over & ~excuse).sum())
    if n_over:
        w = c.metrics["worst_row"]
        c.problems.append(
            f"{name}: {n_over} entries with |err| > {LSE_TOL[dtype]} * max(1, |ref|); "
            f"worst {w}: kernel {float(o64[tuple(w)]):.6g}, reference {float(ref[tuple(w)]):.6g}")
    return c


@dataclass
class Selection:
    """Row-wise comparison of a kernel's selected sets with the reference's."""
    same: torch.Tensor  # [B, T, H] sets equal and format exact
    legit: torch.Tensor  # differs, but consistent with the scores within tolerance
    bad: torch.Tensor  # differs and not explainable (or bad format)
    ambiguous: torch.Tensor  # the reference's own choice is within tolerance of a swap
    format_bad: torch.Tensor
    metrics: dict
    problems: list


def compare_selection(kernel: torch.Tensor, ref_idx: torch.Tensor, score: torch.Tensor,
                      cfg: NSAConfig, tol: torch.Tensor | None, exact: bool = False
                      ) -> Selection:
    """kernel, ref_idx [B, T, H, n] (int), score and tol [B, T, H, Ns] (reference,
    float64; tol the per-block score tolerance). A kernel row whose set differs is a
    legitimate difference iff some perturbation of the scores within tol makes it the
    top choice; the reference's row is ambiguous iff one makes another set the top
    choice. exact: no tolerance, every difference fails (the exact-tie case)."""
    problems = []
    if tuple(kernel.shape) != tuple(ref_idx.shape):
        z = torch.zeros(ref_idx.shape[:3], dtype=torch.bool, device=ref_idx.device)
        return Selection(z, z, ~z, z, ~z, {"rows": int(z.numel())},
                         [f"indices: shape {tuple(kernel.shape)} != {tuple(ref_idx.shape)}"])
    B, T, H, n = ref_idx.shape
    Ns = score.shape[-1]
    device = score.device
    t = torch.arange(T, device=device)
    forced = rt.forced_block_mask(t, Ns, cfg)[None, :, None, :]
    visible = rt.visible_block_mask(t, Ns, cfg)[None, :, None, :]
    cand = visible & ~forced
    expected_count = torch.clamp(visible.sum(-1), max=n)  # [1, T, 1]
    own = torch.div(t, cfg.slc_block, rounding_mode="floor")[None, :, None, None]

    kv = kernel.to(torch.int64)
    valid = kv >= 0
    fmt = torch.zeros((B, T, H), dtype=torch.bool, device=device)
    fmt |= (valid[..., 1:] & ~valid[..., :-1]).any(-1)  # an index after padding
    fmt |= (~valid & (kv != -1)).any(-1)  # padding other than -1 (e.g. unwritten)
    fmt |= (valid[..., 1:] & valid[..., :-1] & (kv[..., 1:] <= kv[..., :-1])).any(-1)
    fmt |= (valid & (kv > own)).any(-1)  # a block not visible (or >= Ns)
    fmt |= valid.sum(-1) != expected_count

    def as_mask(idx):
        ok = (idx >= 0) & (idx < Ns)
        m = torch.zeros((B, T, H, Ns + 1), dtype=torch.bool, device=device)
        m.scatter_(-1, torch.where(ok, idx, torch.full_like(idx, Ns)), True)
        return m[..., :Ns]

    km, rm = as_mask(kv), as_mask(ref_idx.to(torch.int64))
    same = (km == rm).all(-1) & ~fmt

    if exact or tol is None:
        tol = torch.zeros_like(score)
    inf = torch.tensor(math.inf, dtype=score.dtype, device=device)

    def lowest_chosen(m, shift):  # min over chosen candidates of score + shift
        return torch.where(m & cand, score + shift, inf).amin(-1)

    def highest_unchosen(m, shift):  # max over unchosen candidates of score + shift
        return torch.where(cand & ~m, score + shift, -inf).amax(-1)

    # The kernel's set is consistent if its chosen candidates, pushed up by their
    # tolerance, can all beat its unchosen ones pushed down.
    consistent = ~fmt & ~(forced & ~km).any(-1) & (
        lowest_chosen(km, tol) >= highest_unchosen(km, -tol))
    if exact:
        consistent &= False
    # The reference's row is ambiguous if an unchosen candidate pushed up can reach a
    # chosen one pushed down.
    r_lo, r_hi = lowest_chosen(rm, -tol), highest_unchosen(rm, tol)
    ambiguous = torch.isfinite(r_lo) & torch.isfinite(r_hi) & (r_hi >= r_lo)
    legit = ~same & consistent
    bad = ~same & ~consistent
    metrics = {"rows": B * T * H, "ambiguous": 0 if exact else int(ambiguous.sum()),
               "exact_tie_rows": int(ambiguous.sum()) if exact else 0, "same": int(same.sum()),
               "legit_diff": int(legit.sum()), "bad": int(bad.sum()),
               "format_bad": int(fmt.sum()), "exact": bool(exact)}
    if int(bad.sum()):
        first = _index(int(torch.argmax(bad.reshape(-1).to(torch.int8))), bad.shape)
        b, tt, h = first
        row_k = kv[b, tt, h].tolist()
        row_r = ref_idx[b, tt, h].tolist()
        detail = (f"first [b, t, h] = {first}: kernel {row_k}, reference {row_r}")
        if bool(fmt[b, tt, h]):
            detail += " (format: ascending, -1 padded, forced blocks, count "
            detail += f"{int(expected_count[0, tt, 0])})"
        else:
            extra = sorted(set(row_k) - set(row_r))
            missing = sorted(set(row_r) - set(row_k))
            sc, tl = score[b, tt, h], tol[b, tt, h]
            show = lambda js: [f"{float(sc[j]):.6g}±{float(tl[j]):.2g}"  # noqa: E731
                               for j in js if 0 <= j < Ns]
            detail += (f"; kernel-only blocks {extra} scores {show(extra)}, "
                       f"reference-only {missing} scores {show(missing)}")
        problems.append(f"indices: {int(bad.sum())} of {B * T * H} rows select a different "
                        f"set than the reference{' (exact ties)' if exact else ''}, beyond the "
                        f"score tolerance ({int(fmt.sum())} with a bad format); {detail}")
    return Selection(same, legit, bad, ambiguous, fmt, metrics, problems)


def alternative_sets(score: torch.Tensor, tol: torch.Tensor, chosen: set, forced: set,
                     cands: list, cap: int = 64, max_tries: int = 4096) -> list[list[int]]:
    """The selections other than `chosen` (a row's reference set) that some perturbation
    of the scores within tol makes the top choice: swaps of chosen candidates near the
    boundary for unchosen ones near it. At most `cap` of them, from at most `max_tries`
    swaps tried (smallest swaps first)."""
    s, d = score.tolist(), tol.tolist()
    inside = [j for j in cands if j in chosen]
    outside = [j for j in cands if j not in chosen]
    if not inside or not outside:
        return []
    lowest = min(s[j] - d[j] for j in inside)
    highest = max(s[j] + d[j] for j in outside)
    droppable = [j for j in inside if s[j] - d[j] <= highest]
    enterable = [j for j in outside if s[j] + d[j] >= lowest]
    found = []
    tries = 0
    for size in range(1, min(len(droppable), len(enterable)) + 1):
        for drop in itertools.combinations(droppable, size):
            for add in itertools.combinations(enterable, size):
                tries += 1
                if tries > max_tries:
                    return found
                k = (chosen - set(drop)) | set(add)
                lo = min((s[j] + d[j] for j in cands if j in k), default=math.inf)
                hi = max((s[j] - d[j] for j in cands if j not in k), default=-math.inf)
                if lo >= hi:
                    found.append(sorted(k | forced))
                    if len(found) >= cap:
                        return found
    return found


def row_selected_attention(ref: "Reference", b: int, t: int, h: int, blocks: list):
    """o [G, Dv], lse [G] of the query heads of group h at (b, t) over the tokens s <= t
    of `blocks` (float64)."""
    cfg = ref.cfg
    H = ref.k.shape[2]
    G = ref.q.shape[2] // H
    positions = torch.tensor([p for j in sorted(blocks)
                              for p in range(j * cfg.slc_block, (j + 1) * cfg.slc_block)
                              if p <= t], dtype=torch.int64, device=ref.q.device)
    q = ref.q[b, t, h * G:(h + 1) * G]  # [G, Dk]
    keys, values = ref.k[b, positions, h], ref.v[b, positions, h]
    logits = (q @ keys.T) * cfg.softmax_scale(q.shape[-1])
    lse = torch.logsumexp(logits, dim=-1)
    return torch.softmax(logits, dim=-1) @ values, lse


# --------------------------------------------------------------------------------------
# Running bundles
# --------------------------------------------------------------------------------------


class CudaFault(Exception):
    """A kernel fault that left the CUDA context unusable."""


def _context_alive() -> bool:
    try:
        torch.cuda.synchronize()
        torch.zeros(1, device="cuda").add_(1).item()
        return True
    except Exception:
        return False


class RuntimeRunner:
    """Runs a bundle through libnsa_runtime (outputs NaN / sentinel pre-filled)."""

    def __init__(self, entry: Entry, sync_each_launch: bool = False, prefer_ptx: bool = False):
        from nsa_mlir import runtime
        self.entry = entry
        self.bundle = runtime.load_bundle(entry.path, prefer_ptx=prefer_ptx,
                                          sync_each_launch=sync_each_launch)
        names = tuple(t.name for t in self.bundle.inputs)
        if names != KIND_INPUTS[entry.kind]:
            raise ValueError(f"bundle inputs {names}, expected {KIND_INPUTS[entry.kind]} "
                             f"for kind {entry.kind!r}")
        if len(self.bundle.outputs) != len(KIND_OUTPUTS[entry.kind]):
            raise ValueError(f"bundle has {len(self.bundle.outputs)} outputs, expected "
                             f"{len(KIND_OUTPUTS[entry.kind])} {KIND_OUTPUTS[entry.kind]}")
        want = [("f32" if name.startswith("lse") else "i32" if name == "indices"
                 else entry.dtype) for name in KIND_OUTPUTS[entry.kind]]
        got = [t.dtype for t in self.bundle.outputs]
        want_in = [("i32" if name == "indices" else entry.dtype)
                   for name in KIND_INPUTS[entry.kind]]
        got_in = [t.dtype for t in self.bundle.inputs]
        if got != want or got_in != want_in:
            raise ValueError(f"bundle dtypes: inputs {got_in}, outputs {got}; expected "
                             f"inputs {want_in}, outputs {want} "
                             f"{KIND_OUTPUTS[entry.kind]}")

    def run(self, inputs: list) -> tuple[list, float]:
        outs = self.bundle.allocate_outputs(inputs, fill=float("nan"), int_fill=INT_SENTINEL)
        torch.cuda.synchronize()
        start = time.perf_counter()
        self.bundle.run(inputs, outs)  # NsaRuntimeError: a checked, recoverable error
        try:
            torch.cuda.synchronize()
        except Exception as error:
            if not _context_alive():
                raise CudaFault(f"{type(error).__name__}: {error}") from error
            raise
        return outs, (time.perf_counter() - start) * 1e3

    def close(self):
        self.bundle.close()


class SimulatedRunner:
    """Stands in for a bundle without a GPU (--simulate): the torch reference on the
    (rounded) inputs, with kc, vc rounded to the dtype before use, as the kernels'
    buffers are, and the outputs cast to the bundle's output dtypes. Tests the
    harness, not the compiler."""

    def __init__(self, entry: Entry, **_):
        self.entry = entry

    def run(self, inputs: list) -> tuple[list, float]:
        e, cfg = self.entry, self.entry.cfg
        dt = torch_dtype(e.dtype)
        start = time.perf_counter()
        q, k, v = (x.to(torch.float64) for x in inputs[:3])
        T = q.shape[1]
        kc, vc = rt.compress(k, v, cfg)
        kc, vc = kc.to(dt).to(torch.float64), vc.to(dt).to(torch.float64)
        if e.kind in ("compressed", "select", "attention"):
            cmp = rt.compressed_branch(q, kc, vc, cfg, T)
        if e.kind == "compressed":
            outs = [cmp["o"].to(dt), cmp["lse"].float(), kc.to(dt), vc.to(dt)]
        elif e.kind == "select":
            outs = [rt.select_blocks(cmp["score"], cfg, T)]
        elif e.kind == "selected":
            o, lse = rt.selected_attention(q, k, v, inputs[3], cfg)
            outs = [o.to(dt), lse.float()]
        elif e.kind == "window":
            o, lse = rt.window_attention(q, k, v, cfg)
            outs = [o.to(dt), lse.float()]
        else:
            idx = rt.select_blocks(cmp["score"], cfg, T)
            o_s, l_s = rt.selected_attention(q, k, v, idx, cfg)
            o_w, l_w = rt.window_attention(q, k, v, cfg)
            o = rt.combine(cmp["o"], o_s, o_w, inputs[3].to(torch.float64))
            outs = [o.to(dt), cmp["lse"].float(), l_s.float(), l_w.float()]
        return outs, (time.perf_counter() - start) * 1e3

    def close(self):
        pass


# --------------------------------------------------------------------------------------
# Per-kind checks
# --------------------------------------------------------------------------------------


def _merge(result: dict, name: str, check: Check) -> None:
    result["metrics"][name] = check.metrics
    result["problems"].extend(check.problems)


def check_kind(e: Entry, inputs: dict, ref: Reference, runner, helpers: dict,
               variant: str) -> dict:
    """Runs one bundle on one case and compares. helpers: {"select": runner} for the
    attention kind's selection check, and a cache "kernel_indices" of this case."""
    result = {"metrics": {}, "problems": [], "notes": []}
    kind, dt = e.kind, e.dtype
    args = [inputs[name] if name != "indices" else ref.indices()
            for name in KIND_INPUTS[kind]]
    outs, kernel_ms = runner.run(args)
    result["kernel_ms"] = round(kernel_ms, 3)
    expected_outputs = len(KIND_OUTPUTS[kind])
    if len(outs) != expected_outputs:
        result["problems"].append(f"{len(outs)} outputs, expected {expected_outputs}")
        return result

    if kind == "compressed":
        cmp = ref.cmp()
        kc, vc = ref.kc_vc()
        _merge(result, "o", compare_dense("o", outs[0], cmp["o"], dt))
        _merge(result, "lse", compare_lse("lse", outs[1], cmp["lse"], dt))
        _merge(result, "kc", compare_dense("kc", outs[2], kc, dt))
        _merge(result, "vc", compare_dense("vc", outs[3], vc, dt))
    elif kind == "window":
        o, lse = ref.win()
        _merge(result, "o", compare_dense("o", outs[0], o, dt))
        _merge(result, "lse", compare_lse("lse", outs[1], lse, dt))
    elif kind == "selected":
        o, lse = ref.slc()
        _merge(result, "o", compare_dense("o", outs[0], o, dt))
        _merge(result, "lse", compare_lse("lse", outs[1], lse, dt))
        # The same lists reversed (not ascending) with the first slot repeating
        # the last: a block listed twice counts once, and the kernel finds the
        # repeat by scanning the earlier slots.
        listed = torch.flip(ref.indices(), [-1]).contiguous()
        listed[..., 0] = listed[..., -1]
        args[KIND_INPUTS[kind].index("indices")] = listed
        outs, _ = runner.run(args)
        o, lse = ref.slc(listed)
        _merge(result, "o_repeated", compare_dense("o_repeated", outs[0], o, dt))
        _merge(result, "lse_repeated", compare_lse("lse_repeated", outs[1], lse, dt))
    elif kind == "select":
        score = ref.cmp()["score"]
        ref_idx = ref.indices()
        if variant == "ties":
            # Every candidate ties exactly in exact arithmetic; float64 rounding in the
            # reference's matrix products may still split them by an ulp, so the
            # expected choice comes from scores quantized to 2^-30 of the row maximum.
            top = score.amax(-1, keepdim=True).clamp(min=1e-300)
            quantized = torch.round(score / top * 2.0 ** 30)
            ref_idx = rt.select_blocks(quantized, e.cfg, ref.T)
            score = quantized
        else:
            helpers["kernel_indices"] = outs[0]
        tol = None if variant == "ties" else ref.score_tol(dt)
        sel = compare_selection(outs[0], ref_idx, score, e.cfg, tol,
                                exact=(variant == "ties"))
        result["metrics"]["indices"] = sel.metrics
        result["problems"].extend(sel.problems)
    else:
        check_attention(e, inputs, ref, outs, helpers, result)
    return result


# Ambiguous failing group rows per attention case that are tried against other
# selections consistent with the scores; the rest of them stand as failures.
MAX_ALTERNATIVE_ROWS = 1024


def check_attention(e: Entry, inputs: dict, ref: Reference, outs: list, helpers: dict,
                    result: dict, max_rows: int = MAX_ALTERNATIVE_ROWS) -> None:
    dt, cfg = e.dtype, e.cfg
    H = e.num_kv_heads
    G = e.num_q_heads // H
    ref_idx = ref.indices()
    score, tol = ref.cmp()["score"], ref.score_tol(dt)
    kernel_idx = helpers.get("kernel_indices")
    if kernel_idx is None and helpers.get("select") is not None:
        helper = helpers["select"]
        try:
            kernel_idx = helper.run([inputs["q"], inputs["k"], inputs["v"]])[0][0]
        except CudaFault as error:
            raise CudaFault(f"in the select bundle {helper.entry.name} run for the "
                            f"selection check: {error}") from error
        helpers["kernel_indices"] = kernel_idx
    o_slc, lse_slc = ref.slc()
    if kernel_idx is not None:
        sel = compare_selection(kernel_idx, ref_idx, score, cfg, tol)
        result["metrics"]["selection"] = dict(sel.metrics, source="select bundle")
        result["problems"].extend(f"selection (select bundle): {p}" for p in sel.problems)
        if int(sel.legit.sum()):
            # The reference again with the select bundle's choice on the rows where it
            # differs legitimately; strict thresholds against that.
            mixed = torch.where(sel.legit[..., None], kernel_idx.to(ref_idx.dtype), ref_idx)
            o_slc, lse_slc = ref.slc(mixed)
            result["notes"].append(f"{int(sel.legit.sum())} group rows compared with the "
                                   "reference recomputed on the select bundle's choice")
    else:
        # No select bundle: only the reference's own ambiguity is known.
        sel = compare_selection(ref_idx, ref_idx, score, cfg, tol)
        result["metrics"]["selection"] = {"source": "none (no select bundle in the index)",
                                          "ambiguous": int(sel.ambiguous.sum()),
                                          "rows": int(sel.ambiguous.numel())}
    o_exp = ref.combine(o_slc)
    _merge(result, "lse_cmp", compare_lse("lse_cmp", outs[1], ref.cmp()["lse"], dt))
    _merge(result, "lse_win", compare_lse("lse_win", outs[3], ref.win()[1], dt))
    c_o = compare_dense("o", outs[0], o_exp, dt)
    c_ls = compare_lse("lse_slc", outs[2], lse_slc, dt)
    excused = None
    if c_o.bad_rows is not None and c_ls.bad_rows is not None and (
            int(c_o.bad_rows.sum()) or int(c_ls.bad_rows.sum())):
        B, T, Hq = c_ls.bad_rows.shape
        failing = (c_o.bad_rows | c_ls.bad_rows).reshape(B, T, H, G).any(-1)
        rows = (failing & sel.ambiguous).nonzero().tolist()
        if rows:
            excused = match_alternatives(ref, outs, rows[:max_rows], score, tol, dt, o_exp,
                                         result)
            if len(rows) > max_rows:
                result["notes"].append(f"{len(rows) - max_rows} more ambiguous failing rows "
                                       "not tried against alternative selections")
            c_o = compare_dense("o", outs[0], o_exp, dt, excuse=excused)
            c_ls = compare_lse("lse_slc", outs[2], lse_slc, dt, excuse=excused)
    _merge(result, "o", c_o)
    _merge(result, "lse_slc", c_ls)


def match_alternatives(ref: Reference, outs: list, rows: list, score, tol, dt: str,
                       o_exp: torch.Tensor, result: dict) -> torch.Tensor:
    """For group rows (b, t, h) whose reference selection is ambiguous and whose o or
    lse_slc fails: is the kernel's output that of another selection consistent with the
    scores within tolerance? Returns the [B, T, Hq] rows to excuse (those that match
    one, strictly); counts go to result["metrics"]["alternatives"]."""
    cfg = ref.cfg
    B, T, Hq = outs[2].shape
    H = ref.k.shape[2]
    G = Hq // H
    n_slc = score.shape[-1]
    rms = float(torch.linalg.vector_norm(o_exp)) / math.sqrt(max(o_exp.numel(), 1))
    o_cmp, o_win, g = ref.cmp()["o"], ref.win()[0], ref.g
    excused = torch.zeros((B, T, Hq), dtype=torch.bool, device=outs[2].device)
    matched = tried_sets = 0
    unmatched = []
    for b, t, h in rows:
        tt = torch.tensor([t], device=score.device)
        forced = set(rt.forced_block_mask(tt, n_slc, cfg)[0].nonzero().flatten().tolist())
        visible = rt.visible_block_mask(tt, n_slc, cfg)[0].nonzero().flatten().tolist()
        cands = [j for j in visible if j not in forced]
        chosen = set(ref.indices()[b, t, h].tolist()) - {-1}
        heads = slice(h * G, (h + 1) * G)
        o_k = outs[0][b, t, heads].to(torch.float64)
        l_k = outs[2][b, t, heads].to(torch.float64)
        ok = False
        for blocks in alternative_sets(score[b, t, h], tol[b, t, h], chosen, forced, cands):
            tried_sets += 1
            o_s, l_s = row_selected_attention(ref, b, t, h, blocks)
            gg = g[b, t, heads]
            o_alt = gg[:, 0:1] * o_cmp[b, t, heads] + gg[:, 1:2] * o_s + gg[:, 2:3] * o_win[
                b, t, heads]
            o_bound = ROW_TOL[dt] * torch.clamp(o_alt.abs().amax(-1), min=max(rms, 1e-30))
            l_bound = LSE_TOL[dt] * torch.clamp(l_s.abs(), min=1.0)
            if bool(((o_k - o_alt).abs().amax(-1) <= o_bound).all()) and bool(
                    ((l_k - l_s).abs() <= l_bound).all()):
                ok = True
                break
        if ok:
            matched += 1
            excused[b, t, heads] = True
        elif len(unmatched) < 5:
            unmatched.append([b, t, h])
    result["metrics"]["alternatives"] = {"rows": len(rows), "matched": matched,
                                         "sets_tried": tried_sets}
    if matched:
        result["notes"].append(f"{matched} ambiguous group rows match another selection "
                               "consistent with the scores (not the reference's)")
    if len(rows) > matched:
        result["notes"].append(f"{len(rows) - matched} ambiguous group rows match no "
                               f"consistent selection, e.g. {unmatched}")
    return excused


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


class Harness:
    def __init__(self, args):
        self.args = args
        self.start = time.perf_counter()
        self.device = "cpu" if args.simulate and not torch.cuda.is_available() else "cuda"
        self.results: dict[str, dict] = {}
        self.faulted: list[dict] = []
        self.last_write = 0.0
        self.meta = {}
        self.crosscheck = None
        self.aborted = None

    # -- bookkeeping ---------------------------------------------------------------

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def bundle_record(self, e: Entry) -> dict:
        if e.name not in self.results:
            self.results[e.name] = {
                "name": e.name, "kind": e.kind, "config": e.config, "dtype": e.dtype,
                "num_q_heads": e.num_q_heads, "num_kv_heads": e.num_kv_heads,
                "key_dim": e.key_dim, "value_dim": e.value_dim, "cases": []}
        return self.results[e.name]

    def done(self, e: Entry, case_id: str) -> bool:
        rec = self.results.get(e.name)
        return bool(rec) and any(c["case"] == case_id and c["status"] in ("pass", "fail")
                                 for c in rec["cases"])

    def record(self, e: Entry, case: dict) -> None:
        rec = self.bundle_record(e)
        rec["cases"] = [c for c in rec["cases"] if c["case"] != case["case"]] + [case]

    def summary(self) -> dict:
        counts = {"pass": 0, "fail": 0, "skipped": 0}
        for rec in self.results.values():
            for c in rec["cases"]:
                counts[c["status"]] = counts.get(c["status"], 0) + 1
        return {"bundles": len(self.results), "cases_passed": counts["pass"],
                "cases_failed": counts["fail"], "cases_skipped": counts["skipped"],
                "elapsed_s": round(self.elapsed(), 1),
                "incomplete": counts["skipped"] > 0 or self.aborted is not None}

    def write_json(self, force: bool = False) -> None:
        if not self.args.json or (not force and time.perf_counter() - self.last_write < 10):
            return
        self.last_write = time.perf_counter()
        data = {"meta": self.meta, "crosscheck": self.crosscheck,
                "thresholds": {"rel": REL_TOL, "row": ROW_TOL, "lse": LSE_TOL,
                               "select_slack": SELECT_SLACK},
                "summary": self.summary(), "aborted": self.aborted, "faulted": self.faulted,
                "bundles": list(self.results.values())}
        path = Path(self.args.json)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=_json_default))
        tmp.replace(path)

    def log(self, message: str) -> None:
        print(message, flush=True)

    # -- phases --------------------------------------------------------------------

    def collect_meta(self) -> None:
        self.meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": os.environ.get("NSA_COMMIT", ""),
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "device": (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                       else "cpu (simulated)"),
            "python": platform.python_version(), "host": platform.node(),
            "argv": sys.argv[1:], "bundles_dir": str(self.args.bundles),
            "simulate": bool(self.args.simulate),
            "runtime_lib": os.environ.get("NSA_RUNTIME_LIB", ""),
        }

    def resume(self, path: Path) -> None:
        prev = json.loads(Path(path).read_text())
        for rec in prev.get("bundles", []):
            rec["cases"] = [c for c in rec["cases"] if c["status"] in ("pass", "fail")]
            self.results[rec["name"]] = rec
        self.faulted = prev.get("faulted", [])
        if prev.get("crosscheck"):
            self.crosscheck = prev["crosscheck"]
        self.log(f"resuming from {path}: {sum(len(r['cases']) for r in self.results.values())} "
                 f"cases done, excluded after a CUDA fault: "
                 f"{[f['bundle'] for f in self.faulted] or 'none'}")

    def run_crosscheck(self) -> bool:
        start = time.perf_counter()
        device = self.device
        problems = rt.crosscheck(device)
        self.crosscheck = {"ok": not problems, "problems": problems, "device": device,
                           "cases": len(rt.CROSSCHECK_CASES),
                           "seconds": round(time.perf_counter() - start, 2)}
        status = "OK" if not problems else "FAILED"
        self.log(f"reference cross-check (torch on {device} vs NumPy, "
                 f"{len(rt.CROSSCHECK_CASES)} cases): {status}")
        for p in problems:
            self.log(f"  MISMATCH {p}")
        return not problems

    def run(self, entries: list[Entry], all_entries: list[Entry]) -> int:
        args = self.args
        cases = case_list(args)
        groups = group_entries(entries)
        faulted_names = {f["bundle"] for f in self.faulted}
        select_by_group = {e.group_key: e for e in all_entries if e.kind == "select"}
        lacking = {e.group_key for e in entries if e.kind == "attention"} - set(select_by_group)
        if lacking:
            # Without it the kernel's own choice is unknown where the selection is
            # ambiguous: long cases can fail on near-ties, not on the kernel.
            self.log(f"warning: {len(lacking)} attention shape group(s) have no select "
                     "bundle in the index: their near-tie selections are only excused "
                     f"by trying alternatives, for at most {MAX_ALTERNATIVE_ROWS} failing "
                     "rows per case; build the check set with the select kind too")
        plan = []  # (T, B, variant, group key)
        for T, B in cases:
            for key in groups:
                plan.append((T, B, "random", key))
        ties_T = T_TIES if (args.max_T is None or args.max_T >= T_TIES) and not args.quick \
            and not args.T else None
        if ties_T and not args.no_ties:
            for key, members in groups.items():
                if any(m.kind == "select" for m in members) and ties_applicable(members[0].cfg):
                    plan.append((ties_T, 2, "ties", key))
        plan.sort(key=lambda item: item[0])  # cheap cases first (stable otherwise)
        self.log(f"{len(entries)} bundles in {len(groups)} shape groups, "
                 f"{len(cases)} cases each ({', '.join(f'T={t} B={b}' for t, b in cases)})"
                 + (f", plus an exact-tie case T={ties_T} for select bundles of 0/1-mapped "
                    "configs" if ties_T and not args.no_ties else ""))
        Runner = SimulatedRunner if args.simulate else RuntimeRunner
        bad_bundles: dict[str, str] = {}
        for T, B, variant, key in plan:
            members = [m for m in groups[key] if variant == "random" or m.kind == "select"]
            case_id = f"T={T} B={B}" + ("" if variant == "random" else f" {variant}")
            todo = [m for m in members if not self.done(m, case_id)]
            if not todo:
                continue
            reason = None
            if self.aborted:
                reason = "not run: the run stopped after a CUDA fault (rerun with --resume)"
            elif args.time_budget and self.elapsed() > args.time_budget:
                reason = "time budget"
            if reason:
                for m in todo:
                    self.record(m, {"case": case_id, "T": T, "B": B, "variant": variant,
                                    "status": "skipped", "reason": reason})
                continue
            self.run_group_case(key, todo, T, B, variant, case_id, Runner, select_by_group,
                                faulted_names, bad_bundles)
            self.write_json()
        return 0

    def run_group_case(self, key, members, T, B, variant, case_id, Runner, select_by_group,
                       faulted_names, bad_bundles) -> None:
        args = self.args
        first = members[0]
        line = []
        try:
            inputs = make_inputs(first, T, B, variant, self.device)
            ref = Reference(inputs, first.cfg, args.chunk_bytes)
        except torch.cuda.OutOfMemoryError as error:
            for m in members:
                self.record(m, {"case": case_id, "T": T, "B": B, "variant": variant,
                                "status": "fail", "problems": [f"inputs: {error}"]})
            torch.cuda.empty_cache()
            return
        helpers: dict = {}
        select_entry = select_by_group.get(key)
        helper_runner = None
        for m in members:
            case = {"case": case_id, "T": T, "B": B, "variant": variant}
            if m.name in faulted_names:
                case.update(status="skipped", reason="excluded after a CUDA fault")
                self.record(m, case)
                continue
            if m.name in bad_bundles:
                case.update(status="fail", problems=[bad_bundles[m.name]])
                self.record(m, case)
                line.append(f"{m.kind}:LOAD")
                continue
            runner = None
            try:
                runner = Runner(m, sync_each_launch=args.sync_each_launch,
                                prefer_ptx=args.prefer_ptx)
                if m.kind == "attention" and "kernel_indices" not in helpers and \
                        select_entry is not None and select_entry.name not in faulted_names:
                    helper_runner = Runner(select_entry, sync_each_launch=args.sync_each_launch,
                                           prefer_ptx=args.prefer_ptx)
                    helpers["select"] = helper_runner
                result = check_kind(m, inputs, ref, runner, helpers, variant)
                case.update(status="fail" if result["problems"] else "pass", **result)
            except CudaFault as error:
                case.update(status="fail", problems=[f"CUDA fault: {error}"])
                self.faulted.append({"bundle": m.name, "case": case_id, "error": str(error)})
                self.aborted = {"bundle": m.name, "case": case_id, "error": str(error)}
                self.record(m, case)
                self.log(f"CUDA FAULT in {m.name} {case_id}: {error}")
                return
            except torch.cuda.OutOfMemoryError as error:
                case.update(status="fail", problems=[f"out of memory: {error}"])
                torch.cuda.empty_cache()
            except Exception as error:  # a runtime error (NsaRuntimeError), a bug
                message = f"{type(error).__name__}: {error}"
                case.update(status="fail", problems=[message])
                if runner is None:
                    bad_bundles[m.name] = f"bundle did not load: {message}"
                if args.verbose:
                    traceback.print_exc()
            finally:
                if runner is not None:
                    runner.close()
            case["ref_s"] = round(ref.seconds, 3)
            self.record(m, case)
            line.append(f"{m.kind}:{'ok' if case['status'] == 'pass' else 'FAIL'}")
            if case["status"] != "pass" and args.verbose:
                for p in case.get("problems", []):
                    self.log(f"    {m.name} {case_id}: {p}")
        if helper_runner is not None:
            helper_runner.close()
        self.log(f"[{self.elapsed():7.1f}s] {first.group_name} {case_id}: {' '.join(line)} "
                 f"(ref {ref.seconds:.2f}s)")
        del inputs, ref, helpers
        if self.device == "cuda" and T >= 4097:
            torch.cuda.empty_cache()

    # -- report --------------------------------------------------------------------

    def table(self) -> str:
        rows = []
        header = (f"{'bundle':<44} {'pass':>4} {'fail':>4} {'skip':>4}  {'worst rel':>9} "
                  f"{'worst row':>9}  notes")
        rows.append(header)
        rows.append("-" * len(header))
        for name in sorted(self.results):
            rec = self.results[name]
            cases = rec["cases"]
            n = {s: sum(c["status"] == s for c in cases) for s in ("pass", "fail", "skipped")}
            worst_rel = worst_row = 0.0
            notes = []
            amb = legit = 0
            for c in cases:
                for out, m in c.get("metrics", {}).items():
                    if "rel" in m:
                        worst_rel = max(worst_rel, _num(m["rel"]))
                        worst_row = max(worst_row, _num(m.get("row_ratio", 0.0)))
                    if out in ("indices", "selection"):
                        amb += m.get("ambiguous", 0)
                        legit += m.get("legit_diff", 0)
            if amb or legit:
                notes.append(f"ambiguous rows {amb}, legit diffs {legit}")
            alternatives = sum(c.get("metrics", {}).get("alternatives", {}).get(
                "matched", 0) for c in cases)
            if alternatives:
                notes.append(f"rows matching another consistent selection {alternatives}")
            failed = [c for c in cases if c["status"] == "fail"]
            if failed:
                first = failed[0]
                notes.append(f"first fail {first['case']}: "
                             f"{(first.get('problems') or ['?'])[0][:100]}")
            rows.append(f"{name:<44} {n['pass']:>4} {n['fail']:>4} {n['skipped']:>4}  "
                        f"{worst_rel:>9.2e} {worst_row:>9.2e}  {'; '.join(notes)}")
        return "\n".join(rows)


def _num(x) -> float:
    try:
        return float(x) if not math.isnan(float(x)) else math.inf
    except (TypeError, ValueError):
        return math.inf


def _json_default(x):
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(type(x).__name__)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundles", type=Path, default=ROOT / ".bundles" / "check",
                   help="bundle directory with index.json (default .bundles/check)")
    p.add_argument("--filter", action="append", default=[],
                   help="only bundles whose name contains this substring; repeat or "
                        "comma-separate for several (any matches)")
    p.add_argument("--exclude", action="append", default=[],
                   help="skip bundles whose name contains this substring")
    p.add_argument("--max-T", type=int, default=None, help="drop cases with T above this")
    p.add_argument("--quick", action="store_true", help="T in {1, 17, 100}, B in {1, 2}")
    p.add_argument("--T", default="", help="explicit comma-separated T values")
    p.add_argument("--B", default="", help="explicit comma-separated B values")
    p.add_argument("--json", default="", help="write results to this JSON file")
    p.add_argument("--time-budget", type=float, default=0.0,
                   help="seconds; start no new case after this (skipped cases reported)")
    p.add_argument("--resume", default="",
                   help="a JSON of an earlier run: keep its finished cases, skip bundles "
                        "that faulted")
    p.add_argument("--no-crosscheck", action="store_true",
                   help="skip the torch-vs-NumPy reference cross-check")
    p.add_argument("--no-ties", action="store_true", help="skip the exact-tie select cases")
    p.add_argument("--chunk-bytes", type=int, default=2 << 30,
                   help="working set of one chunk of the torch reference (bytes)")
    p.add_argument("--sync-each-launch", action="store_true",
                   help="load bundles with NSA_LOAD_SYNC_EACH_LAUNCH (names a faulting "
                        "kernel; slower)")
    p.add_argument("--prefer-ptx", action="store_true", help="JIT the PTX instead of the cubin")
    p.add_argument("--simulate", action="store_true",
                   help="no runtime: the torch reference stands in for every bundle (tests "
                        "the harness; runs on the CPU when there is no GPU)")
    p.add_argument("--list", action="store_true", help="print the selected bundles and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print every problem")
    args = p.parse_args(argv)
    args.filter = [f for item in args.filter for f in item.split(",") if f]
    args.exclude = [f for item in args.exclude for f in item.split(",") if f]
    for name in ("T", "B"):
        value = getattr(args, name)
        if value and not all(x.strip().isdigit() and int(x) > 0 for x in value.split(",")):
            p.error(f"--{name} takes comma-separated positive integers, got {value!r}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    all_entries = load_index(args.bundles)
    entries = select_entries(all_entries, args.filter, args.exclude)
    if not entries:
        print(f"error: no bundle of {args.bundles / 'index.json'} matches --filter "
              f"{args.filter} --exclude {args.exclude}", file=sys.stderr)
        return 2
    missing = [e.name for e in entries if not (e.path / "manifest.json").exists()
               and not args.simulate]
    if args.list:
        for e in entries:
            print(e.name)
        print(f"{len(entries)} bundles, cases: {case_list(args)}")
        return 0
    if missing:
        print(f"error: {len(missing)} bundles of the index have no manifest.json, e.g. "
              f"{missing[0]}", file=sys.stderr)
        return 2
    if not args.simulate and not torch.cuda.is_available():
        print("error: no CUDA device (torch.cuda.is_available() is False); use --simulate "
              "to exercise the harness without one", file=sys.stderr)
        return 2

    if not args.simulate:
        from nsa_mlir import runtime
        try:
            lib = runtime.library()
        except (OSError, runtime.NsaRuntimeError) as error:
            print(f"error: cannot load the runtime library: {error}", file=sys.stderr)
            return 2
        os.environ.setdefault("NSA_RUNTIME_LIB", str(lib.path))

    h = Harness(args)
    h.collect_meta()
    if args.resume and Path(args.resume).exists():
        h.resume(Path(args.resume))
    if not args.no_crosscheck and not (h.crosscheck and h.crosscheck.get("ok")):
        if not h.run_crosscheck():
            h.write_json(force=True)
            print("FAILED: the torch reference disagrees with the NumPy reference; "
                  "no bundle was checked", flush=True)
            return 1
    h.log(f"device: {h.meta['device']}, torch {h.meta['torch']}, commit "
          f"{h.meta['commit'] or '?'}")
    h.run(entries, all_entries)
    h.write_json(force=True)
    print()
    print(h.table())
    s = h.summary()
    print()
    verdict = "FAILED" if s["cases_failed"] else "PASSED"
    if h.aborted:
        verdict = "ABORTED (CUDA fault)"
    print(f"gpu_check: {verdict}: {s['cases_passed']} cases passed, {s['cases_failed']} "
          f"failed, {s['cases_skipped']} skipped, {s['bundles']} bundles, "
          f"{s['elapsed_s']} s")
    if s["cases_skipped"]:
        print(f"INCOMPLETE: {s['cases_skipped']} cases were not run (time budget or "
              "excluded bundles); see the JSON")
    if args.json:
        print(f"results: {args.json}")
    if h.aborted:
        return 3
    return 1 if s["cases_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
