"""nsa_mlir.reference_torch (the vectorized PyTorch reference that the GPU check uses)
against nsa_mlir.reference (the NumPy spec). Skipped where torch is not installed
(it is not a requirement of the build machines); the GPU check runs the same
comparison (reference_torch.crosscheck) on the GPU at the start of every run."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nsa_mlir import reference as ref  # noqa: E402
from nsa_mlir import reference_torch as rt  # noqa: E402
from nsa_mlir.reference import NSAConfig  # noqa: E402

# Two cores on the build machines: more threads than that only contend.
torch.set_num_threads(1)

RTOL = 1e-10
SMALL = dict(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32)
PAPER = dict(cmp_block=32, cmp_stride=16, slc_block=64, top_n=16, window=512)
FLA64 = dict(PAPER, cmp_block=64, cmp_stride=64)
# Small chunks, so that every branch runs over several chunks of positions.
SMALL_CHUNKS = 1 << 18


def t64(x):
    return None if x is None else torch.as_tensor(np.asarray(x, dtype=np.float64))


def assert_close(actual, expected, name, rtol=RTOL):
    problem = rt.compare_arrays(actual, expected, rtol)
    assert not problem, f"{name}: {problem}"


def random_inputs(seed, B, T, Hq, H, Dk, Dv, q_scale=1.5):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, T, Hq, Dk)) * q_scale
    k = rng.standard_normal((B, T, H, Dk))
    v = rng.standard_normal((B, T, H, Dv))
    g = rng.random((B, T, Hq, 3))
    return rng, q, k, v, g


FORWARD_CASES = [
    # (id, config, B, T, Hq, H, Dk, Dv)
    ("small-T1", SMALL, 2, 1, 2, 1, 8, 12),
    ("small-T17", SMALL, 2, 17, 4, 2, 12, 8),
    ("small-T100", SMALL, 2, 100, 2, 2, 8, 16),
    ("small-T300-G16", SMALL, 1, 300, 16, 1, 8, 8),
    ("small-window5", dict(SMALL, window=5), 1, 45, 2, 1, 8, 8),
    ("small-no-forced", dict(SMALL, num_init_blocks=0, num_local_blocks=0), 2, 90, 2, 1,
     8, 8),
    ("small-more-forced", dict(SMALL, top_n=5, num_init_blocks=2, num_local_blocks=3), 1,
     130, 2, 1, 8, 8),
    ("small-scale", dict(SMALL, scale=0.7), 1, 60, 2, 1, 8, 8),
    ("identity-mapping", dict(cmp_block=16, cmp_stride=16, slc_block=16, top_n=3, window=20,
                              score_mapping="identity"), 1, 77, 2, 1, 8, 8),
    ("paper-T1", PAPER, 2, 1, 2, 2, 16, 8),
    ("paper-T17", PAPER, 2, 17, 2, 1, 16, 8),
    ("paper-T100-G1", PAPER, 2, 100, 2, 2, 16, 16),
    ("paper-T300", PAPER, 1, 300, 4, 2, 24, 16),
    ("paper-T300-G16", PAPER, 1, 300, 16, 1, 8, 8),
    ("fla64-T100", FLA64, 2, 100, 2, 2, 8, 16),
    ("fla64-T300-G16", FLA64, 1, 300, 16, 1, 16, 8),
    ("paper-geometry-n3", dict(PAPER, top_n=3, window=100), 1, 290, 2, 1, 8, 8),
]


@pytest.mark.parametrize("seed, cfg_kwargs, B, T, Hq, H, Dk, Dv",
                         [(seed, *case[1:]) for seed, case in enumerate(FORWARD_CASES)],
                         ids=[case[0] for case in FORWARD_CASES])
@pytest.mark.parametrize("chunk_bytes", [None, SMALL_CHUNKS], ids=["one-chunk", "chunked"])
def test_forward_matches_numpy_reference(seed, cfg_kwargs, B, T, Hq, H, Dk, Dv, chunk_bytes):
    cfg = NSAConfig(**cfg_kwargs)
    _, q, k, v, g = random_inputs(seed, B, T, Hq, H, Dk, Dv)
    expected = ref.nsa_forward(q, k, v, g, cfg)
    actual = rt.nsa_forward(t64(q), t64(k), t64(v), t64(g), cfg, chunk_bytes=chunk_bytes)
    assert set(actual) == set(expected)
    for key in expected:
        assert_close(actual[key], expected[key], key)
    assert actual["indices"].dtype == torch.int32
    for key, value in actual.items():
        if value.is_floating_point():
            assert value.dtype == torch.float64, key
            assert not torch.isnan(value).any(), key


@pytest.mark.parametrize("cfg_kwargs, T", [(SMALL, 70), (PAPER, 150), (FLA64, 200),
                                           (PAPER, 17)], ids=["small", "paper", "fla64",
                                                              "paper-T<l"])
def test_weighted_compression_matches_numpy_reference(cfg_kwargs, T):
    cfg = NSAConfig(**cfg_kwargs, compression="weighted")
    rng, q, k, v, g = random_inputs(11, 2, T, 4, 2, 8, 12)
    kw, vw = rng.random((2, cfg.cmp_block)), rng.standard_normal((2, cfg.cmp_block))
    expected = ref.nsa_forward(q, k, v, g, cfg, kw, vw)
    actual = rt.nsa_forward(t64(q), t64(k), t64(v), t64(g), cfg, t64(kw), t64(vw),
                            chunk_bytes=SMALL_CHUNKS)
    for key in expected:
        assert_close(actual[key], expected[key], key)


def test_per_branch_kv_matches_numpy_reference():
    cfg = NSAConfig(**SMALL)
    rng, q, _, _, g = random_inputs(12, 2, 60, 4, 2, 8, 8)
    branch_kv = {name: (rng.standard_normal((2, 60, 2, 8)), rng.standard_normal((2, 60, 2, 8)))
                 for name in ("cmp", "slc", "win")}
    expected = ref.nsa_forward(q, None, None, g, cfg, branch_kv=branch_kv)
    actual = rt.nsa_forward(t64(q), None, None, t64(g), cfg, branch_kv={
        name: (t64(a), t64(b)) for name, (a, b) in branch_kv.items()})
    for key in expected:
        assert_close(actual[key], expected[key], key)


def test_without_p_cmp_gives_the_same_results():
    cfg = NSAConfig(**PAPER)
    _, q, k, v, g = random_inputs(3, 1, 200, 4, 2, 16, 8)
    full = rt.nsa_forward(t64(q), t64(k), t64(v), t64(g), cfg)
    lean = rt.nsa_forward(t64(q), t64(k), t64(v), t64(g), cfg, with_p_cmp=False,
                          chunk_bytes=SMALL_CHUNKS)
    assert "p_cmp" not in lean and set(full) - set(lean) == {"p_cmp"}
    for key in lean:
        assert torch.equal(lean[key], full[key]) or rt.compare_arrays(
            lean[key], full[key].numpy(), 1e-14) == "", key


@pytest.mark.parametrize("cfg_kwargs, T, Hq, H, Dk, Dv",
                         [(SMALL, 1, 2, 1, 8, 8), (SMALL, 100, 4, 2, 8, 12),
                          (PAPER, 17, 2, 2, 16, 8), (PAPER, 300, 4, 1, 16, 8),
                          (FLA64, 300, 2, 2, 8, 16)])
def test_branch_ops_match_numpy_reference(cfg_kwargs, T, Hq, H, Dk, Dv):
    """Each public op on its own, fed the NumPy reference's own intermediates."""
    cfg = NSAConfig(**cfg_kwargs)
    _, q, k, v, g = random_inputs(5, 2, T, Hq, H, Dk, Dv)
    exp = ref.nsa_forward(q, k, v, g, cfg)
    kc, vc = rt.compress(t64(k), t64(v), cfg)
    assert_close(kc, exp["kc"], "kc")
    assert_close(vc, exp["vc"], "vc")
    o, lse = rt.compressed_attention(t64(q), t64(exp["kc"]), t64(exp["vc"]), cfg, T,
                                     chunk_bytes=SMALL_CHUNKS)
    assert_close(o, exp["o_cmp"], "o_cmp")
    assert_close(lse, exp["lse_cmp"], "lse_cmp")
    p = rt.compressed_probs(t64(q), t64(exp["kc"]), t64(exp["lse_cmp"]), cfg,
                            chunk_bytes=SMALL_CHUNKS)
    assert_close(p, ref.compressed_probs(q, exp["kc"], exp["lse_cmp"], cfg), "p_cmp")
    score = rt.selection_scores(t64(exp["p_cmp"]), H, cfg, T)
    assert_close(score, exp["score"], "score")
    indices = rt.select_blocks(t64(exp["score"]), cfg, T, chunk_bytes=SMALL_CHUNKS)
    assert_close(indices, exp["indices"], "indices")
    o, lse = rt.selected_attention(t64(q), t64(k), t64(v), torch.as_tensor(exp["indices"]),
                                   cfg, chunk_bytes=SMALL_CHUNKS)
    assert_close(o, exp["o_slc"], "o_slc")
    assert_close(lse, exp["lse_slc"], "lse_slc")
    o, lse = rt.window_attention(t64(q), t64(k), t64(v), cfg, chunk_bytes=SMALL_CHUNKS)
    assert_close(o, exp["o_win"], "o_win")
    assert_close(lse, exp["lse_win"], "lse_win")
    o = rt.combine(t64(exp["o_cmp"]), t64(exp["o_slc"]), t64(exp["o_win"]), t64(g))
    assert_close(o, exp["o"], "o")


# --------------------------------------------------------------------------------------
# Selection: ties, forced blocks, padding, order (exact, on crafted scores)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg_kwargs", [
    SMALL, dict(SMALL, top_n=5, num_init_blocks=2, num_local_blocks=3),
    dict(SMALL, num_init_blocks=0, num_local_blocks=0), dict(SMALL, top_n=1,
                                                             num_init_blocks=0,
                                                             num_local_blocks=1),
    PAPER, dict(PAPER, top_n=3)])
@pytest.mark.parametrize("T", [1, 17, 64, 100, 300])
def test_select_blocks_with_many_ties_matches_numpy_reference(cfg_kwargs, T):
    """Integer scores from a small range: most rows have exact ties, which go to the
    lower block index; forced blocks, -1 padding and ascending order as the spec."""
    cfg = NSAConfig(**cfg_kwargs)
    ns = ref.num_selection_blocks(T, cfg)
    rng = np.random.default_rng(T)
    score = rng.integers(0, 3, size=(2, T, 3, ns)).astype(np.float64)
    expected = ref.select_blocks(score, cfg, T)
    actual = rt.select_blocks(t64(score), cfg, T, chunk_bytes=4096)
    assert actual.dtype == torch.int32
    np.testing.assert_array_equal(actual.numpy(), expected)


def test_select_blocks_all_equal_scores_pick_lowest_indices():
    cfg = NSAConfig(**dict(SMALL, top_n=4, num_init_blocks=0, num_local_blocks=0))
    T = 160  # Ns = 10
    score = np.ones((1, T, 1, 10))
    actual = rt.select_blocks(t64(score), cfg, T).numpy()
    # Position 159 sees all 10 blocks: the four lowest win the ties.
    np.testing.assert_array_equal(actual[0, 159, 0], [0, 1, 2, 3])
    # Position 20 sees blocks 0 and 1 only: padded with -1.
    np.testing.assert_array_equal(actual[0, 20, 0], [0, 1, -1, -1])


def test_select_blocks_negative_and_infinite_scores():
    cfg = NSAConfig(**dict(SMALL, top_n=3, num_init_blocks=0, num_local_blocks=0))
    T = 80  # Ns = 5
    rng = np.random.default_rng(0)
    score = rng.standard_normal((2, T, 2, 5))
    score[0, :, 0, 2] = -np.inf
    score[1, :, 1, :] = -np.inf
    np.testing.assert_array_equal(rt.select_blocks(t64(score), cfg, T).numpy(),
                                  ref.select_blocks(score, cfg, T))


def test_selected_attention_with_repeats_padding_and_future_blocks():
    cfg = NSAConfig(**SMALL)
    _, q, k, v, _ = random_inputs(7, 2, 50, 4, 2, 8, 8)
    ns = ref.num_selection_blocks(50, cfg)
    rng = np.random.default_rng(1)
    indices = rng.integers(-1, ns, size=(2, 50, 2, cfg.top_n)).astype(np.int32)
    indices[:, :, :, 1] = indices[:, :, :, 0]  # repeats count once
    indices[0, 3] = -1  # an all-padding row: empty key set
    o_exp, lse_exp = ref.selected_attention(q, k, v, indices, cfg)
    o, lse = rt.selected_attention(t64(q), t64(k), t64(v), torch.as_tensor(indices), cfg,
                                   chunk_bytes=SMALL_CHUNKS)
    assert_close(o, o_exp, "o")
    assert_close(lse, lse_exp, "lse")
    assert torch.isneginf(lse[0, 3]).all() and (o[0, 3] == 0).all()


def test_empty_key_sets_are_zero_with_lse_minus_inf():
    cfg = NSAConfig(**PAPER)
    _, q, k, v, g = random_inputs(2, 1, 40, 2, 1, 8, 8)
    out = rt.nsa_forward(t64(q), t64(k), t64(v), t64(g), cfg)
    # Compressed block 0 ends at 31: positions 0 .. 30 see none.
    assert torch.isneginf(out["lse_cmp"][:, :31]).all()
    assert (out["o_cmp"][:, :31] == 0).all()
    assert torch.isfinite(out["lse_cmp"][:, 31:]).all()
    assert out["kc"].shape == (1, 1, 1, 8)


def test_validation_errors():
    cfg = NSAConfig(**SMALL)
    _, q, k, v, g = random_inputs(0, 1, 20, 4, 2, 8, 8)
    with pytest.raises(ValueError, match="indices must be integers"):
        rt.selected_attention(t64(q), t64(k), t64(v),
                              torch.full((1, 20, 2, 4), 7, dtype=torch.int32), cfg)
    with pytest.raises(ValueError, match="not a multiple"):
        rt.window_attention(t64(q[:, :, :3]), t64(k), t64(v), cfg)
    with pytest.raises(ValueError, match="g must have shape"):
        rt.nsa_forward(t64(q), t64(k), t64(v), t64(g[..., :2]), cfg)
    with pytest.raises(ValueError, match="weighted"):
        rt.compress(t64(k), t64(v), NSAConfig(**SMALL, compression="weighted"))


def test_crosscheck_passes_on_cpu():
    assert rt.crosscheck("cpu") == []


def test_crosscheck_reports_a_disagreement(monkeypatch):
    """The harness relies on crosscheck failing loudly: break the torch side."""
    original = rt.combine
    monkeypatch.setattr(rt, "combine", lambda a, b, c, g: original(a, b, c, g) * 1.001)
    problems = rt.crosscheck("cpu", cases=rt.CROSSCHECK_CASES[:1])
    assert problems and all(": o:" in p for p in problems)


def test_masks_agree_with_reference_helpers():
    for cfg in (NSAConfig(**SMALL), NSAConfig(**PAPER),
                NSAConfig(**dict(SMALL, top_n=5, num_init_blocks=2, num_local_blocks=3))):
        t = torch.arange(0, 300)
        ns = ref.num_selection_blocks(300, cfg)
        forced = rt.forced_block_mask(t, ns, cfg).numpy()
        visible = rt.visible_block_mask(t, ns, cfg).numpy()
        for tt in range(300):
            assert sorted(np.flatnonzero(forced[tt])) == ref.forced_blocks(tt, cfg)
            assert list(np.flatnonzero(visible[tt])) == [
                j for j in range(ns) if ref.selection_block_visible(tt, j, cfg)]
        counts = rt.visible_compressed_count(t, cfg).numpy()
        for tt in range(300):
            assert counts[tt] == sum(ref.compressed_block_visible(tt, i, cfg)
                                     for i in range(400))
