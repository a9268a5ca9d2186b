"""End-to-end test of the whole ``nsa.attention`` on the CPU.

Each case compiles one ``nsa.attention`` (f32, dynamic B and T) through
``nsa-opt --nsa-to-cpu`` -- tiled and GQA-fused, or untiled
(``nsa-to-cpu=tile=0``: the branch attentions lowered densely) -- runs it on
fresh random float32 inputs and compares it with ``reference.nsa_forward``
(float64) on the very same inputs:

1. The selected block indices first. The compiled module's ``@selection`` is
   the selection chain of the attention's decomposition (checked against
   ``nsa-decompose`` below), compiled in the same module with the same
   pipeline; its indices must equal the reference's row for row. A row may
   differ only at an fp32 near-tie: same forced blocks, same count, and every
   block the compiler chose instead of one of the reference's scores within
   ``TIE_REL_TOL`` of it in the reference's own float64 scores. Such rows are
   counted and reported (the summary at the end of the module), capped at
   ``MAX_TIE_FRACTION`` of the rows, and for them the expected selected branch
   is the reference's ``selected_attention`` over the compiler's indices, so
   every row is still compared. Any other difference fails.
2. Then o and the three lse with ``nsa_mlir.numerics``: o within 1e-5 relative
   norm and per row, each lse -inf exactly where the reference's is and within
   1e-5 absolute and 1e-5 relative norm elsewhere. The thresholds are those of
   the branch matrix (test_cpu_branches.py) and are not loosened here.

Configs: the paper's, l = d = l' = 64 and a small one; G in {1, 4}, Dk != Dv
once, batch 2; T in {1, 128 (a multiple of every block length), 301 (a
multiple of none)} and T = 1100 once (paper config: Ns = 18 > n = 16, so the
selection really chooses, and the window slides past w = 512).

Without a built compiler the module is skipped, unless NSA_REQUIRE_COMPILER=1,
in which case it fails.
"""

from __future__ import annotations

import re
import subprocess
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pytest

from nsa_mlir import compiler
from nsa_mlir import reference as ref
from nsa_mlir.cpu_attention import attention_module, run_attention, run_selection
from nsa_mlir.numerics import check_lse, check_o
from nsa_mlir.reference import NSAConfig

from conftest import WorstErrors, require_compiler  # noqa: E402

require_compiler()


# A swapped block counts as an fp32 near-tie when its reference score is within
# TIE_REL_TOL * (largest score of the row) of the block it replaced.
TIE_REL_TOL = 1e-5
MAX_TIE_FRACTION = 0.01

CONFIGS = {
    "paper": NSAConfig(),
    "fla": NSAConfig(cmp_block=64, cmp_stride=64, slc_block=64, top_n=16, window=512),
    "small": NSAConfig(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32),
}


@dataclass(frozen=True)
class Problem:
    config: str
    kv_heads: int  # H
    group: int  # G
    key_dim: int
    value_dim: int
    seq_len: int

    @property
    def name(self) -> str:
        dims = (f"d{self.key_dim}" if self.key_dim == self.value_dim
                else f"dk{self.key_dim}dv{self.value_dim}")
        return f"{self.config}-H{self.kv_heads}G{self.group}-{dims}-T{self.seq_len}"

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())


BATCH = 2
SEQ_LENS = (1, 128, 301)
LONG = 1100
SHAPES = [  # (config, H, G, Dk, Dv)
    ("paper", 1, 4, 16, 16),
    ("paper", 2, 1, 24, 8),
    ("fla", 1, 4, 16, 16),
    ("small", 2, 1, 8, 8),
    ("small", 1, 4, 8, 8),
]
PROBLEMS = [Problem(*shape, t) for shape in SHAPES for t in SEQ_LENS]
PROBLEMS.append(Problem("paper", 1, 4, 16, 16, LONG))

# (tile, fuse_gqa_group): the default tiled + GQA-fused path and the untiled one.
VARIANTS = {"tiled-fused": dict(tile=True, fuse_gqa_group=True),
            "untiled": dict(tile=False)}
CASES = [(p, v) for p in PROBLEMS for v in VARIANTS]


def _case_id(case) -> str:
    problem, variant = case
    return f"{problem.name}-{variant}"


@lru_cache(maxsize=None)
def problem_data(problem: Problem):
    """(cfg, (q, k, v, g) in f32, the reference's nsa_forward on them)."""
    cfg = CONFIGS[problem.config]
    rng = np.random.default_rng(problem.seed)
    B, T, H = BATCH, problem.seq_len, problem.kv_heads
    Hq = H * problem.group
    q = rng.standard_normal((B, T, Hq, problem.key_dim)).astype(np.float32)
    k = rng.standard_normal((B, T, H, problem.key_dim)).astype(np.float32)
    v = rng.standard_normal((B, T, H, problem.value_dim)).astype(np.float32)
    g = rng.uniform(0.0, 1.0, (B, T, Hq, 3)).astype(np.float32)
    return cfg, (q, k, v, g), ref.nsa_forward(q, k, v, g, cfg)


# --------------------------------------------------------------------------------------
# Selected index sets
# --------------------------------------------------------------------------------------


def check_selection(indices, ref_indices, ref_score, cfg: NSAConfig) -> np.ndarray:
    """Compares the compiled selection with the reference's row by row; returns
    the [B, T, H] mask of rows that differ at an fp32 near-tie. Raises
    AssertionError on any other difference."""
    indices, ref_indices = np.asarray(indices), np.asarray(ref_indices)
    assert indices.shape == ref_indices.shape, (
        f"indices shape {indices.shape} != reference {ref_indices.shape}")
    differs = (indices != ref_indices).any(axis=-1)
    ties = np.zeros(differs.shape, bool)
    for row in map(tuple, np.argwhere(differs)):
        got, want = indices[row], ref_indices[row]
        where = f"[b, t, h] = {row}: compiled {got.tolist()}, reference {want.tolist()}"
        chosen = got[got >= 0]
        count = len(want[want >= 0])
        assert (np.all(got[:count] >= 0) and np.all(got[count:] == -1)
                and np.all(np.diff(chosen) > 0)), f"malformed index row at {where}"
        forced = set(ref.forced_blocks(row[1], cfg))
        got_set, want_set = set(chosen.tolist()), set(want[want >= 0].tolist())
        assert forced <= got_set, f"forced blocks {sorted(forced)} missing at {where}"
        assert all(j * cfg.slc_block <= row[1] for j in got_set), (
            f"invisible block selected at {where}")
        score = np.asarray(ref_score[row], np.float64)
        extra, missing = sorted(got_set - want_set), sorted(want_set - got_set)
        gap = score[missing].max() - score[extra].min()
        tolerance = TIE_REL_TOL * score.max()
        assert gap <= tolerance, (
            f"selection differs beyond an fp32 near-tie at {where}: reference "
            f"scores of the swapped blocks {dict(zip(missing, score[missing]))} vs "
            f"{dict(zip(extra, score[extra]))}, gap {gap:.3e} > {tolerance:.3e}")
        ties[row] = True
    return ties


def expected_outputs(problem: Problem, indices, ties) -> dict:
    """The reference's o and lse; where the selection differs at a near-tie, the
    selected branch of those rows recomputed over the compiler's indices."""
    cfg, (q, k, v, g), forward = problem_data(problem)
    if not ties.any():
        return forward
    merged = np.where(ties[..., None], indices, forward["indices"])
    o_slc, lse_slc = ref.selected_attention(q, k, v, merged, cfg)
    return {**forward, "o": ref.combine(forward["o_cmp"], o_slc, forward["o_win"], g),
            "lse_slc": lse_slc}


# --------------------------------------------------------------------------------------
# Summary, printed at the end of the module
# --------------------------------------------------------------------------------------

_WORST = WorstErrors("test_cpu_attention: worst errors per path")
_TIES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    yield
    tied = {case: n for case, n in _TIES.items() if n}
    _WORST.report(request, [
        f"  selection rows differing at an fp32 near-tie: {sum(tied.values())} "
        f"({', '.join(f'{c}: {n}' for c, n in tied.items()) or 'none'})"])


# --------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_attention_matches_reference(case):
    problem, variant = case
    cfg, (q, k, v, g), forward = problem_data(problem)
    options = VARIANTS[variant]

    indices = run_selection(cfg, q, k, v, **options)
    ties = check_selection(indices, forward["indices"], forward["score"], cfg)
    _TIES[_case_id(case)] = int(ties.sum())
    assert ties.sum() <= MAX_TIE_FRACTION * ties.size, (
        f"{int(ties.sum())} of {ties.size} selection rows differ at near-ties")

    expected = expected_outputs(problem, indices, ties)
    out = run_attention(cfg, q, k, v, g, **options)
    metrics = {f"o.{key}": value for key, value in check_o(out["o"], expected["o"]).items()}
    for name in ("lse_cmp", "lse_slc", "lse_win"):
        for key, value in check_lse(out[name], expected[name], name).items():
            metrics[f"{name}.{key}"] = value
    _WORST.record(variant, _case_id(case), metrics)


def test_matrix_coverage():
    assert set(CONFIGS) == {p.config for p in PROBLEMS}
    assert {p.group for p in PROBLEMS} >= {1, 4}
    assert any(p.key_dim != p.value_dim for p in PROBLEMS)
    for cfg in CONFIGS.values():
        blocks = {cfg.cmp_block, cfg.cmp_stride, cfg.slc_block}
        assert any(all(t % b for b in blocks) for t in SEQ_LENS)
    long = [p for p in PROBLEMS if p.seq_len == LONG]
    assert long and all(ref.num_selection_blocks(LONG, CONFIGS[p.config])
                        > CONFIGS[p.config].top_n for p in long)
    assert {v for _, v in CASES} == set(VARIANTS)


def _nsa_ops(text: str) -> list[str]:
    """The nsa op lines of `text` with SSA names erased."""
    lines = [line.strip() for line in text.splitlines() if " nsa." in line]
    return [re.sub(r"%[\w#]+", "%_", line) for line in lines]


def test_selection_function_is_the_decomposed_selection():
    """@selection, whose indices the tests read, holds the very ops (with config
    and types) that nsa-decompose makes of @nsa before nsa.selected_attention."""
    for cfg, H, G, Dk, Dv in ((CONFIGS["paper"], 2, 4, 16, 8),
                              (replace(CONFIGS["small"], compression="weighted"), 1, 1,
                               8, 8)):
        text = attention_module(cfg, H * G, H, Dk, Dv, 64, 64)
        result = subprocess.run([str(compiler.nsa_opt_path()), "--nsa-decompose"],
                                input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        functions = result.stdout.split("func.func @selection")
        assert len(functions) == 2
        attention, selection = (_nsa_ops(f) for f in functions)
        assert [re.search(r"nsa\.\w+", line)[0] for line in selection] == [
            "nsa.compress", "nsa.compressed_attention", "nsa.compressed_probs",
            "nsa.select"]
        assert attention[:4] == selection


# --- The checks have teeth -------------------------------------------------------------


def _swap_one_block(forward, cfg, row):
    """The reference's indices with, in `row`, the lowest-scoring chosen
    non-forced block replaced by the best unchosen visible one; returns
    (indices, the chosen blocks of the row, block out, block in)."""
    indices, score = forward["indices"], forward["score"]
    t = row[1]
    chosen = [j for j in indices[row] if j >= 0]
    free = [j for j in chosen if j not in ref.forced_blocks(t, cfg)]
    unchosen = [j for j in range(t // cfg.slc_block + 1) if j not in chosen]
    assert free and unchosen
    out = max(free, key=lambda j: -score[row][j])
    into = max(unchosen, key=lambda j: score[row][j])
    swapped = indices.copy()
    swapped[row][:len(chosen)] = sorted(set(chosen) - {out} | {into})
    return swapped, chosen, out, into


def test_check_selection_flags_real_differences():
    """A swapped block is accepted only at a near-tie in the reference's scores."""
    problem = Problem("small", 2, 1, 8, 8, 301)
    cfg, _, forward = problem_data(problem)
    indices, score = forward["indices"], forward["score"]
    assert not check_selection(indices, indices, score, cfg).any()
    row = (0, 300, 0)
    swapped, chosen, out, into = _swap_one_block(forward, cfg, row)
    assert score[row][out] - score[row][into] > TIE_REL_TOL * score[row].max()
    with pytest.raises(AssertionError, match="beyond an fp32 near-tie"):
        check_selection(swapped, indices, score, cfg)
    # The same swap with the two scores made equal is a tie.
    tied_score = score.copy()
    tied_score[row + (into,)] = tied_score[row + (out,)]
    ties = check_selection(swapped, indices, tied_score, cfg)
    assert ties.sum() == 1 and ties[row]
    # A forced block may never be swapped out.
    forced = ref.forced_blocks(300, cfg)[0]
    bad = indices.copy()
    bad[row][:len(chosen)] = sorted(set(chosen) - {forced} | {into})
    with pytest.raises(AssertionError, match="forced blocks"):
        check_selection(bad, indices, tied_score, cfg)


def test_expected_outputs_follow_the_compiled_indices_at_ties():
    """At a tie row the expected selected branch (lse_slc, and o through the
    combine) is the reference's over the compiler's indices; elsewhere it is
    the reference's own."""
    problem = Problem("small", 2, 1, 8, 8, 128)
    cfg, (q, k, v, g), forward = problem_data(problem)
    row = (1, 127, 1)
    swapped, _, _, _ = _swap_one_block(forward, cfg, row)
    ties = np.zeros(swapped.shape[:3], bool)
    ties[row] = True
    expected = expected_outputs(problem, swapped, ties)
    o_slc, lse_slc = ref.selected_attention(q, k, v, swapped, cfg)
    b, t, h = row  # G = 1: query head h
    assert expected["lse_slc"][b, t, h] == lse_slc[b, t, h] != forward["lse_slc"][b, t, h]
    np.testing.assert_allclose(
        expected["o"][b, t, h], g[b, t, h, 0] * forward["o_cmp"][b, t, h]
        + g[b, t, h, 1] * o_slc[b, t, h] + g[b, t, h, 2] * forward["o_win"][b, t, h])
    others = np.ones(ties.shape, bool)
    others[row] = False
    np.testing.assert_array_equal(expected["lse_slc"][others], forward["lse_slc"][others])
    np.testing.assert_array_equal(expected["o"][others], forward["o"][others])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_swapped_gates_fail(variant):
    """Gates of the compressed and window branches swapped make o miss."""
    problem = Problem("small", 2, 1, 8, 8, 128)
    cfg, (q, k, v, g), forward = problem_data(problem)
    out = run_attention(cfg, q, k, v, g[..., ::-1].copy(), **VARIANTS[variant])
    check_lse(out["lse_win"], forward["lse_win"])  # the lse do not depend on g
    with pytest.raises(AssertionError):
        check_o(out["o"], forward["o"])
