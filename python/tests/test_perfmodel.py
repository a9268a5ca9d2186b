"""The benchmark's work counts (nsa_mlir.perfmodel) against the reference's own
definitions of the key sets, the FLOP and byte formulas on hand-computed cases, the
roofline, and the manifest size-expression evaluator."""

import math
import random

import pytest

from nsa_mlir import perfmodel as pm
from nsa_mlir import reference as ref
from nsa_mlir.reference import NSAConfig

PAPER = NSAConfig()
FLA64 = NSAConfig(cmp_block=64, cmp_stride=64)


def small(cfg, T, **kw):
    shape = dict(B=1, Hq=4, H=2, Dk=8, Dv=4)
    shape.update(kw)
    return pm.Problem.from_config(cfg, T=T, **shape)


@pytest.mark.parametrize("cfg", [PAPER, FLA64, NSAConfig(cmp_block=32, cmp_stride=32,
                                                         slc_block=32, top_n=4, window=40)])
def test_key_counts_match_reference_key_sets(cfg):
    T = 700
    p = small(cfg, T)
    num_cmp = ref.num_compressed_blocks(T, cfg)
    assert p.num_cmp == num_cmp
    rng = random.Random(0)
    num_slc = ref.num_selection_blocks(T, cfg)
    for t in range(T):
        assert pm.cmp_keys(t, p) == len(ref.visible_compressed_blocks(t, num_cmp, cfg))
        assert pm.win_keys(t, p) == len(ref.window_positions(t, cfg))
        scores = [rng.random() for _ in range(num_slc)]
        blocks = ref.select_block_set(scores, t, cfg)
        assert pm.slc_keys(t, p) == len(ref.selected_token_positions(blocks, t, cfg))
        assert pm.selected_tokens_from_indices(blocks + [-1], t, cfg.slc_block) == \
            pm.slc_keys(t, p)
    assert pm.sum_dense_keys(p) == sum(t + 1 for t in range(T))


def test_short_sequences():
    p = small(PAPER, 20)  # shorter than one compressed block (l = 32)
    assert p.num_cmp == 0
    assert pm.sum_cmp_keys(p) == 0
    assert pm.sum_slc_keys(p) == pm.sum_win_keys(p) == pm.sum_dense_keys(p) == 210


def test_flops_and_bytes_by_hand():
    # T = 64, paper config: nc(t) = (t - 31) // 16 + 1 for t >= 31 -> 1 (t 31..46),
    # 2 (47..62), 3 (63): sum = 16 + 32 + 3 = 51. Selected and window see all t + 1
    # keys (one selection block, w = 512): sum = 64·65/2 = 2080.
    p = pm.Problem(B=2, T=64, Hq=4, H=2, Dk=8, Dv=4)
    assert pm.sum_cmp_keys(p) == 51
    assert pm.sum_slc_keys(p) == pm.sum_win_keys(p) == 2080
    base = 2 * 2 * 4
    assert pm.work("compressed", p).flops == base * 51 * 12
    assert pm.work("select", p).flops == base * 51 * 20
    assert pm.work("selection_only", p).flops == base * 51 * 8
    assert pm.work("selected", p).flops == base * 2080 * 12
    assert pm.work("window", p).flops == base * 2080 * 12
    assert pm.work("dense_causal", p).flops == base * 2080 * 12
    assert pm.work("nsa", p).flops == base * (51 * 20 + 2 * 2080 * 12)
    assert pm.work("fla_nsa", p).flops == base * (51 * 20 + 2080 * 12)
    q, k, v = 2 * 64 * 4 * 8 * 2, 2 * 64 * 2 * 8 * 2, 2 * 64 * 2 * 4 * 2
    o, lse, g = 2 * 64 * 4 * 4 * 2, 2 * 64 * 4 * 4, 2 * 64 * 4 * 3 * 2
    idx = 2 * 64 * 2 * 16 * 4
    kcvc = 2 * 3 * 2 * 12 * 2  # Nc = (64 - 32) // 16 + 1 = 3
    assert pm.work("nsa", p).bytes == q + k + v + g + o + 3 * lse
    assert pm.work("compressed", p).bytes == q + k + v + o + lse + kcvc
    assert pm.work("select", p).bytes == q + k + v + idx
    assert pm.work("selected", p).bytes == q + k + v + idx + o + lse
    assert pm.work("dense_causal", p).bytes == q + k + v + o
    # The gather roof's bytes: each selected key's K and V row, per (batch, KV head).
    assert pm.work("selected_gather", p).flops == 0
    assert pm.work("selected_gather", p).bytes == 2 * 2 * 2080 * (8 + 4) * 2
    with pytest.raises(ValueError):
        pm.work("nope", p)


def test_anchor_shape_matches_performance_notes():
    # ../shared/docs/performance-notes.md, T = 65536, fla's config, 64 / 4 heads, 128:
    # compressed attention ~1.1e12, top-k products ~5.5e11, selected 2.2e12 (a
    # nominal T·n·l' count; the visible count is a little smaller), window 1.1e12.
    p = pm.Problem.from_config(FLA64, B=1, T=65536, Hq=64, H=4, Dk=128, Dv=128)
    assert pm.work("compressed", p).flops == pytest.approx(1.1e12, rel=0.01)
    assert pm.work("fla_topk", p).flops == pytest.approx(5.5e11, rel=0.01)
    nominal = 1 * 64 * 65536 * 16 * 64 * 256 * 2
    assert pm.work("selected", p).flops == pytest.approx(nominal, rel=0.05)
    assert pm.work("selected", p).flops < nominal
    assert pm.work("window", p).flops == pytest.approx(1.1e12, rel=0.01)
    dense = pm.work("dense_causal", p).flops
    assert dense == 2 * 64 * (65536 * 65537 // 2) * 256


def test_roofline():
    w = pm.Work(flops=7e11, bytes=3e9, flops_formula="", bytes_formula="")
    r = pm.roofline(w, 0.004, peak_tflops=700, peak_tbps=3.0)
    assert r["bound"] == "compute"
    assert r["roof_ms"] == pytest.approx(1.0)
    assert r["tflops"] == pytest.approx(175.0)
    assert r["tbps"] == pytest.approx(0.75)
    assert r["pct_of_roof"] == pytest.approx(25.0)
    m = pm.roofline(pm.Work(1e9, 3e9, "", ""), None)
    assert m["bound"] == "memory" and m["roof_ms"] == pytest.approx(1.0)
    assert "tflops" not in m


@pytest.mark.parametrize("expr,value", [
    (7, 7), ("T", 100), ("B * T", 200), ("max((T - 32) floordiv 16 + 1, 0)", 5),
    ("max(((T floordiv 16) + -1), 0)", 5), ("T ceildiv 64", 2), ("-T floordiv 64", -2),
    ("-7 mod 3", 2), ("(((B * T) * 8192) ceildiv 256)", 6400), ("min(T, 3) * 2", 6),
    ("2 + 3 * 4 - 1", 13), ("T - 5 - 5", 90),
])
def test_size_expressions(expr, value):
    assert pm.eval_size_expr(expr, {"B": 2, "T": 100}) == value


@pytest.mark.parametrize("expr", ["X + 1", "T ceildiv", "(T", "T floordiv 0", "T T"])
def test_size_expression_errors(expr):
    with pytest.raises((ValueError, ZeroDivisionError)):
        pm.eval_size_expr(expr, {"T": 4})


def test_bundle_memory_matches_the_runtime_plan():
    # The buffers of the paper config's attention bundle (bench preset); the runtime's
    # `nsa-bundle plan ... B=1 T=65536` reports 73039603712 bytes of scratch.
    nc = "max(((T floordiv 16) + -1), 0)"
    manifest = {
        "inputs": [{"dtype": "bf16", "shape": ["B", "T", 64, 128]}],
        "outputs": [{"dtype": "bf16", "shape": ["B", "T", 64, 128]},
                    {"dtype": "f32", "shape": ["B", "T", 64]}],
        "buffers": [
            {"dtype": "f32", "shape": ["B", nc, 4, 128]},
            {"dtype": "bf16", "shape": ["B", nc, 4, 128]},
            {"dtype": "f32", "shape": ["B", nc, 4, 128]},
            {"dtype": "bf16", "shape": ["B", nc, 4, 128]},
            {"dtype": "bf16", "shape": ["B", "T", 64, 128]},
            {"dtype": "f32", "shape": ["B", "T", 64, nc]},
            {"dtype": "f32", "shape": ["B", "T", 4, "(T ceildiv 64)"]},
            {"dtype": "i32", "shape": ["B", "T", 4, 16]},
            {"dtype": "bf16", "shape": ["B", "T", 64, 128]},
            {"dtype": "bf16", "shape": ["B", "T", 64, 128]},
        ],
    }
    mem = pm.bundle_memory(manifest, {"B": 1, "T": 65536})
    assert mem["scratch"] == 73039603712
    assert mem["outputs"] == 65536 * 64 * (128 * 2 + 4)
    assert mem["inputs"] == 65536 * 64 * 128 * 2
    assert math.isclose(mem["scratch"] / 2**30, 68.02, rel_tol=1e-3)


def test_device_peaks_use_the_measured_h200_bandwidth():
    tflops, tbps, note = pm.device_peaks("NVIDIA H200")
    assert (tflops, tbps) == (pm.H100_PEAK_TFLOPS, pm.H200_PEAK_TBPS)
    assert "H200" in note and "measured" in note
    assert pm.device_peaks("NVIDIA H100 80GB HBM3")[:2] == (pm.H100_PEAK_TFLOPS,
                                                             pm.H100_PEAK_TBPS)
    # Any other device gets the H100's figures, and the note says so.
    assert "the roofline figures are the H100's" in pm.device_peaks("NVIDIA A100")[2]


def test_staged_key_rows_by_hand():
    # T = 8, CTAs of 4 positions, w = 3, l = d = l' = 2, n = 2:
    # cmp_keys(t) = (t - 1) // 2 + 1 for t >= 1 (2 at t = 3, 4 at t = 7).
    p = pm.Problem(B=1, T=8, Hq=2, H=1, Dk=4, Dv=2, cmp_block=2, cmp_stride=2,
                   slc_block=2, top_n=2, window=3)
    # One query tile of 8 positions, 2-key chunks: the CTA of positions 0..3
    # sees compressed keys 0..1 (one chunk), that of 4..7 keys 0..3 (two).
    assert pm.staged_key_rows("compressed", p, 4, loop_positions=8, chunk=2) == 2 + 4
    assert pm.staged_key_rows("probs", p, 4, loop_positions=8, chunk=2) == 2 + 4
    # Windows: positions 0..3 see keys 0..3 (chunks [0, 2), [2, 4)), 4..7
    # keys 2..7 (chunks [2, 4), [4, 6), [6, 8)).
    assert pm.staged_key_rows("window", p, 4, loop_positions=8, chunk=2) == 4 + 6
    # 4-key chunks are copied whole: the CTA of 4..7 also copies keys 0..1,
    # and the one of 0..3 compressed keys 2..3 that it does not see.
    assert pm.staged_key_rows("window", p, 4, loop_positions=8, chunk=4) == 4 + 8
    assert pm.staged_key_rows("compressed", p, 4, loop_positions=8, chunk=4) == 4 + 4
    # Two query tiles of 4: the second's window range starts at key 2.
    assert pm.staged_key_rows("window", p, 4, loop_positions=4, chunk=4) == 4 + 6
    # Selected: each position's keys, 1 + 2 + 3 + 4 + 3 + 4 + 3 + 4.
    assert pm.staged_key_rows("selected", p, 4) == 24
    assert pm.staged_bytes("window", p, 4, loop_positions=8, chunk=2) == 10 * (4 + 2) * 2
    assert pm.staged_bytes("probs", p, 4, loop_positions=8, chunk=2) == 6 * 4 * 2
    # One position per CTA and one-key chunks: each position's own window.
    assert pm.staged_key_rows("window", p, 1, loop_positions=1, chunk=1) == \
        pm.sum_win_keys(p)
    with pytest.raises(ValueError):
        pm.staged_key_rows("dense_causal", p, 4)
