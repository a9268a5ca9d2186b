"""Tests of nsa_mlir.reference against an independent per-query oracle.

The oracle below reads the semantics page (docs/nsa-semantics.md) afresh with plain
loops and shares no code with reference.py: it builds every key list from scratch,
counts overlap tokens with sets and picks the top blocks with an ordinary sort.
"""

import math
import warnings

import numpy as np
import pytest

from nsa_mlir import reference as ref
from nsa_mlir.reference import NSAConfig

TOL = dict(rtol=1e-12, atol=1e-12)
SMALL = dict(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32)
PAPER = dict(cmp_block=32, cmp_stride=16, slc_block=64, top_n=16, window=512)


# --------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------


def oracle_softmax_attention(query, keys, values, scale, value_dim):
    """(output, lse, probabilities) of one query over lists of key and value vectors."""
    if not keys:
        return np.zeros(value_dim), -math.inf, []
    logits = [scale * float(np.dot(query, key)) for key in keys]
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = math.fsum(exps)
    probs = [e / total for e in exps]
    output = np.zeros(value_dim)
    for p, value in zip(probs, values):
        output += p * value
    return output, top + math.log(total), probs


def oracle_nsa(q, k, v, g, cfg, key_weights=None, value_weights=None, branch_kv=None):
    l, d, lp, n, w = cfg.cmp_block, cfg.cmp_stride, cfg.slc_block, cfg.top_n, cfg.window
    B, T, Hq, Dk = q.shape
    kv = {"cmp": (k, v), "slc": (k, v), "win": (k, v)}
    kv.update(branch_kv or {})
    H, Dv = kv["slc"][0].shape[2], kv["slc"][1].shape[3]
    G = Hq // H
    scale = cfg.scale if cfg.scale is not None else 1.0 / math.sqrt(Dk)

    # Compression: block i starts at i*d and exists while it fits in T.
    k_cmp, v_cmp = kv["cmp"]
    starts = []
    while len(starts) * d + l <= T:
        starts.append(len(starts) * d)
    Nc = len(starts)
    kc, vc = np.zeros((B, Nc, H, Dk)), np.zeros((B, Nc, H, Dv))
    for b in range(B):
        for i, start in enumerate(starts):
            for h in range(H):
                for p in range(l):
                    wk = 1.0 / l if key_weights is None else key_weights[h][p]
                    wv = 1.0 / l if value_weights is None else value_weights[h][p]
                    kc[b, i, h] += wk * k_cmp[b, start + p, h]
                    vc[b, i, h] += wv * v_cmp[b, start + p, h]

    Ns = math.ceil(T / lp)
    overlap = [[len(set(range(i * d, i * d + l)) & set(range(j * lp, (j + 1) * lp))) / d
                for j in range(Ns)] for i in range(Nc)]

    out = {name: np.zeros((B, T, Hq, Dv)) for name in ("o", "o_cmp", "o_slc", "o_win")}
    out.update({name: np.zeros((B, T, Hq)) for name in ("lse_cmp", "lse_slc", "lse_win")})
    out.update(p_cmp=np.zeros((B, T, Hq, Nc)), score=np.zeros((B, T, H, Ns)),
               indices=np.full((B, T, H, n), -1), kc=kc, vc=vc)
    for b in range(B):
        for t in range(T):
            for hq in range(Hq):
                h = hq // G
                seen = [i for i in range(Nc) if starts[i] + l - 1 <= t]
                o, lse, probs = oracle_softmax_attention(
                    q[b, t, hq], [kc[b, i, h] for i in seen], [vc[b, i, h] for i in seen],
                    scale, Dv)
                out["o_cmp"][b, t, hq], out["lse_cmp"][b, t, hq] = o, lse
                for i, p in zip(seen, probs):
                    out["p_cmp"][b, t, hq, i] = p
            for h in range(H):
                group = range(h * G, (h + 1) * G)
                score = [sum(out["p_cmp"][b, t, hq, i] * overlap[i][j]
                             for hq in group for i in range(Nc)) for j in range(Ns)]
                if cfg.score_mapping == "identity":
                    score = [sum(out["p_cmp"][b, t, hq, j] for hq in group) if j < Nc else 0.0
                             for j in range(Ns)]
                out["score"][b, t, h] = score
                visible = [j for j in range(Ns) if j * lp <= t]
                own = t // lp
                forced = {j for j in visible
                          if j < cfg.num_init_blocks or own - cfg.num_local_blocks < j <= own}
                rest = sorted((j for j in visible if j not in forced),
                              key=lambda j: (-score[j], j))
                chosen = sorted(forced | set(rest[:n - len(forced)]))
                out["indices"][b, t, h, :len(chosen)] = chosen
                k_slc, v_slc = kv["slc"]
                tokens = [s for j in chosen for s in range(j * lp, (j + 1) * lp) if s <= t]
                for hq in group:
                    o, lse, _ = oracle_softmax_attention(
                        q[b, t, hq], [k_slc[b, s, h] for s in tokens],
                        [v_slc[b, s, h] for s in tokens], scale, Dv)
                    out["o_slc"][b, t, hq], out["lse_slc"][b, t, hq] = o, lse
            for hq in range(Hq):
                h = hq // G
                k_win, v_win = kv["win"]
                tokens = [s for s in range(T) if t - w < s <= t]
                o, lse, _ = oracle_softmax_attention(
                    q[b, t, hq], [k_win[b, s, h] for s in tokens],
                    [v_win[b, s, h] for s in tokens], scale, Dv)
                out["o_win"][b, t, hq], out["lse_win"][b, t, hq] = o, lse
                gate = g[b, t, hq]
                out["o"][b, t, hq] = (gate[0] * out["o_cmp"][b, t, hq]
                                      + gate[1] * out["o_slc"][b, t, hq]
                                      + gate[2] * out["o_win"][b, t, hq])
    return out


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def random_inputs(seed, B, T, Hq, H, Dk, Dv, dtype=np.float64):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, T, Hq, Dk)).astype(dtype)
    k = rng.standard_normal((B, T, H, Dk)).astype(dtype)
    v = rng.standard_normal((B, T, H, Dv)).astype(dtype)
    g = rng.random((B, T, Hq, 3)).astype(dtype)
    return rng, q, k, v, g


def assert_outputs_match(actual, expected, keys=None):
    for key in keys or expected:
        if key == "indices":
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)
        else:
            np.testing.assert_allclose(actual[key], expected[key], err_msg=key, **TOL)


def assert_no_nan(result):
    for key, value in result.items():
        assert not np.isnan(value).any(), key


# --------------------------------------------------------------------------------------
# The whole forward pass against the oracle
# --------------------------------------------------------------------------------------

FORWARD_CASES = [
    # (id, config, B, T, Hq, H, Dk, Dv)
    ("T<l", SMALL, 2, 5, 2, 1, 8, 8),
    ("T=17", SMALL, 2, 17, 2, 2, 8, 12),
    ("T=77", SMALL, 1, 77, 4, 2, 12, 8),
    ("T=100", SMALL, 2, 100, 2, 1, 8, 16),
    ("G=1", SMALL, 1, 50, 3, 3, 8, 8),
    ("G=16", SMALL, 1, 40, 16, 1, 8, 8),
    ("small-window", dict(SMALL, window=5), 1, 45, 2, 1, 8, 8),
    ("window=1", dict(SMALL, window=1), 1, 30, 2, 1, 8, 8),
    ("no-forced", dict(SMALL, num_init_blocks=0, num_local_blocks=0), 2, 90, 2, 1, 8, 8),
    ("more-forced", dict(SMALL, top_n=5, num_init_blocks=2, num_local_blocks=3), 1, 130,
     2, 1, 8, 8),
    ("scale", dict(SMALL, scale=0.7), 1, 60, 2, 1, 8, 8),
    ("l=d", dict(cmp_block=4, cmp_stride=4, slc_block=8, top_n=3, window=10), 1, 57, 2, 1,
     8, 8),
    ("l=d=l'", dict(cmp_block=16, cmp_stride=16, slc_block=16, top_n=3, window=20), 1, 77,
     2, 1, 8, 8),
    ("paper", PAPER, 1, 300, 4, 2, 16, 8),
    ("paper-geometry-n=3", dict(PAPER, top_n=3, window=100), 1, 290, 2, 1, 8, 8),
]


@pytest.mark.parametrize("seed, cfg_kwargs, B, T, Hq, H, Dk, Dv",
                         [(seed, *case[1:]) for seed, case in enumerate(FORWARD_CASES)],
                         ids=[case[0] for case in FORWARD_CASES])
def test_forward_matches_oracle(seed, cfg_kwargs, B, T, Hq, H, Dk, Dv):
    cfg = NSAConfig(**cfg_kwargs)
    _, q, k, v, g = random_inputs(seed, B, T, Hq, H, Dk, Dv)
    actual = ref.nsa_forward(q, k, v, g, cfg)
    assert_outputs_match(actual, oracle_nsa(q, k, v, g, cfg))
    assert_no_nan(actual)
    assert actual["indices"].dtype == np.int32


def test_weighted_compression_matches_oracle():
    cfg = NSAConfig(**SMALL, compression="weighted")
    rng, q, k, v, g = random_inputs(11, 2, 70, 4, 2, 8, 12)
    key_weights, value_weights = rng.random((2, 8)), rng.standard_normal((2, 8))
    actual = ref.nsa_forward(q, k, v, g, cfg, key_weights, value_weights)
    assert_outputs_match(actual, oracle_nsa(q, k, v, g, cfg, key_weights, value_weights))


def test_per_branch_kv_matches_oracle():
    cfg = NSAConfig(**SMALL)
    rng, q, _, _, g = random_inputs(12, 2, 60, 4, 2, 8, 8)
    branch_kv = {branch: (rng.standard_normal((2, 60, 2, 8)), rng.standard_normal((2, 60, 2, 8)))
                 for branch in ("cmp", "slc", "win")}
    actual = ref.nsa_forward(q, None, None, g, cfg, branch_kv=branch_kv)
    assert_outputs_match(actual, oracle_nsa(q, None, None, g, cfg, branch_kv=branch_kv))
    # Each branch really reads its own pair: swapping one changes only that branch.
    shared = branch_kv["slc"]
    partial = ref.nsa_forward(q, *shared, g, cfg, branch_kv={"win": branch_kv["win"]})
    np.testing.assert_allclose(partial["o_win"], actual["o_win"], **TOL)
    assert not np.allclose(partial["o_cmp"], actual["o_cmp"])


def test_float32_inputs_give_float64_outputs():
    cfg = NSAConfig(**SMALL)
    _, q, k, v, g = random_inputs(13, 1, 40, 2, 1, 8, 8, dtype=np.float32)
    actual = ref.nsa_forward(q, k, v, g, cfg)
    assert all(value.dtype == np.float64 for key, value in actual.items() if key != "indices")
    expected = oracle_nsa(*(x.astype(np.float64) for x in (q, k, v, g)), cfg)
    assert_outputs_match(actual, expected)


# --------------------------------------------------------------------------------------
# Edge behaviour
# --------------------------------------------------------------------------------------


def test_positions_without_visible_compressed_blocks():
    cfg = NSAConfig(**SMALL)
    _, q, k, v, g = random_inputs(21, 2, 20, 2, 1, 8, 8)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = ref.nsa_forward(q, k, v, g, cfg)
    first_visible = cfg.cmp_block - 1  # block 0 ends at l − 1
    assert np.all(result["o_cmp"][:, :first_visible] == 0)
    assert np.all(result["lse_cmp"][:, :first_visible] == -np.inf)
    assert np.all(result["p_cmp"][:, :first_visible] == 0)
    assert np.all(np.isfinite(result["lse_cmp"][:, first_visible:]))
    assert_no_nan(result)
    # With no compressed block visible the output is the other two branches alone.
    np.testing.assert_allclose(
        result["o"][:, :first_visible],
        (g[..., 1:2] * result["o_slc"] + g[..., 2:3] * result["o_win"])[:, :first_visible],
        **TOL)


def test_attend_over_no_keys_is_zero_with_lse_minus_inf():
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        o, lse = ref.attend(np.ones(8), np.zeros((0, 8)), np.zeros((0, 5)), 0.5)
    np.testing.assert_array_equal(o, np.zeros(5))
    assert lse == -np.inf


def test_attend_is_softmax_attention():
    rng = np.random.default_rng(22)
    q, keys, values = rng.standard_normal(6), rng.standard_normal((9, 6)), rng.standard_normal((9, 4))
    o, lse = ref.attend(q, keys, values, 0.3)
    logits = 0.3 * keys @ q
    np.testing.assert_allclose(lse, np.log(np.exp(logits).sum()), **TOL)
    np.testing.assert_allclose(o, np.exp(logits - lse) @ values, **TOL)


def test_padding_when_fewer_blocks_visible_than_n():
    cfg = NSAConfig(**SMALL)  # l' = 16, n = 4
    _, q, k, v, g = random_inputs(23, 1, 50, 2, 1, 8, 8)
    indices = ref.nsa_forward(q, k, v, g, cfg)["indices"][0, :, 0]
    for t in range(50):
        visible = t // 16 + 1  # at most 4 = n, so every visible block is selected
        assert indices[t].tolist() == list(range(visible)) + [-1] * (4 - visible)


@pytest.mark.parametrize("num_init, num_local, top_n", [(1, 2, 4), (2, 3, 5), (0, 2, 3),
                                                        (3, 0, 4)])
def test_forced_blocks_win_over_higher_scores(num_init, num_local, top_n):
    cfg = NSAConfig(**dict(SMALL, top_n=top_n), num_init_blocks=num_init,
                    num_local_blocks=num_local)
    T = 150
    Ns = ref.num_selection_blocks(T, cfg)
    rng = np.random.default_rng(24)
    score = np.zeros((2, T, 1, Ns))
    for t in range(T):
        own = t // cfg.slc_block
        forced = set(range(num_init)) | set(range(own - num_local + 1, own + 1))
        others = [j for j in range(Ns) if j not in forced]
        score[:, t, 0, others] = 10 + rng.random((2, len(others)))  # forced blocks score 0
    indices = ref.select_blocks(score, cfg, T)
    for b in range(2):
        for t in range(T):
            row = indices[b, t, 0].tolist()
            own = t // cfg.slc_block
            expected_forced = {j for j in range(own + 1)
                               if j < num_init or own - num_local < j}
            assert expected_forced <= set(row), (t, row)
            chosen = [j for j in row if j >= 0]
            assert chosen == sorted(chosen) and row[len(chosen):] == [-1] * (top_n - len(chosen))
            assert len(chosen) == min(top_n, own + 1)
            assert all(j <= own for j in chosen)  # never a block starting after t


def test_ties_go_to_the_lower_block_index():
    cfg = NSAConfig(**SMALL)  # n = 4: block 0, two local blocks, one free place
    T = 16 * 8
    score = np.full((1, T, 1, 8), 0.5)
    indices = ref.select_blocks(score, cfg, T)
    assert indices[0, T - 1, 0].tolist() == [0, 1, 6, 7]  # free place: block 1 of 1..5
    cfg_free = NSAConfig(**SMALL, num_init_blocks=0, num_local_blocks=0)
    assert ref.select_blocks(score, cfg_free, T)[0, T - 1, 0].tolist() == [0, 1, 2, 3]
    # Partial ties: the best two among equals at 0.9 are the lower ones.
    score[0, T - 1, 0] = [0.1, 0.9, 0.2, 0.9, 0.9, 0.9, 0.3, 0.0]
    assert ref.select_blocks(score, cfg_free, T)[0, T - 1, 0].tolist() == [1, 3, 4, 5]
    assert ref.select_blocks(score, cfg, T)[0, T - 1, 0].tolist() == [0, 1, 6, 7]
    # select_block_set on its own agrees.
    assert ref.select_block_set(score[0, T - 1, 0], T - 1, cfg_free) == [1, 3, 4, 5]


def test_selected_attention_ignores_padding_and_future_tokens():
    cfg = NSAConfig(**SMALL)
    _, q, k, v, _ = random_inputs(25, 1, 40, 2, 1, 8, 8)
    indices = np.full((1, 40, 1, 4), -1, dtype=np.int32)
    indices[:, :, :, 0] = 0
    indices[:, 20:, :, 1] = 1  # block 1 = tokens 16..31, only s <= t counted
    o, lse = ref.selected_attention(q, k, v, indices, cfg)
    for t in (3, 20, 35):
        keys = list(range(min(t, 15) + 1)) + (list(range(16, min(t, 31) + 1)) if t >= 20 else [])
        expected_o, expected_lse = ref.attend(q[0, t, 0], k[0, keys, 0], v[0, keys, 0],
                                              cfg.softmax_scale(8))
        np.testing.assert_allclose(o[0, t, 0], expected_o, **TOL)
        np.testing.assert_allclose(lse[0, t, 0], expected_lse, **TOL)


# --------------------------------------------------------------------------------------
# Score mappings and compression variants
# --------------------------------------------------------------------------------------


def test_equal_block_sizes_score_is_group_sum_of_p_cmp():
    base = dict(cmp_block=16, cmp_stride=16, slc_block=16, top_n=3, window=20)
    _, q, k, v, g = random_inputs(31, 2, 77, 4, 2, 8, 8)  # 77: last selection block partial
    overlap = ref.nsa_forward(q, k, v, g, NSAConfig(**base))
    identity = ref.nsa_forward(q, k, v, g, NSAConfig(**base, score_mapping="identity"))
    p_cmp = overlap["p_cmp"]  # [B, T, Hq, Nc], Nc = 4 < Ns = 5
    group_sum = p_cmp.reshape(2, 77, 2, 2, 4).sum(axis=3)  # query heads 2h, 2h + 1 -> h
    np.testing.assert_allclose(overlap["score"][..., :4], group_sum, **TOL)
    np.testing.assert_array_equal(overlap["score"][..., 4], 0)
    assert_outputs_match(identity, overlap)


def test_uniform_weights_equal_mean():
    cfg_mean = NSAConfig(**SMALL)
    cfg_weighted = NSAConfig(**SMALL, compression="weighted")
    _, q, k, v, g = random_inputs(32, 2, 45, 4, 2, 8, 12)
    uniform = np.full((2, 8), 1 / 8)
    kc_mean, vc_mean = ref.compress(k, v, cfg_mean)
    kc_w, vc_w = ref.compress(k, v, cfg_weighted, uniform, uniform)
    np.testing.assert_allclose(kc_w, kc_mean, **TOL)
    np.testing.assert_allclose(vc_w, vc_mean, **TOL)
    assert_outputs_match(ref.nsa_forward(q, k, v, g, cfg_weighted, uniform, uniform),
                         ref.nsa_forward(q, k, v, g, cfg_mean))


def test_compress_shapes_and_mean():
    cfg = NSAConfig(**SMALL)
    rng = np.random.default_rng(33)
    k, v = rng.standard_normal((2, 29, 3, 8)), rng.standard_normal((2, 29, 3, 5))
    kc, vc = ref.compress(k, v, cfg)
    assert kc.shape == (2, 6, 3, 8) and vc.shape == (2, 6, 3, 5)  # (29 − 8) // 4 + 1 = 6
    np.testing.assert_allclose(kc[:, 5], k[:, 20:28].mean(axis=1), **TOL)
    kc_short, _ = ref.compress(k[:, :7], v[:, :7], cfg)
    assert kc_short.shape == (2, 0, 3, 8)


# --------------------------------------------------------------------------------------
# Decode
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 7, 16, 33, 64])
def test_decode_step_equals_last_row_of_forward(T):
    cfg = NSAConfig(**SMALL)
    _, q, k, v, g = random_inputs(40 + T, 2, T, 4, 2, 8, 12)
    forward = ref.nsa_forward(q, k, v, g, cfg)
    decoded = ref.decode_step(q[:, -1], k, v, g[:, -1], cfg)
    last_row = {key: value[:, -1] for key, value in forward.items() if key not in ("kc", "vc")}
    assert_outputs_match(decoded, last_row)
    assert_outputs_match(decoded, {"kc": forward["kc"], "vc": forward["vc"]})
    oracle = oracle_nsa(q, k, v, g, cfg)
    assert_outputs_match(decoded, {key: value[:, -1] for key, value in oracle.items()
                                   if key not in ("kc", "vc")})


def test_decode_step_with_weights_and_branch_kv():
    cfg = NSAConfig(**SMALL, compression="weighted")
    rng, q, _, _, g = random_inputs(45, 1, 50, 2, 1, 8, 8)
    branch_kv = {branch: (rng.standard_normal((1, 50, 1, 8)), rng.standard_normal((1, 50, 1, 8)))
                 for branch in ("cmp", "slc", "win")}
    weights = rng.random((1, 8)), rng.random((1, 8))
    forward = ref.nsa_forward(q, None, None, g, cfg, *weights, branch_kv=branch_kv)
    decoded = ref.decode_step(q[:, -1], None, None, g[:, -1], cfg, *weights,
                              branch_kv=branch_kv)
    assert_outputs_match(decoded, {key: value[:, -1] for key, value in forward.items()
                                   if key not in ("kc", "vc")})


def test_forward_is_causal_decode_of_each_prefix():
    # Row t of the forward pass equals decoding with a cache of the first t + 1 tokens.
    cfg = NSAConfig(**SMALL)
    _, q, k, v, g = random_inputs(46, 1, 60, 2, 1, 8, 8)
    forward = ref.nsa_forward(q, k, v, g, cfg)
    for t in range(0, 60, 7):
        decoded = ref.decode_step(q[:, t], k[:, :t + 1], v[:, :t + 1], g[:, t], cfg)
        for key in ("o", "o_cmp", "o_slc", "o_win", "lse_cmp", "lse_slc", "lse_win", "indices"):
            np.testing.assert_allclose(decoded[key], forward[key][:, t], err_msg=key, **TOL)


# --------------------------------------------------------------------------------------
# Block math
# --------------------------------------------------------------------------------------


def test_block_counts_and_visibility():
    cfg = NSAConfig()  # l = 32, d = 16, l' = 64, w = 512
    assert [ref.num_compressed_blocks(T, cfg) for T in (0, 31, 32, 47, 48, 65536)] == \
        [0, 0, 1, 1, 2, 4095]
    assert [ref.num_selection_blocks(T, cfg) for T in (1, 64, 65, 300)] == [1, 1, 2, 5]
    assert not ref.compressed_block_visible(30, 0, cfg)
    assert ref.compressed_block_visible(31, 0, cfg)
    assert not ref.compressed_block_visible(46, 1, cfg)
    assert ref.compressed_block_visible(47, 1, cfg)
    assert [ref.window_start(t, cfg) for t in (0, 511, 512, 1000)] == [0, 0, 1, 489]


def test_paper_overlap_weights_are_1_2_2_2_1():
    cfg = NSAConfig()
    for j in range(1, 5):
        weights = {i: ref.overlap_weight(i, j, cfg) for i in range(0, 30)}
        assert [weights[i] for i in range(4 * j - 1, 4 * j + 4)] == [1, 2, 2, 2, 1]
        assert all(w == 0 for i, w in weights.items() if not 4 * j - 1 <= i <= 4 * j + 3)
    assert [ref.overlap_weight(i, 0, cfg) for i in range(5)] == [2, 2, 2, 1, 0]


@pytest.mark.parametrize("l, d, lp", [(32, 16, 64), (8, 4, 16), (16, 16, 16), (12, 4, 8),
                                      (4, 2, 2)])
def test_overlap_weight_is_eq9_read_zero_based(l, d, lp):
    # Eq. 9, 0-based: p_slc[j] = Σ_{m < l'/d, n < l/d} p_cmp[(l'/d)·j + m − n].
    cfg = NSAConfig(cmp_block=l, cmp_stride=d, slc_block=lp, top_n=4)
    for j in range(6):
        for i in range(30):
            eq9 = sum(1 for m in range(lp // d) for n in range(l // d)
                      if (lp // d) * j + m - n == i)
            assert ref.overlap_weight(i, j, cfg) == eq9, (i, j)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, field", [
    (dict(cmp_block=0), "cmp_block"),
    (dict(cmp_block=2.5), "cmp_block"),
    (dict(cmp_stride=0), "cmp_stride"),
    (dict(slc_block=-64), "slc_block"),
    (dict(top_n=0), "top_n"),
    (dict(top_n=True), "top_n"),
    (dict(window=0), "window"),
    (dict(num_init_blocks=-1), "num_init_blocks"),
    (dict(num_local_blocks=-1), "num_local_blocks"),
    (dict(cmp_block=24), "cmp_block"),  # d = 16 does not divide 24
    (dict(slc_block=40), "slc_block"),  # d = 16 does not divide 40
    (dict(slc_block=8), "slc_block"),  # l' < d
    (dict(top_n=2), "num_init_blocks"),  # 1 + 2 forced blocks > 2 places
    (dict(scale=0.0), "scale"),
    (dict(scale=-1.0), "scale"),
    (dict(scale=float("nan")), "scale"),
    (dict(compression="max"), "compression"),
    (dict(score_mapping="sum"), "score_mapping"),
    (dict(score_mapping="identity"), "score_mapping"),  # needs l == d == l'
])
def test_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        NSAConfig(**kwargs)


def test_config_accepts_valid_settings():
    NSAConfig()
    NSAConfig(cmp_block=64, cmp_stride=64, slc_block=64, score_mapping="identity")
    NSAConfig(top_n=1, num_init_blocks=0, num_local_blocks=1, scale=0.125,
              compression="weighted")
    assert NSAConfig(scale=None).softmax_scale(64) == 0.125


def _shapes(B=1, T=20, Hq=4, H=2, Dk=8, Dv=8):
    rng = np.random.default_rng(50)
    return (rng.standard_normal((B, T, Hq, Dk)), rng.standard_normal((B, T, H, Dk)),
            rng.standard_normal((B, T, H, Dv)), rng.random((B, T, Hq, 3)))


@pytest.mark.parametrize("mutate, message", [
    (lambda q, k, v, g: (q[0], k, v, g), "q must have rank 4"),
    (lambda q, k, v, g: (q, k[0], v, g), "k must have rank 4"),
    (lambda q, k, v, g: (q[:, :, :3], k, v, g), "not a multiple"),
    (lambda q, k, v, g: (q[..., :6], k, v, g), "head dim"),
    (lambda q, k, v, g: (q[:, :10], k, v, g[:, :10]), "sequence length"),
    (lambda q, k, v, g: (q, k, v[:, :10], g), r"agree on \[B, T, H\]"),
    (lambda q, k, v, g: (q, k, v, g[..., :2]), "g must have shape"),
    (lambda q, k, v, g: (q[:, :0], k[:, :0], v[:, :0], g[:, :0]), "must be >= 1"),
])
def test_forward_input_validation(mutate, message):
    with pytest.raises(ValueError, match=message):
        ref.nsa_forward(*mutate(*_shapes()), NSAConfig(**SMALL))


def test_branch_kv_validation():
    q, k, v, g = _shapes()
    cfg = NSAConfig(**SMALL)
    with pytest.raises(ValueError, match="branch_kv keys"):
        ref.nsa_forward(q, k, v, g, cfg, branch_kv={"window": (k, v)})
    with pytest.raises(ValueError, match="no k, v for branch 'slc'"):
        ref.nsa_forward(q, None, None, g, cfg, branch_kv={"cmp": (k, v), "win": (k, v)})
    with pytest.raises(ValueError, match="same shapes"):
        ref.nsa_forward(q, k, v, g, cfg, branch_kv={"win": (k, v[..., :4])})


def test_decode_input_validation():
    q, k, v, g = _shapes()
    cfg = NSAConfig(**SMALL)
    with pytest.raises(ValueError, match="q_new must have rank 3"):
        ref.decode_step(q, k, v, g[:, -1], cfg)
    with pytest.raises(ValueError, match="q_new has Hq=3"):
        ref.decode_step(q[:, -1, :3], k, v, g[:, -1, :3], cfg)
    with pytest.raises(ValueError, match="g must have shape"):
        ref.decode_step(q[:, -1], k, v, g, cfg)


def test_compression_weight_validation():
    _, k, v, _ = _shapes()
    weighted = NSAConfig(**SMALL, compression="weighted")
    with pytest.raises(ValueError, match="needs key_weights"):
        ref.compress(k, v, weighted)
    with pytest.raises(ValueError, match="value_weights must have shape"):
        ref.compress(k, v, weighted, np.ones((2, 8)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="takes no key_weights"):
        ref.compress(k, v, NSAConfig(**SMALL), np.ones((2, 8)), np.ones((2, 8)))


def test_branch_op_validation():
    q, k, v, _ = _shapes()
    cfg = NSAConfig(**SMALL)
    kc, vc = ref.compress(k, v, cfg)
    with pytest.raises(ValueError, match="q has 20 positions, expected 17"):
        ref.compressed_attention(q, kc, vc, cfg, seq_len=17)
    with pytest.raises(ValueError, match="kc has 4 compressed blocks, expected 3"):
        ref.compressed_attention(q[:, :17], kc, vc, cfg, seq_len=17)
    with pytest.raises(ValueError, match="indices must be integers"):
        ref.selected_attention(q, k, v, np.full((1, 20, 2, 4), 5), cfg)
    with pytest.raises(ValueError, match="not a multiple"):
        ref.selection_scores(np.zeros((1, 20, 4, 4)), 3, cfg, 20)
    with pytest.raises(ValueError, match="selection blocks"):
        ref.select_blocks(np.zeros((1, 20, 2, 3)), cfg, 20)


def test_branch_ops_compose_to_forward():
    # The public per-branch operations, chained by hand, give nsa_forward's results.
    cfg = NSAConfig(**SMALL)
    _, q, k, v, g = random_inputs(51, 2, 53, 4, 2, 8, 12)
    forward = ref.nsa_forward(q, k, v, g, cfg)
    kc, vc = ref.compress(k, v, cfg)
    o_cmp, lse_cmp = ref.compressed_attention(q, kc, vc, cfg, 53)
    p_cmp = ref.compressed_probs(q, kc, lse_cmp, cfg)
    score = ref.selection_scores(p_cmp, 2, cfg, 53)
    indices = ref.select_blocks(score, cfg, 53)
    o_slc, lse_slc = ref.selected_attention(q, k, v, indices, cfg)
    o_win, lse_win = ref.window_attention(q, k, v, cfg)
    chained = dict(o=ref.combine(o_cmp, o_slc, o_win, g), o_cmp=o_cmp, o_slc=o_slc,
                   o_win=o_win, lse_cmp=lse_cmp, lse_slc=lse_slc, lse_win=lse_win, kc=kc,
                   vc=vc, p_cmp=p_cmp, score=score, indices=indices)
    assert_outputs_match(chained, forward)
    # p_cmp rows are the compressed attention's softmax: they sum to 1 where any block is seen.
    seen = np.isfinite(lse_cmp)
    np.testing.assert_allclose(p_cmp.sum(axis=-1)[seen], 1.0, **TOL)
