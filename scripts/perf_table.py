#!/usr/bin/env python3
"""Turns a result JSON of bench/benchmark.py into the markdown of docs/performance.md:
the setup, a headline table (the full forward against the anchors), one table per T
with every kernel's time, achieved TFLOP/s and TB/s and its share of the roofline,
the time ratios, what was not measured and why, and the arithmetic behind the
derived numbers.

    python3 scripts/perf_table.py RESULT.json [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from nsa_mlir import perfmodel  # noqa: E402

# Display order of the measurements in the per-T tables.
ORDER = ["ours.nsa", "ours.compressed", "ours.select", "ours.selection_only",
         "ours.selected", "roof.selected_gather", "ours.window", "sdpa.cudnn", "sdpa.flash", "flex.window",
         "fla.nsa", "fla.nsa+flex.window", "fla.compressed", "fla.topk", "fla.selected"]
LABELS = {
    "ours.nsa": "ours: full NSA forward",
    "ours.compressed": "ours: compress + compressed attention",
    "ours.select": "ours: compress + cmp. attention + probs + top-n",
    "ours.selection_only": "ours: selection only (select − compressed)†",
    "ours.selected": "ours: selected attention",
    "roof.selected_gather": "gather roof of selected attention (copy only)§",
    "ours.window": "ours: window attention",
    "sdpa.cudnn": "SDPA cuDNN, dense causal",
    "sdpa.flash": "SDPA flash, dense causal",
    "flex.window": "FlexAttention, window 512",
    "fla.nsa": "fla parallel_nsa (no window)",
    "fla.nsa+flex.window": "fla NSA + FlexAttention window†",
    "fla.compressed": "fla: pooling + compressed attention",
    "fla.topk": "fla: top-n",
    "fla.selected": "fla: selected attention",
}


def _ms(x) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _num(x, digits=2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ratio(x) -> str:
    if x is None:
        return "—"
    if x >= 10:
        return f"{x:.1f}×"
    return f"{x:.2f}×" if x >= 0.1 else f"{x:.3g}×"


def _problem(shape: dict, T: int, params: dict):
    """perfmodel's Problem of a result's shape and config (None if incomplete)."""
    try:
        return perfmodel.Problem.from_shape(shape, T, params)
    except (KeyError, TypeError):
        return None


def _find(data, mid, T, config):
    for r in data["measurements"]:
        if r["id"] == mid and r["T"] == T and r.get("config") == config:
            return r
    return None


def _anchor(data, mid, T):
    return _find(data, mid, T, None) or _find(data, mid, T, "fla64")


def _median(r):
    if r and r.get("status") in ("ok", "derived"):
        return r.get("median_ms")
    return None


def _cfg_text(params: dict) -> str:
    return (f"l={params['cmp_block']}, d={params['cmp_stride']}, l'={params['slc_block']}, "
            f"n={params['top_n']}, w={params['window']}")


def render(data: dict) -> str:
    meta = data["meta"]
    Ts = sorted({r["T"] for r in data["measurements"]})
    configs = list(meta.get("configs", {}).keys())
    shape = meta.get("shape", {})
    out = []
    w = out.append
    w(f"## Measured on {meta['device']}, {meta['date']}")
    w("")
    w(f"- commit `{meta.get('commit')}`; fla-org/flash-linear-attention "
      f"`{meta.get('fla_commit')}`" + (f" ({meta['fla_commit_info']})"
                                       if meta.get("fla_commit_info") else ""))
    w(f"- torch {meta.get('torch')} (CUDA {meta.get('torch_cuda')}, cuDNN "
      f"{meta.get('cudnn')}), triton {meta.get('triton')}, Python {meta.get('python')}")
    if meta.get("nvidia_smi"):
        w(f"- nvidia-smi: {meta['nvidia_smi']}")
    w(f"- shape: {shape.get('dtype')}, B={shape.get('B')}, {shape.get('Hq')} query heads, "
      f"{shape.get('H')} KV heads, Dk={shape.get('Dk')}, Dv={shape.get('Dv')}")
    for name, params in meta.get("configs", {}).items():
        w(f"- config {name}: {_cfg_text(params)}")
    t = meta.get("timing", {})
    w(f"- timing: {meta.get('timing_method')}; up to {t.get('warmup')} warm-up calls and "
      f"{t.get('min_reps')}..{t.get('rep')} samples within ~{t.get('max_seconds')} s per "
      f"measurement; first call (compilation, autotuning, allocation) reported apart; "
      f"inputs: {meta.get('inputs')}")
    w(f"- roofline: {meta['peak_tflops']} TFLOP/s (dense bf16 tensor cores) and "
      f"{meta['peak_tbps']} TB/s: {meta.get('peaks_note')}")
    w("- † a difference or sum of two medians, not a timing of its own")
    w("- § copy-only kernels reading the rows ours.selected reads, with its indices "
      "(bench/gather_roof.py); the fastest variant's time; its bytes are the gathered "
      "rows, mostly L2 hits, so it has no DRAM roofline")
    w("")

    # Headline.
    w("### Full forward against the anchors")
    w("")
    w("| T | config | ours NSA (ms) | cuDNN dense (ms) | flash dense (ms) | "
      "fla NSA + window (ms) | ours / cuDNN | ours / flash | ours / (fla + window) | "
      "ours % of roofline |")
    w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for T in Ts:
        cudnn = _median(_anchor(data, "sdpa.cudnn", T))
        flash = _median(_anchor(data, "sdpa.flash", T))
        fla = _median(_anchor(data, "fla.nsa+flex.window", T))
        for config in configs:
            r = _find(data, "ours.nsa", T, config)
            ours = _median(r)
            pct = r.get("roofline", {}).get("pct_of_roof") if ours else None

            def ratio(a):
                return _ratio(ours / a) if ours and a else "—"
            fla_note = "" if config == "fla64" else " ‡"
            w(f"| {T} | {config} | {_ms(ours)} | {_ms(cudnn)} | {_ms(flash)} | "
              f"{_ms(fla)}{fla_note if fla else ''} | {ratio(cudnn)} | {ratio(flash)} | "
              f"{ratio(fla)}{fla_note if fla and ours else ''} | {_num(pct, 3)} |")
    w("")
    w("‡ fla runs its own config (l=d=l'=64) whatever the row's config. Ratios are "
      "times, ours / anchor: above 1 ours is slower.")
    w("")

    # Per T.
    for T in Ts:
        w(f"### T = {T}")
        w("")
        w("| kernel | config | median (ms) | TFLOP/s | TB/s | % of roofline | bound | "
          "roofline (ms) | samples | first call (ms) |")
        w("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
        rows = [r for r in data["measurements"] if r["T"] == T]
        rows.sort(key=lambda r: (ORDER.index(r["id"]) if r["id"] in ORDER else 99,
                                 r.get("config") or ""))
        for r in rows:
            rf = dict(r.get("roofline", {}))
            if r.get("impl") == "roof":  # L2-level bytes: no DRAM roofline
                rf.update(pct_of_roof=None, bound="gather", roof_ms=None, tflops=None)
            med = _median(r)
            label = LABELS.get(r["id"], r["id"])
            if med is None:
                status = r.get("status", "?")
                w(f"| {label} | {r.get('config') or '—'} | {status} | | | | "
                  f"{rf.get('bound', '')} | {_ms(rf.get('roof_ms'))} | | |")
                continue
            w(f"| {label} | {r.get('config') or '—'} | {_ms(med)} | "
              f"{_num(rf.get('tflops'))} | {_num(rf.get('tbps'), 3)} | "
              f"{_num(rf.get('pct_of_roof'), 3)} | {rf.get('bound', '')} | "
              f"{_ms(rf.get('roof_ms'))} | {r.get('samples', '—')} | "
              f"{_ms(r.get('first_call_ms'))} |")
        w("")

    # Staged bytes against the gather roof.
    gathers = [r for r in data["measurements"]
               if r["id"] == "roof.selected_gather" and _median(r) is not None]
    if gathers:
        w("### Bytes through L2 against the gather roof")
        w("")
        w("Our kernels stage K/V rows from L2 (perfmodel.staged_bytes, for the compiler's "
          "default tiles: CTAs of 64 rows, i.e. 64 / G positions, in query tiles of 64 "
          "positions, copying whole 64-key chunks). The gather roof is the fastest "
          "copy-only kernel over the rows ours.selected reads (§). ours.compressed "
          "includes the compress kernel (about 0.1 ms at T = 65536).")
        w("")
        w("| T | config | kernel | staged bytes | median (ms) | staged TB/s | "
          "gather roof TB/s (variant) | % of the gather roof |")
        w("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
        shape = meta.get("shape", {})
        group = max(1, shape.get("Hq", 1) // max(1, shape.get("H", 1)))
        tile_positions = max(1, 64 // group)
        for g in sorted(gathers, key=lambda r: (r["T"], r.get("config") or "")):
            roof_tbps = g["roofline"].get("tbps")
            params = meta.get("configs", {}).get(g.get("config"), {})
            prob = _problem(shape, g["T"], params)
            for kid, model in (("ours.compressed", "compressed"),
                               ("ours.selected", "selected"), ("ours.window", "window")):
                med = _median(_find(data, kid, g["T"], g.get("config")))
                staged = perfmodel.staged_bytes(model, prob, tile_positions) if prob else None
                tbps = staged / (med / 1e3) / 1e12 if med and staged else None
                pct = 100 * tbps / roof_tbps if tbps and roof_tbps else None
                w(f"| {g['T']} | {g.get('config')} | {LABELS.get(kid, kid)} | "
                  f"{staged:.4e} | {_ms(med)} | {_num(tbps, 2)} | "
                  f"{_num(roof_tbps, 2)} ({g.get('variant', '—')}) | {_num(pct, 1)} |"
                  if staged else
                  f"| {g['T']} | {g.get('config')} | {LABELS.get(kid, kid)} | — | | | | |")
        w("")

    # Ratios.
    if data.get("ratios"):
        w("### Ratios (ours / anchor, time)")
        w("")
        w("| T | config | ours | anchor | ours (ms) | anchor (ms) | ours / anchor |")
        w("| ---: | --- | --- | --- | ---: | ---: | ---: |")
        for x in data["ratios"]:
            note = f" ({x['note']})" if x.get("note") else ""
            w(f"| {x['T']} | {x['config']} | {x['ours']} | {x['anchor']}{note} | "
              f"{_ms(x['ours_ms'])} | {_ms(x['anchor_ms'])} | "
              f"{_ratio(x['ours_over_anchor'])} |")
        w("")

    # Not measured.
    missing = [r for r in data["measurements"] if r.get("status") in ("skipped", "error")]
    if missing or meta.get("context_lost"):
        w("### Not measured")
        w("")
        if meta.get("context_lost"):
            w(f"- the CUDA context became unusable {meta['context_lost']}; everything after "
              "it was skipped")
        for r in missing:
            why = (r.get("error") or r.get("reason") or "").replace("\n", " ").replace("|", "/")
            if len(why) > 400:
                why = why[:400] + " ..."
            w(f"- T={r['T']} {r.get('config') or ''} `{r['id']}`: {r['status']}: {why}")
        w("")
    checks = data.get("index_checks")
    if checks:
        w("Indices fed to ours.selected (checked against the selection rules):")
        w("")
        for c in checks:
            w(f"- T={c['T']} {c['config']}: valid={c['valid']}"
              + (f" ({c['problem']})" if c.get("problem") else "")
              + f", selected (query, key) pairs per (batch, KV head) sum "
                f"{c.get('selected_pairs')} vs counted {c.get('expected_pairs')}")
        w("")

    # Arithmetic.
    w("### The arithmetic")
    w("")
    w("FLOPs are 2·M·N·K per matrix product over the visible keys only, summed exactly "
      "over the positions t = 0 .. T−1 (python/nsa_mlir/perfmodel.py): per (batch, query "
      "head) the compressed keys nc(t) = (t − l + 1) // d + 1 (0 before the first block "
      "ends), the selected keys ns(t) = (min(n, t // l' + 1) − 1)·l' + t mod l' + 1, the "
      "window keys nw(t) = min(w, t + 1), the dense keys t + 1; a branch costs "
      "2·B·Hq·Σ N(t)·(Dk + Dv), and the selection one more q·kcᵀ, 2·B·Hq·Σ nc(t)·Dk. "
      "Bytes are the fewest any implementation moves: every input read once, every output "
      "written once (bf16 2 bytes, lse f32, indices i32). roofline = max(FLOPs / "
      f"{meta['peak_tflops']}e12, bytes / {meta['peak_tbps']}e12) s; % of roofline = "
      "roofline / measured time.")
    w("")
    shown = _arithmetic_rows(data, Ts)
    if shown:
        T = shown[0]["T"]
        w(f"At T = {T}:")
        w("")
        w("| kernel | config | FLOPs | bytes | roofline | measured | achieved |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for r in shown:
            wk, rf = r["work"], r["roofline"]
            tf = wk["flops"] / (meta["peak_tflops"] * 1e12) * 1e3
            tb = wk["bytes"] / (meta["peak_tbps"] * 1e12) * 1e3
            med = _median(r)
            achieved = (f"{wk['flops']:.3e} / {med / 1e3:.4g} s = {rf['tflops']:.2f} "
                        f"TFLOP/s; {wk['bytes']:.3e} / {med / 1e3:.4g} s = "
                        f"{rf['tbps']:.3f} TB/s" if med and "tflops" in rf else "—")
            w(f"| {LABELS.get(r['id'], r['id'])} | {r.get('config') or '—'} | "
              f"{wk['flops_formula']} = {wk['flops']:.4e} | "
              f"{wk['bytes_formula']} = {wk['bytes']:.4e} | "
              f"max({tf:.3f}, {tb:.3f}) = {rf['roof_ms']:.3f} ms | {_ms(med)} ms | "
              f"{achieved} |")
        w("")
    return "\n".join(out)


def _arithmetic_rows(data, Ts):
    """One row per (id, config) at the largest T where most things were measured."""
    best = None
    for T in Ts:
        n = sum(1 for r in data["measurements"] if r["T"] == T and _median(r) is not None)
        if best is None or n >= best[1]:
            best = (T, n)
    if best is None:
        return []
    rows = [r for r in data["measurements"]
            if r["T"] == best[0] and "work" in r and r.get("impl") != "roof"]
    rows.sort(key=lambda r: (ORDER.index(r["id"]) if r["id"] in ORDER else 99,
                             r.get("config") or ""))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", type=Path)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    text = render(json.loads(args.json.read_text()))
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
