"""The GPU check harness (bench/gpu_check.py) without a GPU: its comparisons must catch
what they are meant to catch, and a whole run in --simulate mode (the torch reference
standing in for the bundles) must pass, fail, skip and resume as documented.
Skipped where torch is not installed."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import load_script

torch = pytest.importorskip("torch")

gc = load_script("bench/gpu_check.py")

from nsa_mlir import reference_torch as rt  # noqa: E402
from nsa_mlir.reference import NSAConfig  # noqa: E402

torch.set_num_threads(1)

SMALL = dict(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32)


def entry(kind="window", dtype="f32", hq=4, h=2, dk=8, dv=12, cfg=SMALL, config="small",
          path=Path("/nonexistent")):
    return gc.Entry(name=f"{kind}-{config}-hq{hq}-h{h}-dk{dk}-dv{dv}-{dtype}", kind=kind,
                    config=config, cfg=NSAConfig(**cfg), num_q_heads=hq, num_kv_heads=h,
                    key_dim=dk, value_dim=dv, dtype=dtype, path=path)


def case(e, T=300, B=2, variant="random"):
    inputs = gc.make_inputs(e, T, B, variant, "cpu")
    return inputs, gc.Reference(inputs, e.cfg, None)


# --------------------------------------------------------------------------------------
# Dense and lse comparisons
# --------------------------------------------------------------------------------------


def test_compare_dense_passes_exact_and_catches_one_wrong_row():
    e = entry()
    _, ref = case(e)
    o, _ = ref.win()
    assert not gc.compare_dense("o", o.float(), o, "f32").problems
    bad = o.clone()
    bad[1, 200, 3] *= 1.01  # one row of 2·300·4, 1 % off: invisible in the norm
    c = gc.compare_dense("o", bad, o, "f32")
    assert c.metrics["bad_rows"] == 1 and c.metrics["worst_row"] == [1, 200, 3]
    assert any("rows with max|err|" in p for p in c.problems)
    # Excusing that row (as the attention check may) removes it from both checks.
    excuse = torch.zeros(o.shape[:-1], dtype=torch.bool)
    excuse[1, 200, 3] = True
    assert not gc.compare_dense("o", bad, o, "f32", excuse=excuse).problems


def test_compare_dense_catches_nan_and_shape():
    o = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    nan = o.clone()
    nan[0, 4, 2, 1] = float("nan")  # an unwritten element
    c = gc.compare_dense("o", nan, o, "bf16")
    assert any("NaN/Inf" in p and "[0, 4, 2, 1]" in p for p in c.problems)
    assert gc.compare_dense("o", o[:, :4], o, "f32").problems


def test_compare_dense_thresholds_by_dtype():
    o = torch.randn(2, 50, 3, 16, dtype=torch.float64)
    noisy = o * (1 + 3e-3 * torch.randn_like(o))
    assert gc.compare_dense("o", noisy, o, "f32").problems  # 3e-3 >> 1e-5
    assert not gc.compare_dense("o", noisy, o, "bf16").problems


def test_compare_lse_minus_inf_nan_and_values():
    e = entry(kind="compressed")
    _, ref = case(e, T=40)
    lse = ref.cmp()["lse"]  # -inf for t < 7
    assert torch.isneginf(lse[:, :7]).all()
    assert not gc.compare_lse("lse", lse.float(), lse, "f32").problems
    finite_where_empty = lse.clone()
    finite_where_empty[0, 3, 1] = 0.0
    assert any("-inf differs" in p for p in
               gc.compare_lse("lse", finite_where_empty, lse, "f32").problems)
    nan = lse.clone()
    nan[1, 20, 0] = float("nan")
    assert any("NaN/+inf" in p for p in gc.compare_lse("lse", nan, lse, "f32").problems)
    off = lse.clone()
    off[1, 20, 0] += 1e-3
    assert any("entries with |err|" in p for p in gc.compare_lse("lse", off, lse,
                                                                 "f32").problems)


# --------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------


def selection_case(dtype="bf16"):
    e = entry(kind="select", dtype=dtype)
    _, ref = case(e, T=300)
    return e, ref, ref.indices(), ref.cmp()["score"], ref.score_tol(dtype)


def test_selection_identical_and_format_errors():
    e, ref, idx, score, tol = selection_case()
    sel = gc.compare_selection(idx.clone(), idx, score, e.cfg, tol)
    assert not sel.problems and sel.metrics["same"] == sel.metrics["rows"]
    broken = {
        "unsorted": lambda r: r.flip(-1),
        "sentinel": lambda r: torch.where(r == -1, torch.full_like(r, gc.INT_SENTINEL), r),
        "not visible": lambda r: torch.where(r == r.max(), r + 1, r),
    }
    for name, fn in broken.items():
        k = idx.clone()
        k[0, 299, 1] = fn(k[0, 299, 1]) if name != "sentinel" else fn(k[0, 20, 1])
        if name == "sentinel":
            k[0, 299, 1] = idx[0, 299, 1]
            k[0, 20, 1] = fn(idx[0, 20, 1])
        sel = gc.compare_selection(k, idx, score, e.cfg, tol)
        assert sel.metrics["format_bad"] == 1 and sel.metrics["bad"] == 1, name
        assert sel.problems, name


def _boundary(e, score, idx, b, t, h):
    """(worst chosen candidate, best unchosen candidate) of one reference row."""
    n_slc = score.shape[-1]
    tt = torch.tensor([t])
    forced = rt.forced_block_mask(tt, n_slc, e.cfg)[0]
    visible = rt.visible_block_mask(tt, n_slc, e.cfg)[0]
    chosen = set(idx[b, t, h].tolist()) - {-1}
    cands = [j for j in range(n_slc) if visible[j] and not forced[j]]
    inside = [j for j in cands if j in chosen]
    outside = [j for j in cands if j not in chosen]
    worst_in = min(inside, key=lambda j: float(score[b, t, h, j]))
    best_out = max(outside, key=lambda j: float(score[b, t, h, j]))
    return worst_in, best_out


def _swap(idx, b, t, h, drop, add):
    k = idx.clone()
    row = sorted((set(k[b, t, h].tolist()) - {-1, drop}) | {add})
    k[b, t, h] = torch.tensor(row + [-1] * (k.shape[-1] - len(row)), dtype=k.dtype)
    return k


def test_selection_swap_is_legit_only_where_ambiguous():
    e, ref, idx, score, tol = selection_case()
    sel = gc.compare_selection(idx, idx, score, e.cfg, tol)
    ambiguous = sel.ambiguous.nonzero().tolist()
    assert ambiguous, "no ambiguous row in this case"
    b, t, h = ambiguous[0]
    drop, add = _boundary(e, score, idx, b, t, h)
    sel = gc.compare_selection(_swap(idx, b, t, h, drop, add), idx, score, e.cfg, tol)
    assert sel.metrics["legit_diff"] == 1 and sel.metrics["bad"] == 0 and not sel.problems
    # The same swap on a clear-cut row fails, and names the row.
    clear = ((~sel.ambiguous) & (score > 0).any(-1)).nonzero().tolist()
    for b, t, h in clear:
        if t >= 200:
            break
    drop, add = _boundary(e, score, idx, b, t, h)
    sel = gc.compare_selection(_swap(idx, b, t, h, drop, add), idx, score, e.cfg, tol)
    assert sel.metrics["bad"] == 1 and f"[{b}, {t}, {h}]" in sel.problems[0]
    # Exact mode (the tie case) accepts no difference at all.
    b, t, h = ambiguous[0]
    drop, add = _boundary(e, score, idx, b, t, h)
    sel = gc.compare_selection(_swap(idx, b, t, h, drop, add), idx, score, e.cfg, None,
                               exact=True)
    assert sel.metrics["bad"] == 1


def test_ties_case_reference_picks_lowest_blocks():
    cfg = dict(cmp_block=16, cmp_stride=16, slc_block=16, top_n=4, window=32)
    e = entry(kind="select", cfg=cfg, config="tied")
    assert gc.ties_applicable(e.cfg) and not gc.ties_applicable(NSAConfig(**SMALL))
    inputs, ref = case(e, T=200, B=1, variant="ties")
    score = ref.cmp()["score"]
    row = score[0, 199, 0]
    cands = row[1:11]  # visible, not forced at t = 199 (own block 12)
    assert (cands.max() - cands.min()) <= 1e-12 * cands.max()
    # The harness's expected choice: block 0 (forced), 1 (lowest tie), 11, 12 (local).
    result = gc.check_kind(e, inputs, ref, gc.SimulatedRunner(e), {}, "ties")
    assert not result["problems"], result["problems"]


# --------------------------------------------------------------------------------------
# Attention with legitimately different selections
# --------------------------------------------------------------------------------------


class FixedRunner:
    def __init__(self, outs):
        self.outs = outs

    def run(self, inputs):
        return self.outs, 0.0

    def close(self):
        pass


def attention_outputs(ref, indices, g):
    o_slc, l_slc = ref.slc(indices)
    o = rt.combine(ref.cmp()["o"], o_slc, ref.win()[0], g)
    return [o.to(torch.bfloat16), ref.cmp()["lse"].float(), l_slc.float(),
            ref.win()[1].float()]


def test_attention_follows_the_select_bundles_legit_choice():
    e = entry(kind="attention", dtype="bf16")
    inputs, ref = case(e)
    idx, score, tol = ref.indices(), ref.cmp()["score"], ref.score_tol("bf16")
    amb = gc.compare_selection(idx, idx, score, e.cfg, tol).ambiguous.nonzero().tolist()
    b, t, h = amb[0]
    drop, add = _boundary(e, score, idx, b, t, h)
    alt = _swap(idx, b, t, h, drop, add)
    outs = attention_outputs(ref, alt, inputs["g"].double())
    # The select bundle made the same (legitimate) choice: strict against the
    # reference recomputed on it.
    result = gc.check_kind(e, inputs, ref, FixedRunner(outs), {"kernel_indices": alt},
                           "random")
    assert not result["problems"], result["problems"]
    assert result["metrics"]["selection"]["legit_diff"] == 1
    assert any("recomputed on the select bundle's choice" in n for n in result["notes"])
    # The select bundle chose as the reference did, the composite otherwise: the row
    # is ambiguous and its output is that of another consistent selection.
    result = gc.check_kind(e, inputs, ref, FixedRunner(outs), {"kernel_indices": idx},
                           "random")
    assert not result["problems"], result["problems"]
    assert result["metrics"]["alternatives"]["matched"] == 1
    # Without any select bundle, the same.
    result = gc.check_kind(e, inputs, ref, FixedRunner(outs), {}, "random")
    assert not result["problems"], result["problems"]
    assert result["metrics"]["alternatives"]["matched"] == 1
    assert result["metrics"]["selection"]["source"].startswith("none")
    # An ambiguous row with a wrong output (not any consistent selection's) fails.
    wrong = [x.clone() for x in outs]
    wrong[0][b, t, h * 2] += 0.3
    result = gc.check_kind(e, inputs, ref, FixedRunner(wrong), {"kernel_indices": alt},
                           "random")
    assert any(f"[{b}, {t}, {h * 2}]" in p for p in result["problems"]), result["problems"]
    # The same deviation on a clear-cut row fails.
    sel = gc.compare_selection(idx, idx, score, e.cfg, tol)
    b, t, h = ((~sel.ambiguous) & (torch.arange(300)[None, :, None] > 250)).nonzero()[0].tolist()
    drop, add = _boundary(e, score, idx, b, t, h)
    outs = attention_outputs(ref, _swap(idx, b, t, h, drop, add), inputs["g"].double())
    result = gc.check_kind(e, inputs, ref, FixedRunner(outs), {"kernel_indices": idx},
                           "random")
    assert any(p.startswith(("o:", "lse_slc:")) and f"[{b}, {t}, " in p
               for p in result["problems"]), result["problems"]


# --------------------------------------------------------------------------------------
# Whole runs (--simulate)
# --------------------------------------------------------------------------------------


def write_index(tmp_path, dtypes=("f32", "bf16")):
    entries = []
    for dtype in dtypes:
        for kind in gc.KINDS:
            e = entry(kind=kind, dtype=dtype)
            entries.append({"name": e.name, "kind": kind, "config": "small",
                            "config_params": SMALL, "num_q_heads": 4, "num_kv_heads": 2,
                            "key_dim": 8, "value_dim": 12, "dtype": dtype})
    (tmp_path / "index.json").write_text(json.dumps(entries))
    return tmp_path


def run_main(tmp_path, *extra):
    out = tmp_path / "out.json"
    rc = gc.main(["--simulate", "--bundles", str(tmp_path), "--json", str(out),
                  "--no-crosscheck", *extra])
    return rc, json.loads(out.read_text()) if out.exists() else None


def test_simulated_run_passes_and_writes_json(tmp_path, capsys):
    write_index(tmp_path)
    rc, data = run_main(tmp_path, "--T", "1,17,100", "--B", "1,2")
    assert rc == 0
    assert data["summary"]["cases_passed"] == 10 * 6 and data["summary"]["cases_failed"] == 0
    assert {b["name"] for b in data["bundles"]} == {
        entry(kind=k, dtype=d).name for k in gc.KINDS for d in ("f32", "bf16")}
    assert data["meta"]["simulate"] is True
    printed = capsys.readouterr().out
    assert "gpu_check: PASSED: 60 cases passed" in printed
    assert "window-small-hq4-h2-dk8-dv12-f32" in printed  # the table


def test_simulated_run_fails_on_a_corrupted_output(tmp_path, monkeypatch, capsys):
    write_index(tmp_path, dtypes=("f32",))
    original = gc.SimulatedRunner.run

    def corrupt(self, inputs):
        outs, ms = original(self, inputs)
        if self.entry.kind == "window" and outs[0].shape[1] > 50:
            outs[0][0, 50, 1, 2] += 0.5
        if self.entry.kind == "select" and outs[0].shape[1] > 99:
            outs[0][1, 99, 0, 1] = -1  # a hole in the middle
        return outs, ms

    monkeypatch.setattr(gc.SimulatedRunner, "run", corrupt)
    rc, data = run_main(tmp_path, "--T", "17,100", "--B", "2")
    assert rc == 1
    failed = {(b["kind"], c["case"]) for b in data["bundles"] for c in b["cases"]
              if c["status"] == "fail"}
    # The attention check uses the select bundle's indices as the composite's
    # selection, so a broken select fails it too.
    assert failed == {("window", "T=100 B=2"), ("select", "T=100 B=2"),
                      ("attention", "T=100 B=2")}
    window = next(b for b in data["bundles"] if b["kind"] == "window")
    problems = next(c for c in window["cases"] if c["status"] == "fail")["problems"]
    assert any("[0, 50, 1]" in p for p in problems)
    assert "FAILED" in capsys.readouterr().out


def test_time_budget_skips_and_reports(tmp_path, capsys):
    write_index(tmp_path, dtypes=("f32",))
    rc, data = run_main(tmp_path, "--T", "17", "--B", "1", "--time-budget", "1e-9")
    assert rc == 0 and data["summary"]["incomplete"]
    assert data["summary"]["cases_skipped"] == 5
    assert all(c["reason"] == "time budget" for b in data["bundles"] for c in b["cases"])
    assert "INCOMPLETE" in capsys.readouterr().out


def test_resume_keeps_done_cases_and_excludes_faulted_bundles(tmp_path):
    write_index(tmp_path, dtypes=("f32",))
    rc, first = run_main(tmp_path, "--T", "17", "--B", "1")
    assert rc == 0
    faulted = entry(kind="selected").name
    first["faulted"] = [{"bundle": faulted, "case": "T=17 B=1", "error": "illegal address"}]
    for b in first["bundles"]:
        if b["name"] == faulted:
            b["cases"] = [dict(b["cases"][0], status="fail", problems=["CUDA fault"])]
    prev = tmp_path / "prev.json"
    prev.write_text(json.dumps(first))
    rc, data = run_main(tmp_path, "--T", "17,100", "--B", "1", "--resume", str(prev))
    assert rc == 1  # the faulted case stays failed
    rec = next(b for b in data["bundles"] if b["name"] == faulted)
    status = {c["case"]: c["status"] for c in rec["cases"]}
    assert status == {"T=17 B=1": "fail", "T=100 B=1": "skipped"}
    other = next(b for b in data["bundles"] if b["kind"] == "window")
    assert {c["case"] for c in other["cases"]} == {"T=17 B=1", "T=100 B=1"}


def test_filter_exclude_quick_and_argument_errors(tmp_path, capsys):
    write_index(tmp_path)
    assert gc.main(["--bundles", str(tmp_path), "--list", "--filter", "window,select-",
                    "--exclude", "bf16", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "window-small-hq4-h2-dk8-dv12-f32" in out and "select-small" in out
    assert "bf16" not in out.split("bundles, cases")[0]
    assert "[(1, 1), (1, 2), (17, 1), (17, 2), (100, 1), (100, 2)]" in out
    assert gc.main(["--bundles", str(tmp_path), "--list", "--filter", "nothing"]) == 2
    with pytest.raises(SystemExit):
        gc.parse_args(["--T", "17,x"])
    args = gc.parse_args(["--max-T", "1000"])
    assert gc.case_list(args)[-1] == (1000, 2) and len(gc.case_list(args)) == 8
    with pytest.raises(SystemExit, match="index.json not found"):
        gc.main(["--bundles", str(tmp_path / "missing"), "--list"])


def test_groups_share_inputs_and_order_select_before_attention():
    entries = [replace(entry(kind=k), path=Path("x")) for k in gc.KINDS]
    groups = gc.group_entries(entries)
    assert len(groups) == 1
    kinds = [m.kind for m in next(iter(groups.values()))]
    assert kinds.index("select") < kinds.index("attention")
    a = gc.make_inputs(entries[0], 17, 2, "random", "cpu")
    b = gc.make_inputs(entries[0], 17, 2, "random", "cpu")
    assert all(torch.equal(a[n], b[n]) for n in "qkvg")
    c = gc.make_inputs(entries[0], 17, 1, "random", "cpu")
    assert not torch.equal(a["q"][:1], c["q"])  # seeded per case
    assert 0 < float(a["g"].min()) and float(a["g"].max()) < 1


def test_cuda_fault_aborts_with_status_3_and_resume_goes_on_without_the_bundle(
        tmp_path, monkeypatch):
    write_index(tmp_path, dtypes=("f32",))
    original = gc.SimulatedRunner.run
    culprit = entry(kind="window").name

    def fault(self, inputs):
        if self.entry.name == culprit and inputs[0].shape[1] == 17:
            raise gc.CudaFault("CUDA error: an illegal memory access was encountered")
        return original(self, inputs)

    monkeypatch.setattr(gc.SimulatedRunner, "run", fault)
    out = tmp_path / "run.json"
    args = ["--simulate", "--bundles", str(tmp_path), "--json", str(out), "--no-crosscheck",
            "--T", "1,17,100", "--B", "1"]
    assert gc.main(args) == 3
    data = json.loads(out.read_text())
    assert data["aborted"]["bundle"] == culprit
    assert [f["bundle"] for f in data["faulted"]] == [culprit]
    skipped = [c for b in data["bundles"] for c in b["cases"] if c["status"] == "skipped"]
    assert skipped and all("CUDA fault" in c["reason"] for c in skipped)
    # What gpu_check.sh does next: the same command with --resume.
    assert gc.main(args + ["--resume", str(out)]) == 1  # the faulted case stays failed
    data = json.loads(out.read_text())
    assert data["aborted"] is None
    status = {(b["kind"], c["case"]): c["status"] for b in data["bundles"] for c in b["cases"]}
    assert status[("window", "T=17 B=1")] == "fail"
    assert status[("window", "T=100 B=1")] == "skipped"
    assert all(v == "pass" for (kind, _), v in status.items() if kind != "window")
    assert len(status) == 15
