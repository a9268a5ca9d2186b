"""Numerical test matrix of the CPU execution of the three branch attentions.

Each case compiles one branch op (``nsa.compressed_attention``,
``nsa.selected_attention``, ``nsa.window``; f32, dynamic B and T) through
``nsa-opt --nsa-to-cpu`` (tile, GQA-fuse or not, lower to LLVM) or through
``nsa-opt --nsa-to-cpu=tile=0`` (the untiled path: the branch lowered densely
from its definition, no online softmax), runs it on
fresh random float32 inputs and compares it with the float64 NumPy reference
(``nsa_mlir.reference``, the spec) computed from the very same float32 inputs:

* compressed: kc, vc come from ``reference.compress`` (rounded to f32, and the
  reference sees the same rounded values); compared with
  ``reference.compressed_attention``;
* selected: the indices come from ``reference.nsa_forward`` (``forward``),
  ``reference.select_blocks`` on random scores (``scores``), or are arbitrary
  valid index rows (``any``: distinct blocks in [0, Ns) in any order, future
  blocks included, -1 anywhere, some rows empty); compared with
  ``reference.selected_attention``;
* window: compared with ``reference.window_attention``.

The metric (``nsa_mlir.numerics.compare``): o has no NaN/Inf and
||o - ref|| / ||ref|| < 1e-5; every (b, t, hq) row has
max |o - ref| < 1e-4 * (1 + max |ref row|), so one wrong row is not averaged
away; lse is -inf exactly where the reference's is, never NaN or +inf, and
within 1e-5 absolute (and 1e-5 relative norm) elsewhere.

The matrix: a *problem* is (branch, shape, T, index mode) with its own seed
and is evaluated by the reference once; every problem runs under several
*variants*: tiled (block_q, block_kv, fuse_gqa_group) and, once, untiled. A
compiled module is keyed by (branch, shape, variant) -- B and T are dynamic --
so all T of a shape share one module per variant.

Besides the matrix: tests that the check has teeth (shifted indices, shifted
compressed blocks, a wrong window, a single bad row or lse entry, on both
paths), and repeated selected block indices, which count once on every path.

Without a built compiler the module is skipped, unless NSA_REQUIRE_COMPILER=1,
in which case it fails.
"""

from __future__ import annotations

import os
import subprocess
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pytest

from nsa_mlir import compiler
from nsa_mlir import reference as ref
from nsa_mlir.cpu_branches import branch_module, run_branch, run_compressed_probs
from nsa_mlir.numerics import O_REL_TOL, ROW_TOL, compare
from nsa_mlir.reference import NSAConfig

from conftest import WorstErrors, require_compiler  # noqa: E402

require_compiler()


# --------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------

CONFIGS = {
    # The paper's: l=32, d=16, l'=64, n=16, w=512.
    "paper": NSAConfig(),
    # fla's: l = d = l' = 64.
    "fla": NSAConfig(cmp_block=64, cmp_stride=64, slc_block=64, top_n=16, window=512),
    "small": NSAConfig(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32),
    # l' < l, an explicit scale, no initial block and one local block, odd window.
    "edge": NSAConfig(cmp_block=16, cmp_stride=8, slc_block=8, top_n=3, window=13,
                      num_init_blocks=0, num_local_blocks=1, scale=0.5),
    # Non-overlapping compression, window of one token, no forced blocks at all;
    # weighted compression and the identity score mapping (printed in the config).
    "tiny": NSAConfig(cmp_block=4, cmp_stride=4, slc_block=4, top_n=2, window=1,
                      num_init_blocks=0, num_local_blocks=0, compression="weighted",
                      score_mapping="identity"),
}


@dataclass(frozen=True)
class Shape:
    config: str
    kv_heads: int  # H
    group: int  # G; Hq = G * H
    key_dim: int  # Dk
    value_dim: int  # Dv

    @property
    def name(self) -> str:
        dims = (f"d{self.key_dim}" if self.key_dim == self.value_dim
                else f"dk{self.key_dim}dv{self.value_dim}")
        return f"{self.config}-H{self.kv_heads}G{self.group}-{dims}"


SHAPES = [
    Shape("paper", 2, 4, 16, 16),
    Shape("paper", 1, 1, 24, 8),
    Shape("fla", 1, 16, 16, 8),
    Shape("small", 2, 1, 8, 24),
    Shape("edge", 1, 4, 32, 16),
    Shape("tiny", 2, 16, 8, 8),
]
SHAPE = {s.name: s for s in SHAPES}

BATCH = 2
SEQ_LENS = (1, 17, 100, 300)
LONG = 1100

# (block_q, block_kv): the target default, small, unequal (block_q = 32,
# block_kv = 16 against l' = 64), and a tiny query tile with a KV tile wider
# than l', l and w of the small configs.
TILES = [(64, 64), (16, 16), (32, 16), (8, 128)]


class Variant(NamedTuple):
    """How a problem is compiled: tiled with (block_q, block_kv), GQA-fused or
    not, or untiled (``tile=False``: the dense lowering, no tile sizes)."""
    block_q: int = 64
    block_kv: int = 64
    fuse: bool = True
    tile: bool = True

    @property
    def name(self) -> str:
        if not self.tile:
            return "untiled"
        return f"q{self.block_q}kv{self.block_kv}-{'fused' if self.fuse else 'perhead'}"


UNTILED = Variant(tile=False)
TILED_VARIANTS = [Variant(bq, bkv, fuse) for bq, bkv in TILES for fuse in (True, False)]
VARIANTS = TILED_VARIANTS + [UNTILED]


@dataclass(frozen=True)
class Problem:
    branch: str  # compressed, selected, window
    shape: str
    seq_len: int
    index_mode: str = ""  # selected only: forward, scores, any
    q_scale: int = 1  # q ~ N(0, q_scale^2): larger makes the softmax peaky

    @property
    def name(self) -> str:
        mode = f"-{self.index_mode}" if self.index_mode else ""
        peaky = f"-qx{self.q_scale}" if self.q_scale != 1 else ""
        return f"{self.branch}-{self.shape}-T{self.seq_len}{mode}{peaky}"

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())


def _problems() -> list[Problem]:
    problems = []
    for branch in ("compressed", "selected", "window"):
        mode = "forward" if branch == "selected" else ""
        problems += [Problem(branch, s.name, t, mode) for s in SHAPES for t in SEQ_LENS]
    # Arbitrary valid index rows for the selected branch.
    problems += [Problem("selected", s.name, 300, "any") for s in SHAPES]
    # Long sequences: the window slides past w = 512 and the selection really
    # chooses n = 16 of Ns = 18 blocks.
    problems += [
        Problem("compressed", "paper-H2G4-d16", LONG),
        Problem("compressed", "fla-H1G16-dk16dv8", LONG),
        Problem("selected", "paper-H2G4-d16", LONG, "scores"),
        Problem("selected", "small-H2G1-dk8dv24", LONG, "any"),
        Problem("window", "paper-H2G4-d16", LONG),
        Problem("window", "small-H2G1-dk8dv24", LONG),
    ]
    # Peaky softmax: logits of std ~4, so the running max jumps between KV tiles.
    # Kept there on purpose: the f32 dot product alone rounds a logit near 40 by
    # ~1e-5 (a few ulp), so much larger logits would make the absolute 1e-5 lse
    # bound measure f32 itself rather than the compiler.
    problems += [
        Problem("compressed", "paper-H2G4-d16", 300, q_scale=4),
        Problem("window", "small-H2G1-dk8dv24", 300, q_scale=4),
        Problem("selected", "paper-H2G4-d16", 300, "forward", q_scale=4),
        Problem("selected", "small-H2G1-dk8dv24", 300, "any", q_scale=4),
    ]
    return problems


PROBLEMS = _problems()


def _variants(problem: Problem):
    # Long problems run the default and the unequal tiles, fused and not; the
    # rest run every tiled variant. Every problem runs untiled once.
    if problem.seq_len > 1000:
        return [v for v in TILED_VARIANTS
                if (v.block_q, v.block_kv) in ((64, 64), (32, 16))] + [UNTILED]
    return VARIANTS


CASES = [(p, v) for p in PROBLEMS for v in _variants(p)]


def _case_id(case) -> str:
    problem, variant = case
    return f"{problem.name}-{variant.name}"


# --------------------------------------------------------------------------------------
# Inputs and reference (once per problem)
# --------------------------------------------------------------------------------------


def _random_f32(rng, shape, scale=1):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _compression_weights(rng, cfg, kv_heads) -> dict:
    """key_weights, value_weights [H, l] for compression='weighted', else none."""
    if cfg.compression != "weighted":
        return {}
    return {name: rng.uniform(0.0, 2.0 / cfg.cmp_block, (kv_heads, cfg.cmp_block))
            for name in ("key_weights", "value_weights")}


def _any_indices(rng, batch, seq_len, kv_heads, cfg):
    """Valid but arbitrary indices: per row, 0..n distinct blocks of [0, Ns) (future
    blocks included) in random slots, -1 elsewhere."""
    num_slc = ref.num_selection_blocks(seq_len, cfg)
    n = cfg.top_n
    indices = np.full((batch, seq_len, kv_heads, n), -1, np.int32)
    for row in np.ndindex(batch, seq_len, kv_heads):
        count = int(rng.integers(0, min(n, num_slc) + 1))
        slots = rng.permutation(n)[:count]
        indices[row][slots] = rng.permutation(num_slc)[:count]
    return indices


@lru_cache(maxsize=None)
def problem_data(problem: Problem):
    """(cfg, inputs for run_branch, reference o, reference lse)."""
    shape = SHAPE[problem.shape]
    cfg = CONFIGS[shape.config]
    rng = np.random.default_rng(problem.seed)
    B, T, H = BATCH, problem.seq_len, shape.kv_heads
    Hq = H * shape.group
    q = _random_f32(rng, (B, T, Hq, shape.key_dim), problem.q_scale)
    k = _random_f32(rng, (B, T, H, shape.key_dim))
    v = _random_f32(rng, (B, T, H, shape.value_dim))

    if problem.branch == "compressed":
        weights = _compression_weights(rng, cfg, H)
        kc, vc = (x.astype(np.float32) for x in ref.compress(k, v, cfg, **weights))
        ref_o, ref_lse = ref.compressed_attention(q, kc, vc, cfg, T)
        return cfg, (q, kc, vc, None), ref_o, ref_lse

    if problem.branch == "window":
        ref_o, ref_lse = ref.window_attention(q, k, v, cfg)
        return cfg, (q, k, v, None), ref_o, ref_lse

    if problem.index_mode == "forward":
        g = rng.uniform(0.0, 1.0, (B, T, Hq, 3))
        weights = _compression_weights(rng, cfg, H)
        indices = ref.nsa_forward(q, k, v, g, cfg, **weights)["indices"]
    elif problem.index_mode == "scores":
        scores = rng.uniform(0.0, 1.0, (B, T, H, ref.num_selection_blocks(T, cfg)))
        indices = ref.select_blocks(scores, cfg, T)
    elif problem.index_mode == "any":
        indices = _any_indices(rng, B, T, H, cfg)
    else:
        raise ValueError(problem.index_mode)
    ref_o, ref_lse = ref.selected_attention(q, k, v, indices, cfg)
    return cfg, (q, k, v, indices), ref_o, ref_lse


def run_compiled(problem: Problem, variant: Variant, inputs=None):
    cfg, data, _, _ = problem_data(problem)
    q, k, v, indices = data if inputs is None else inputs
    return run_branch(problem.branch, cfg, q, k, v, indices, block_q=variant.block_q,
                      block_kv=variant.block_kv, fuse_gqa_group=variant.fuse,
                      tile=variant.tile)


# --------------------------------------------------------------------------------------
# Worst errors, printed at the end of the module
# --------------------------------------------------------------------------------------

_WORST = WorstErrors("test_cpu_branches: worst errors per branch "
                     "(row_ratio = max row error / its bound)")


@pytest.fixture(scope="module", autouse=True)
def _error_summary(request):
    yield
    _WORST.report(request)


# --------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_branch_matches_reference(case):
    problem, variant = case
    _, _, ref_o, ref_lse = problem_data(problem)
    o, lse = run_compiled(problem, variant)
    metrics = compare(o, lse, ref_o, ref_lse)
    path = "tiled" if variant.tile else "untiled"
    _WORST.record(f"{problem.branch} ({path})", _case_id(case), metrics)


def test_matrix_coverage():
    """The matrix covers what the CPU path has to get right."""
    modules = {(p.branch, p.shape) + v for p, v in CASES}
    assert len(modules) <= 220, f"{len(modules)} compiled modules"
    # Every problem runs once on the untiled path.
    assert all((p, UNTILED) in CASES for p in PROBLEMS)
    for branch in ("compressed", "selected", "window"):
        ps = [p for p in PROBLEMS if p.branch == branch]
        shapes = [SHAPE[p.shape] for p in ps]
        assert {s.config for s in shapes} == set(CONFIGS)
        assert {s.group for s in shapes} >= {1, 4, 16}
        assert {s.kv_heads for s in shapes} == {1, 2}
        assert any(s.key_dim == s.value_dim for s in shapes)
        assert any(s.key_dim != s.value_dim for s in shapes)
        assert {p.seq_len for p in ps} >= set(SEQ_LENS)
        assert any(p.seq_len > 1000 for p in ps)
        assert {v for p, v in CASES if p.branch == branch} == set(VARIANTS)


def test_fuse_and_tile_flags_change_the_ir():
    """fuse_gqa_group=True and False really compile different code for G > 1, and
    tile=False really skips the tile level, so the matrix checks the per-head
    and the GQA-fused tiling and the untiled lowering."""
    text = branch_module("window", CONFIGS["small"], 8, 2, 16, 16, 16, 16)
    lowered = {}
    pipelines = ("nsa-to-cpu", "nsa-to-cpu=fuse-gqa-group=0", "nsa-to-cpu=tile=0")
    for pipeline in pipelines:
        result = subprocess.run([str(compiler.nsa_opt_path()), f"--{pipeline}"],
                                input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        lowered[pipeline] = result.stdout
    assert len(set(lowered.values())) == len(pipelines)
    result = subprocess.run(
        [str(compiler.nsa_opt_path()), "--nsa-to-cpu=tile=0", "--dump-pass-pipeline",
         "-o", os.devnull], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "nsa-tile" not in result.stderr and "branch-attention=true" in result.stderr
    tiled = {}
    for passes in (["--nsa-tile"], ["--nsa-tile", "--nsa-fuse-gqa-group"]):
        result = subprocess.run([str(compiler.nsa_opt_path()), *passes],
                                input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        tiled[len(passes)] = result.stdout
    assert "nsa.gqa_fused" not in tiled[1] and "nsa.gqa_fused" in tiled[2]


# --- The check has teeth ---------------------------------------------------------------


def _teeth_problem(branch):
    """A T = 100 problem of the matrix (its reference is already computed)."""
    if branch == "selected":
        return Problem(branch, "edge-H1G4-dk32dv16", 100, "forward")
    return Problem(branch, "small-H2G1-dk8dv24", 100)


TEETH_VARIANTS = [Variant(16, 16, True), Variant(16, 16, False), UNTILED]


@pytest.mark.parametrize("variant", TEETH_VARIANTS, ids=lambda v: v.name)
def test_shifted_indices_fail(variant):
    """Indices shifted by one block make the selected branch miss the reference."""
    problem = _teeth_problem("selected")
    cfg, (q, k, v, indices), ref_o, ref_lse = problem_data(problem)
    compare(*run_compiled(problem, variant), ref_o, ref_lse)  # sane first
    num_slc = ref.num_selection_blocks(problem.seq_len, cfg)
    shifted = np.where(indices >= 0, (indices + 1) % num_slc, -1).astype(np.int32)
    o, lse = run_compiled(problem, variant, (q, k, v, shifted))
    with pytest.raises(AssertionError):
        compare(o, lse, ref_o, ref_lse)


@pytest.mark.parametrize("variant", [Variant(16, 16, True), UNTILED], ids=lambda v: v.name)
def test_shifted_compressed_blocks_fail(variant):
    """kc, vc moved by one compressed block make the compressed branch fail."""
    problem = _teeth_problem("compressed")
    _, (q, kc, vc, _), ref_o, ref_lse = problem_data(problem)
    o, lse = run_compiled(problem, variant,
                          (q, np.roll(kc, 1, axis=1), np.roll(vc, 1, axis=1), None))
    with pytest.raises(AssertionError):
        compare(o, lse, ref_o, ref_lse)


@pytest.mark.parametrize("tile", [True, False], ids=["tiled", "untiled"])
def test_wrong_window_fails(tile):
    """A window one token shorter than the reference's fails the window branch."""
    problem = _teeth_problem("window")
    cfg, (q, k, v, _), ref_o, ref_lse = problem_data(problem)
    shorter = replace(cfg, window=cfg.window - 1)
    o, lse = run_branch("window", shorter, q, k, v, block_q=16, block_kv=16, tile=tile)
    with pytest.raises(AssertionError):
        compare(o, lse, ref_o, ref_lse)


def test_compare_catches_single_bad_row_and_lse():
    """The per-row and lse parts of the check catch what the norm averages away."""
    # One entry off by half the norm tolerance: the relative norm passes, the row
    # check fails (on a long problem, whose norm is large against one row).
    _, _, ref_o, ref_lse = problem_data(Problem("window", "small-H2G1-dk8dv24", LONG))
    o, lse = ref_o.astype(np.float32), ref_lse.astype(np.float32)
    compare(o, lse, ref_o, ref_lse)
    row = (1, 700, 1)
    delta = 0.5 * O_REL_TOL * np.linalg.norm(ref_o)
    assert delta > 2 * ROW_TOL * (1 + np.abs(ref_o[row]).max())
    bad = o.copy()
    bad[row + (0,)] += delta
    assert np.linalg.norm(bad - ref_o) / np.linalg.norm(ref_o) < O_REL_TOL
    with pytest.raises(AssertionError, match="rows exceed"):
        compare(bad, lse, ref_o, ref_lse)

    problem = Problem("compressed", "paper-H2G4-d16", 300)
    _, _, ref_o, ref_lse = problem_data(problem)
    assert np.isneginf(ref_lse).any() and np.isfinite(ref_lse).any()
    o, lse = ref_o.astype(np.float32), ref_lse.astype(np.float32)
    compare(o, lse, ref_o, ref_lse)
    t = 200

    bad = o.copy()
    bad[0, t, 0, 1] = np.nan
    with pytest.raises(AssertionError, match="NaN"):
        compare(bad, lse, ref_o, ref_lse)

    empty = tuple(np.argwhere(np.isneginf(ref_lse))[0])
    bad_lse = lse.copy()
    bad_lse[empty] = 0.0
    with pytest.raises(AssertionError, match="-inf positions"):
        compare(o, bad_lse, ref_o, ref_lse)
    bad_lse = lse.copy()
    bad_lse[0, t, 0] = -np.inf
    with pytest.raises(AssertionError, match="-inf positions"):
        compare(o, bad_lse, ref_o, ref_lse)
    bad_lse = lse.copy()
    bad_lse[0, t, 0] += 3e-5
    with pytest.raises(AssertionError, match="lse max"):
        compare(o, bad_lse, ref_o, ref_lse)


# --- Repeated block indices --------------------------------------------------------------

# A block listed more than once counts once, as in the reference (a set of
# selected tokens): ascending with a repeat, and unordered, where the repeat
# comes after a smaller index (the tiled path scans the earlier slots only
# when the list stops ascending).
REPEATED_INDICES = {
    "ascending": [0, 0, 1, -1],
    "unordered": [1, 0, 1, -1],
    "unordered-tail": [1, -1, 0, 1],
}


@pytest.mark.parametrize("indices", list(REPEATED_INDICES), ids=list(REPEATED_INDICES))
@pytest.mark.parametrize("variant", [Variant(16, 16, True), Variant(16, 16, False), UNTILED],
                         ids=["fused", "perhead", "untiled"])
def test_repeated_indices_count_once(variant, indices):
    cfg = CONFIGS["small"]
    rng = np.random.default_rng(7)
    B, T, H, G, D = 1, 40, 1, 1, 8
    q, k, v = (_random_f32(rng, s) for s in ((B, T, H * G, D), (B, T, H, D),
                                              (B, T, H, D)))
    listed = np.tile(np.array(REPEATED_INDICES[indices], np.int32), (B, T, H, 1))
    ref_o, ref_lse = ref.selected_attention(q, k, v, listed, cfg)
    o, lse = run_branch("selected", cfg, q, k, v, listed, block_q=variant.block_q,
                        block_kv=variant.block_kv, fuse_gqa_group=variant.fuse,
                        tile=variant.tile)
    compare(o, lse, ref_o, ref_lse)
    # The same blocks listed once each give the same result.
    once = np.tile(np.array(sorted(set(REPEATED_INDICES[indices]) - {-1}) + [-1] * 2,
                            np.int32)[:4], (B, T, H, 1))
    once_o, once_lse = ref.selected_attention(q, k, v, once, cfg)
    compare(o, lse, once_o, once_lse)


# --------------------------------------------------------------------------------------
# nsa.compressed_probs (tiled into nsa.probs_tile loops, or dense)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("group_sum", [False, True], ids=["per-head", "group-sum"])
@pytest.mark.parametrize("variant", ["tiled-fused", "tiled", "untiled"])
@pytest.mark.parametrize("shape", ["paper-H2G4-d16", "fla-H1G16-dk16dv8",
                                   "small-H2G1-dk8dv24", "tiny-H2G16-d8"])
def test_compressed_probs_match_reference(shape, variant, group_sum):
    """The probabilities from the compressed attention's own lse (so rows before
    the first block has ended see no block: lse -inf, all zeros), at lengths
    shorter than one block, not a multiple of any block size, and several tiles;
    with ``group_sum``, their sums over each GQA group's query heads."""
    s = SHAPE[shape]
    cfg = CONFIGS[s.config]
    for T in (1, 17, 100, 300):
        rng = np.random.default_rng(zlib.crc32(f"probs-{shape}-{T}".encode()))
        q = _random_f32(rng, (BATCH, T, s.kv_heads * s.group, s.key_dim))
        k = _random_f32(rng, (BATCH, T, s.kv_heads, s.key_dim))
        v = _random_f32(rng, (BATCH, T, s.kv_heads, s.value_dim))
        kc, vc = (x.astype(np.float32) for x in
                  ref.compress(k, v, cfg, **_compression_weights(rng, cfg, s.kv_heads)))
        _, lse = ref.compressed_attention(q, kc, vc, cfg, T)
        expected = ref.compressed_probs(q, kc, lse, cfg)
        if group_sum:
            expected = expected.reshape(BATCH, T, s.kv_heads, s.group, -1).sum(axis=3)
        got = run_compressed_probs(cfg, q, kc, lse, block_q=16,
                                   fuse_gqa_group=variant == "tiled-fused",
                                   tile=variant != "untiled", group_sum=group_sum)
        assert got.shape == expected.shape
        assert np.isfinite(got).all()
        # Probabilities lie in [0, 1] (sums in [0, G]); compare absolutely.
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * s.group,
                                   err_msg=f"{shape} {variant} T={T}")
