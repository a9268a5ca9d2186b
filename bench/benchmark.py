#!/usr/bin/env python3
"""Times our NSA kernels and the anchors in one process on the GPU.

At each sequence length T (default 8192, 16384, 32768, 65536), bf16, B = 1,
64 query heads over 4 KV heads (G = 16), Dk = Dv = 128, and for each NSA config
(paper: l=32, d=16, l'=64, n=16, w=512; fla64: l=d=l'=64, n=16, w=512):

  ours     the bundles of ``python -m nsa_mlir.bundles --preset bench`` run
           through the runtime (python/nsa_mlir/runtime.py):
             ours.nsa        the full forward (all branches and the combine)
             ours.compressed compress + compressed attention
             ours.select     compress + compressed attention + probabilities + top-n
             ours.selection_only   = ours.select − ours.compressed (a difference of
                             two medians, an estimate, not a timing)
             ours.selected   selected attention, indices from our own select
                             bundle's output (checked valid first; random valid
                             indices if it cannot run)
             ours.window     sliding-window attention
  anchors  sdpa.cudnn, sdpa.flash   dense causal SDPA (enable_gqa=True, [B, H, T, D])
           flex.window              FlexAttention (torch.compile), causal sliding
                                    window w=512, block mask built once per T
           fla.nsa                  fla-org's Triton NSA, parallel_nsa(block_size=64,
                                    block_counts=16, window_size=0): fla64 config only
           fla.compressed, fla.topk, fla.selected   its three stages on their own
           fla.nsa+flex.window      fla.nsa + flex.window (a sum of two medians)

Timing: CUDA events around each call, the L2 cache flushed before each (a 256 MB
write, as triton.testing.do_bench does), median over the samples. Repetitions
adapt to the kernel's speed: one first call (compilation, autotuning, scratch
allocation; reported as first_call_ms), one estimate call, up to --warmup more
warm-up calls within a quarter of --max-seconds, then between --min-reps and
--rep samples within --max-seconds. A call slower than --long-call seconds is
sampled once. --time-budget bounds the whole run: a measurement whose predicted
cost (from the same measurement at a smaller T, scaled by T or T²) does not fit in
what is left is skipped and recorded as skipped. Every anchor and every one of
our bundles runs inside try/except: a failure is recorded with its message.
Anchors run first at every T, then our bundles (a CUDA fault in a first-version
kernel leaves the context unusable, and the anchors are in by then).

Inputs: fresh random per T (seeded by T): q, k, v ~ N(0, 1) in bf16 (with the
softmax scale 1/sqrt(Dk) the logits have unit variance, as in trained attention),
gates uniform in (0, 1). Every implementation at one T sees the same tensors.

Derived numbers (python/nsa_mlir/perfmodel.py): FLOPs over the visible work,
minimal bytes, achieved TFLOP/s and TB/s, and the percentage of the roofline
max(FLOPs / peak, bytes / bandwidth) with the device's figures
(perfmodel.device_peaks: 700 TFLOP/s dense bf16 and 3.0 TB/s on the H100, from
../shared/docs/gpu-workflow.md; 4.3 TB/s measured on the H200) unless
--peak-tflops / --peak-tbps say otherwise. Ratios: ours / anchor (time).

The JSON (--json) is rewritten after every measurement, so a killed run keeps
what it measured. scripts/perf_table.py turns it into the markdown of
docs/performance.md.

Usage (repository root; bench/benchmark.sh sets up the environment):
    python3 bench/benchmark.py --bundles .bundles/bench --json out.json
    python3 bench/benchmark.py --T 8192 --configs fla64 --only anchors,ours
    python3 bench/benchmark.py --dry-run              # no GPU: work counts, memory
    python3 scripts/perf_table.py out.json            # the markdown table
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
from nsa_mlir import perfmodel  # noqa: E402  (pure Python)
from cuda_timing import event_seconds  # noqa: E402  (bench/, next to this script)

DEFAULT_T = (8192, 16384, 32768, 65536)
SHAPE = dict(B=1, Hq=64, H=4, Dk=128, Dv=128, dtype="bf16")
# Paper and fla configs as compiled by the "bench" preset (bundles.CONFIGS); used
# when a bundle directory has no index.json (dry runs, anchors only).
FALLBACK_CONFIGS = {
    "paper": dict(cmp_block=32, cmp_stride=16, slc_block=64, top_n=16, window=512),
    "fla64": dict(cmp_block=64, cmp_stride=64, slc_block=64, top_n=16, window=512),
}
OUR_KINDS = ("nsa", "select", "selected", "compressed", "window")  # timing order
KIND_TO_BUNDLE = {"nsa": "attention", "compressed": "compressed", "select": "select",
                  "selected": "selected", "window": "window"}
# How a kernel's time grows with T (predicts the cost at the next T).
EXPONENT = {"nsa": 2, "compressed": 2, "select": 2, "selected": 1, "window": 1,
            "selected_gather": 1,
            "dense_causal": 2, "flex_window": 1, "fla_nsa": 2, "fla_compressed": 2,
            "fla_topk": 2, "fla_selected": 1}
GROUPS = ("ours", "sdpa", "flex", "fla")
# "cuda" on the GPU machine; "cpu" (--device cpu) only exercises the harness itself
# (control flow, error records, JSON, table) on a machine without a GPU.
DEVICE = "cuda"
FLA_BLOCK, FLA_COUNT = 64, 16
WINDOW = 512


# --------------------------------------------------------------------------------------
# Results file
# --------------------------------------------------------------------------------------


class Results:
    def __init__(self, path: Path | None, meta: dict):
        self.path = path
        self.data = {"schema": "nsa-benchmark/1", "meta": meta, "measurements": [],
                     "ratios": []}

    def add(self, record: dict) -> dict:
        self.data["measurements"].append(record)
        self.save()
        return record

    def find(self, mid: str, T: int, config: str | None) -> dict | None:
        for r in self.data["measurements"]:
            if r["id"] == mid and r["T"] == T and r.get("config") == config:
                return r
        return None

    def save(self) -> None:
        if not self.path:
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_json_default))
        os.replace(tmp, self.path)


def _json_default(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------
# Configs and work
# --------------------------------------------------------------------------------------


def load_index(bundles: Path) -> list[dict]:
    index = bundles / "index.json"
    return json.loads(index.read_text()) if index.exists() else []


def config_params(index: list[dict], name: str) -> dict:
    for e in index:
        if e["config"] == name:
            p = e["config_params"]
            return {k: p[k] for k in ("cmp_block", "cmp_stride", "slc_block", "top_n",
                                      "window")}
    return dict(FALLBACK_CONFIGS[name])


def problem(T: int, params: dict) -> perfmodel.Problem:
    return perfmodel.Problem.from_shape(SHAPE, T, params)


def derive(record: dict, prob: perfmodel.Problem, peaks: tuple[float, float]) -> dict:
    """Adds work and roofline numbers to a measurement record (in place)."""
    w = perfmodel.work(record["kernel"], prob)
    record["work"] = w.as_dict()
    seconds = record["median_ms"] / 1e3 if record.get("median_ms") else None
    record["roofline"] = perfmodel.roofline(w, seconds, *peaks)
    return record


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


class Timer:
    def __init__(self, torch, args):
        self.torch = torch
        self.args = args
        self.start = time.perf_counter()
        self.history: dict = {}  # (id, config) -> list of (T, seconds per call)
        size = 256 * 1024 * 1024 if DEVICE == "cuda" else 1024 * 1024
        self.flush_buf = torch.empty(size, dtype=torch.int8, device=DEVICE)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float:
        return self.args.time_budget - self.elapsed()

    def predict(self, key, T: int, exponent: int) -> float | None:
        past = [(t, s) for t, s in self.history.get(key, []) if t <= T]
        if not past:
            return None
        t0, s0 = max(past)
        return s0 * (T / t0) ** exponent

    def check_budget(self, key, T: int, exponent: int, first_is_sample: bool) -> str | None:
        """A reason to skip, or None."""
        left = self.remaining()
        if left <= 0:
            return f"time budget of {self.args.time_budget:.0f} s spent"
        per_call = self.predict(key, T, exponent)
        if per_call is not None:
            if per_call > self.args.long_call:
                calls = 1 if first_is_sample else 2
            else:
                calls = 2 + self.args.min_reps
            cost = calls * per_call
            if cost > left:
                return (f"predicted {cost:.1f} s ({calls} calls of ~{per_call:.2f} s, scaled "
                        f"from the smaller T by T^{exponent}) exceeds the {left:.1f} s left "
                        f"of the time budget")
        return None

    def one(self, fn) -> float:
        """Seconds of one call, by CUDA events, L2 flushed before."""
        torch = self.torch
        self.flush_buf.zero_()
        if DEVICE != "cuda":
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        return event_seconds(torch, fn)

    def measure(self, fn, key, T: int, first_is_sample: bool = False) -> dict:
        """first_is_sample: the first call is representative (no compilation or
        autotuning, as for our bundles): if it is slower than --long-call it is the
        only sample (wall clock around a synchronized call)."""
        torch = self.torch
        a = self.args
        wall0 = time.perf_counter()
        _sync(torch)
        t0 = time.perf_counter()
        fn()
        _sync(torch)
        first = time.perf_counter() - t0
        samples = []
        warm = 0
        note = None
        single_first = first_is_sample and first > a.long_call
        est = first if single_first else self.one(fn)
        if single_first:
            samples = [first]
            note = (f"one sample: the first call took {first:.2f} s > --long-call "
                    f"{a.long_call} s (wall clock, includes the scratch allocation)")
        elif est > a.long_call:
            samples = [est]
            note = f"one sample: a call takes {est:.2f} s > --long-call {a.long_call} s"
        else:
            warm = min(a.warmup, int(0.25 * a.max_seconds / est))
            for _ in range(warm):
                fn()
            n = int(0.75 * a.max_seconds / est)
            n = max(a.min_reps, min(a.rep, n))
            fit = int(max(self.remaining(), 0) / est)
            if fit < n:
                n = max(1, min(n, fit))
                note = f"{n} samples: cut to fit the time budget"
            for _ in range(n):
                samples.append(self.one(fn))
        med = statistics.median(samples)
        self.history.setdefault(key, []).append((T, med))
        rec = {
            "status": "ok",
            "median_ms": med * 1e3,
            "mean_ms": statistics.fmean(samples) * 1e3,
            "min_ms": min(samples) * 1e3,
            "max_ms": max(samples) * 1e3,
            "samples": len(samples),
            "warmup_calls": warm + (0 if single_first else 1),
            "first_call_ms": first * 1e3,
            "wall_s": time.perf_counter() - wall0,
            "times_ms": [s * 1e3 for s in samples[:100]],
        }
        if note:
            rec["note"] = note
        return rec


# --------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        import torch
        self.torch = torch
        self.args = args
        self.device = (torch.cuda.get_device_properties(0).name if DEVICE == "cuda"
                       else f"{DEVICE} (harness test only: {platform.processor() or 'cpu'})")
        tflops, tbps, self.peaks_note = perfmodel.device_peaks(self.device)
        if args.peak_tflops is not None or args.peak_tbps is not None:
            self.peaks_note = "given on the command line"
        self.peaks = (args.peak_tflops or tflops, args.peak_tbps or tbps)
        self.index = load_index(args.bundles)
        self.params = {c: config_params(self.index, c) for c in args.configs}
        self.timer = Timer(torch, args)
        self.context_lost: str | None = None
        self.fla = None
        self.fla_error = None
        self.flex = None
        self.flex_error = None
        self.results = Results(args.json, self.meta())

    # -- metadata -------------------------------------------------------------------

    def meta(self) -> dict:
        torch = self.torch
        if DEVICE == "cuda":
            props = torch.cuda.get_device_properties(0)
            capability = f"{props.major}.{props.minor}"
            sm_count, memory_gib = props.multi_processor_count, props.total_memory / 2**30
        else:
            capability = sm_count = memory_gib = None
        try:
            import triton
            triton_version = triton.__version__
        except Exception as e:  # noqa: BLE001
            triton_version = f"unavailable: {e}"
        fla_dir = self.args.fla_src
        fla_commit = _read(fla_dir / "FLA_COMMIT") if fla_dir else None
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": self.device,
            "capability": capability,
            "sm_count": sm_count,
            "memory_gib": memory_gib,
            "nvidia_smi": _nvidia_smi(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if DEVICE == "cuda" else None,
            "triton": triton_version,
            "python": platform.python_version(),
            "commit": os.environ.get("NSA_COMMIT") or "unknown (set NSA_COMMIT)",
            "fla_commit": fla_commit,
            "fla_commit_info": _read(fla_dir / "FLA_COMMIT_INFO") if fla_dir else None,
            "bundles": str(self.args.bundles),
            "bundle_names": [e["name"] for e in self.index],
            "runtime_lib": os.environ.get("NSA_RUNTIME_LIB"),
            "shape": SHAPE,
            "configs": self.params,
            "T": list(self.args.T),
            "peak_tflops": self.peaks[0],
            "peak_tbps": self.peaks[1],
            "peaks_note": self.peaks_note,
            "timing": {k: getattr(self.args, k) for k in (
                "warmup", "rep", "min_reps", "max_seconds", "long_call", "time_budget")},
            "timing_method": "CUDA events per call, L2 flushed (256 MB write) before each, "
                             "median of the samples",
            "inputs": "q, k, v ~ N(0,1) bf16, gates U(0,1), fresh per T (seed = T)",
            "flops_note": "2*M*N*K per matrix product over visible keys only; "
                          "see python/nsa_mlir/perfmodel.py",
            "bytes_note": "fewest bytes: each input read once, each output written once",
        }

    # -- helpers --------------------------------------------------------------------

    def record(self, mid, impl, kernel, T, config, params, fn=None, skip=None,
               error=None, extra=None) -> dict:
        """Measures fn (unless skip/error) and stores the record. Our bundles' first
        call is a sample like any other (no compilation or autotuning)."""
        first_is_sample = impl == "ours"
        rec = {"id": mid, "impl": impl, "kernel": kernel, "T": T, "config": config,
               "description": perfmodel.KERNELS.get(kernel, kernel)}
        if extra:
            rec.update(extra)
        key = (mid, config)
        if self.context_lost and not skip and not error:
            skip = f"CUDA context lost earlier ({self.context_lost})"
        if not skip and not error:
            skip = self.timer.check_budget(key, T, EXPONENT.get(kernel, 2), first_is_sample)
        if error:
            rec.update(status="error", error=error)
        elif skip:
            rec.update(status="skipped", reason=skip)
        else:
            try:
                rec.update(self.timer.measure(fn, key, T, first_is_sample))
            except Exception as e:  # noqa: BLE001
                rec.update(status="error", error=_message(e))
                self.after_error(mid, T, config)
        derive(rec, problem(T, params), self.peaks)
        self.results.add(rec)
        log(_line(rec))
        return rec

    def after_error(self, mid, T, config) -> None:
        if not _cuda_healthy(self.torch):
            self.context_lost = f"after {mid} T={T} config={config}"
            self.results.data["meta"]["context_lost"] = self.context_lost
            log(f"!! the CUDA context is unusable {self.context_lost}; the rest is skipped")

    def free(self) -> None:
        import gc
        gc.collect()
        if not self.context_lost and DEVICE == "cuda":
            try:
                self.torch.cuda.synchronize()
                self.torch.cuda.empty_cache()
            except Exception:  # noqa: BLE001
                pass

    def inputs(self, T: int) -> dict:
        torch = self.torch
        gen = torch.Generator(device=DEVICE).manual_seed(T)
        B, Hq, H, Dk, Dv = (SHAPE[k] for k in ("B", "Hq", "H", "Dk", "Dv"))
        kw = dict(generator=gen, device=DEVICE, dtype=torch.bfloat16)
        return {
            "q": torch.randn(B, T, Hq, Dk, **kw),
            "k": torch.randn(B, T, H, Dk, **kw),
            "v": torch.randn(B, T, H, Dv, **kw),
            "g": torch.rand(B, T, Hq, 3, **kw),
        }

    # -- anchors --------------------------------------------------------------------

    def anchors(self, T: int) -> None:
        torch = self.torch
        groups = self.args.only
        x = self.inputs(T)
        paper = self.params.get("paper") or next(iter(self.params.values()))
        fla_params = dict(FALLBACK_CONFIGS["fla64"])
        scale = SHAPE["Dk"] ** -0.5
        # [B, H, T, D] for SDPA and FlexAttention.
        qh, kh, vh = (x[n].transpose(1, 2).contiguous() for n in ("q", "k", "v"))
        with torch.no_grad():
            if "sdpa" in groups:
                from torch.nn.attention import SDPBackend, sdpa_kernel
                for mid, backend in (("sdpa.cudnn", "CUDNN_ATTENTION"),
                                     ("sdpa.flash", "FLASH_ATTENTION")):
                    self.sdpa(mid, getattr(SDPBackend, backend), sdpa_kernel, T, paper,
                              qh, kh, vh)
            if "flex" in groups:
                self.flex_window(T, paper, qh, kh, vh)
            del qh, kh, vh
            self.free()
            if "fla" in groups:
                self.fla_anchors(T, fla_params, x, scale)
        del x
        self.free()

    def sdpa(self, mid, backend, sdpa_kernel, T, params, qh, kh, vh) -> None:
        F = self.torch.nn.functional

        def run(k, v, gqa):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(qh, k, v, is_causal=True,
                                                      enable_gqa=gqa)

        extra = {"layout": "[B, H, T, D] contiguous", "backend": str(backend)}
        if self.context_lost or self.timer.remaining() <= 0:
            # record() gives the reason; no probe call.
            self.record(mid, "sdpa", "dense_causal", T, None, params, fn=lambda: None,
                        extra=extra)
            return
        try:
            run(kh, vh, True)
            _sync(self.torch)
            fn = lambda: run(kh, vh, True)  # noqa: E731
            extra["gqa"] = "enable_gqa=True"
        except Exception as e:  # noqa: BLE001
            # Fall back to K/V expanded to the 64 query heads (same FLOPs, more bytes).
            first_error = _message(e)
            if not _cuda_healthy(self.torch):
                self.record(mid, "sdpa", "dense_causal", T, None, params, error=first_error,
                            extra=extra)
                self.after_error(mid, T, None)
                return
            try:
                G = qh.shape[1] // kh.shape[1]
                ke, ve = kh.repeat_interleave(G, 1), vh.repeat_interleave(G, 1)
                run(ke, ve, False)
                _sync(self.torch)
                fn = lambda: run(ke, ve, False)  # noqa: E731
                extra["gqa"] = ("K/V expanded to 64 heads (enable_gqa=True failed: "
                                f"{first_error[:300]})")
            except Exception as e2:  # noqa: BLE001
                self.record(mid, "sdpa", "dense_causal", T, None, params,
                            error=f"enable_gqa=True: {first_error}; expanded K/V: "
                                  f"{_message(e2)}", extra=extra)
                self.after_error(mid, T, None)
                return
        self.record(mid, "sdpa", "dense_causal", T, None, params, fn=fn, extra=extra)

    def flex_window(self, T, params, qh, kh, vh) -> None:
        mid = "flex.window"
        extra = {"window": WINDOW, "layout": "[B, H, T, D] contiguous",
                 "block_mask": "128x128 blocks, built once per T outside the timing"}
        try:
            if self.flex is None and self.flex_error is None:
                self.flex = self.make_flex()
            if self.flex_error:
                raise RuntimeError(self.flex_error)
            flex, make_mask = self.flex
            mask = make_mask(T)
            extra["block_mask_source"] = mask[1]
            block_mask = mask[0]
            fn = lambda: flex(qh, kh, vh, block_mask=block_mask, enable_gqa=True)  # noqa: E731
        except Exception as e:  # noqa: BLE001
            self.record(mid, "flex", "flex_window", T, None, params, error=_message(e),
                        extra=extra)
            self.after_error(mid, T, None)
            return
        self.record(mid, "flex", "flex_window", T, None, params, fn=fn, extra=extra)

    def make_flex(self):
        """(compiled flex_attention, T -> (BlockMask, how it was built)). The sliding
        window block mask is built analytically (create_block_mask materializes the
        T x T mask and its int64 differences: tens of GB at 64k) and checked once
        against create_block_mask at T = 4096."""
        torch = self.torch
        from torch.nn.attention.flex_attention import flex_attention
        check = compare_block_masks(torch, 4096, WINDOW, DEVICE)
        self.results.data["meta"]["flex_block_mask_check"] = check
        same = check["equal"]
        compiled = torch.compile(flex_attention, dynamic=False)

        def make_mask(T):
            if same:
                return (window_block_mask(torch, T, WINDOW, DEVICE),
                        "analytic (equal to create_block_mask at T=4096)")
            from torch.nn.attention.flex_attention import create_block_mask
            return (create_block_mask(window_mask_mod(WINDOW), None, None, T, T,
                                      device=DEVICE),
                    "create_block_mask (the analytic mask differed at T=4096)")

        return compiled, make_mask

    def load_fla(self):
        if self.fla is None and self.fla_error is None:
            try:
                _ensure_packaging()
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from fla.ops.nsa.compression import parallel_nsa_compression
                    from fla.ops.nsa.parallel import (ParallelNSAFunction, parallel_nsa,
                                                      parallel_nsa_topk)
                    from fla.ops.utils.pooling import mean_pooling
                self.fla = types.SimpleNamespace(
                    parallel_nsa=parallel_nsa, topk=parallel_nsa_topk,
                    compression=parallel_nsa_compression, selected=ParallelNSAFunction,
                    mean_pooling=mean_pooling)
            except Exception as e:  # noqa: BLE001
                self.fla_error = f"import fla.ops.nsa failed: {_message(e)}"
        return self.fla

    def fla_anchors(self, T, params, x, scale) -> None:
        torch = self.torch
        fla = self.load_fla()
        ids = [("fla.nsa", "fla_nsa"), ("fla.compressed", "fla_compressed"),
               ("fla.topk", "fla_topk"), ("fla.selected", "fla_selected")]
        extra = {"fla_args": f"block_size={FLA_BLOCK}, block_counts={FLA_COUNT}, "
                             "window_size=0, scale=1/sqrt(Dk)"}
        if fla is None:
            for mid, kernel in ids:
                self.record(mid, "fla", kernel, T, "fla64", params, error=self.fla_error,
                            extra=extra)
            return
        q, k, v = x["q"], x["k"], x["v"]
        g_cmp = x["g"][..., 0].contiguous()
        g_slc = x["g"][..., 1].contiguous()

        def nsa():
            return fla.parallel_nsa(q, k, v, g_cmp=g_cmp, g_slc=g_slc, g_swa=None,
                                    block_counts=FLA_COUNT, block_size=FLA_BLOCK,
                                    window_size=0, scale=scale)

        def compressed():
            kc = fla.mean_pooling(k, FLA_BLOCK)
            vc = fla.mean_pooling(v, FLA_BLOCK)
            return fla.compression(q, kc, vc, T, block_size=FLA_BLOCK, scale=scale)

        self.record("fla.nsa", "fla", "fla_nsa", T, "fla64", params, fn=nsa, extra=extra)
        self.record("fla.compressed", "fla", "fla_compressed", T, "fla64", params,
                    fn=compressed, extra=extra)
        try:
            kc = fla.mean_pooling(k, FLA_BLOCK)
            _, lse = compressed()
            indices = fla.topk(q, kc, T, lse, FLA_COUNT, FLA_BLOCK, scale)
            _sync(torch)
        except Exception as e:  # noqa: BLE001
            for mid, kernel in ids[2:]:
                self.record(mid, "fla", kernel, T, "fla64", params,
                            error=f"preparing kc, lse, indices: {_message(e)}", extra=extra)
            self.after_error("fla.topk", T, "fla64")
            return
        self.record("fla.topk", "fla", "fla_topk", T, "fla64", params,
                    fn=lambda: fla.topk(q, kc, T, lse, FLA_COUNT, FLA_BLOCK, scale),
                    extra=extra)
        self.record("fla.selected", "fla", "fla_selected", T, "fla64", params,
                    fn=lambda: fla.selected.apply(q, k, v, indices, FLA_COUNT, FLA_BLOCK,
                                                  scale, None),
                    extra=extra)

    # -- ours -----------------------------------------------------------------------

    def bundle_entry(self, kind: str, config: str) -> dict | None:
        for e in self.index:
            if (e["kind"] == KIND_TO_BUNDLE[kind] and e["config"] == config
                    and e["num_q_heads"] == SHAPE["Hq"] and e["num_kv_heads"] == SHAPE["H"]
                    and e["key_dim"] == SHAPE["Dk"] and e["value_dim"] == SHAPE["Dv"]
                    and e["dtype"] == SHAPE["dtype"]):
                return e
        return None

    def ours(self, T: int) -> None:
        try:
            from nsa_mlir import runtime
            runtime.library()
        except Exception as e:  # noqa: BLE001
            for config in self.args.configs:
                for kind in OUR_KINDS:
                    self.record(f"ours.{kind}", "ours", kind, T, config, self.params[config],
                                error=f"runtime: {_message(e)}")
            return
        x = self.inputs(T)
        for config in self.args.configs:
            state = {}
            for kind in OUR_KINDS:
                self.our_kernel(runtime, kind, config, T, x, state)
            self.selection_only(T, config)
            self.gather_roof(T, config, x, state)
            state.clear()
            self.free()
        del x
        self.free()

    def our_kernel(self, runtime, kind, config, T, x, state) -> None:
        torch = self.torch
        params = self.params[config]
        mid = f"ours.{kind}"
        entry = self.bundle_entry(kind, config)
        if entry is None:
            self.record(mid, "ours", kind, T, config, params,
                        error=f"no {KIND_TO_BUNDLE[kind]} bundle for config {config} "
                              f"in {self.args.bundles}/index.json")
            return
        path = self.args.bundles / entry["name"]
        extra = {"bundle": entry["name"]}
        if self.context_lost:
            self.record(mid, "ours", kind, T, config, params, extra=extra,
                        skip=f"CUDA context lost earlier ({self.context_lost})")
            return
        ins = [x["q"], x["k"], x["v"]]
        if kind == "nsa":
            ins.append(x["g"])
        if kind == "selected":
            try:
                idx, source = self.indices(T, config, state)
            except Exception as e:  # noqa: BLE001
                self.record(mid, "ours", kind, T, config, params, extra=extra,
                            error=f"indices: {_message(e)}")
                self.after_error(mid, T, config)
                return
            extra["indices"] = source
            ins.append(idx)
            state["selected_indices"] = idx
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            mem = perfmodel.bundle_memory(manifest, {"B": SHAPE["B"], "T": T})
            extra["scratch_gib"] = mem["scratch"] / 2**30
            self.free()
            free_bytes = torch.cuda.mem_get_info()[0] if DEVICE == "cuda" else 1 << 62
            need = mem["scratch"] + mem["outputs"] + (512 << 20)
            if need > free_bytes:
                self.record(mid, "ours", kind, T, config, params, extra=extra,
                            skip=f"needs {need / 2**30:.1f} GiB (scratch "
                                 f"{mem['scratch'] / 2**30:.1f} GiB + outputs) but "
                                 f"{free_bytes / 2**30:.1f} GiB are free")
                return
        except Exception as e:  # noqa: BLE001
            self.record(mid, "ours", kind, T, config, params, extra=extra,
                        error=f"sizing the scratch: {_message(e)}")
            return
        bundle = None
        outs = None
        try:
            bundle = runtime.load_bundle(path)
            if DEVICE == "cuda":
                outs = bundle.allocate_outputs(ins)
                fn = lambda: bundle.run(ins, outs)  # noqa: E731
            else:  # harness test with a stand-in driver: host pointers as raw tensors
                outs = bundle.allocate_outputs(_raw(runtime, ins), device=DEVICE)
                fn = lambda: bundle.run(_raw(runtime, ins), _raw(runtime, outs))  # noqa: E731
        except Exception as e:  # noqa: BLE001
            if bundle is not None:
                bundle.close()
            self.record(mid, "ours", kind, T, config, params, extra=extra,
                        error=_message(e))
            self.after_error(mid, T, config)
            return
        try:
            rec = self.record(mid, "ours", kind, T, config, params, fn=fn, extra=extra)
            if kind == "select" and rec["status"] == "ok":
                state["select_out"] = outs[0]
        finally:
            try:
                bundle.close()
            except Exception:  # noqa: BLE001
                pass
            outs = None  # noqa: F841 (drops the outputs before the next bundle)
            self.free()

    def indices(self, T, config, state):
        """Block indices for the selected bundle: our select bundle's output if it is
        valid, else random valid ones."""
        params = self.params[config]
        idx = state.get("select_out")
        if idx is not None:
            check = check_indices(self.torch, idx, T, params)
            self.results.data.setdefault("index_checks", []).append(
                {"T": T, "config": config, **check})
            if check["valid"]:
                return idx, "ours.select output (checked valid)"
            why = "ours.select output invalid: " + check["problem"]
        else:
            why = "ours.select did not run"
        return random_indices(self.torch, T, params), f"random valid indices ({why})"

    def gather_roof(self, T, config, x, state) -> None:
        """Copy-only kernels over the rows ours.selected read, with its indices
        (bench/gather_roof.py); the fastest is the selected kernel's measured gather
        roof, and ours.selected's share of it is recorded with it. At the largest T
        only (where the kernel's time is all gather; it keeps the run short)."""
        idx = state.get("selected_indices")
        params = self.params[config]
        if idx is None or DEVICE != "cuda" or self.context_lost or T != max(self.args.T):
            return
        try:
            import cupy as cp

            import gather_roof
        except Exception as e:  # noqa: BLE001
            self.record("roof.selected_gather", "roof", "selected_gather", T, config, params,
                        error=f"the probe needs CuPy: {_message(e)}")
            return
        timed = {}
        for variant in gather_roof.VARIANTS:
            mid = f"roof.selected_gather.{variant}"
            try:
                fn = gather_roof.launcher(cp, self.torch, variant, x["k"], x["v"], idx, T,
                                          params)
            except Exception as e:  # noqa: BLE001
                self.record(mid, "roof", "selected_gather", T, config, params,
                            error=_message(e))
                continue
            rec = self.record(mid, "roof", "selected_gather", T, config, params, fn=fn,
                              extra={"variant": variant})
            if rec["status"] == "ok":
                timed[variant] = rec["median_ms"]
        rec = {"id": "roof.selected_gather", "impl": "roof", "kernel": "selected_gather",
               "T": T, "config": config,
               "description": perfmodel.KERNELS["selected_gather"],
               "derived_from": [f"roof.selected_gather.{v}" for v in gather_roof.VARIANTS]}
        if timed:
            best = min(timed, key=timed.get)
            rec.update(status="derived", median_ms=timed[best], variant=best,
                       note=f"the fastest copy-only variant ({best})")
            ours = self.results.find("ours.selected", T, config)
            if ours and ours["status"] == "ok":
                rec["ours_selected_pct_of_gather_roof"] = 100 * timed[best] / ours["median_ms"]
        else:
            rec.update(status="skipped", reason="no copy-only variant ran")
        derive(rec, problem(T, params), self.peaks)
        self.results.add(rec)
        log(_line(rec))

    def selection_only(self, T, config) -> None:
        sel = self.results.find("ours.select", T, config)
        cmp_ = self.results.find("ours.compressed", T, config)
        rec = {"id": "ours.selection_only", "impl": "ours", "kernel": "selection_only",
               "T": T, "config": config,
               "description": perfmodel.KERNELS["selection_only"],
               "derived_from": ["ours.select", "ours.compressed"]}
        if sel and cmp_ and sel["status"] == cmp_["status"] == "ok":
            rec.update(status="derived", median_ms=sel["median_ms"] - cmp_["median_ms"],
                       note="difference of two medians (select − compressed), an estimate")
        else:
            rec.update(status="skipped", reason="needs ours.select and ours.compressed")
        derive(rec, problem(T, self.params[config]), self.peaks)
        self.results.add(rec)
        log(_line(rec))

    # -- derived --------------------------------------------------------------------

    def fla_plus_window(self, T) -> None:
        fla = self.results.find("fla.nsa", T, "fla64")
        win = self.results.find("flex.window", T, None)
        if fla is None and win is None:
            return
        rec = {"id": "fla.nsa+flex.window", "impl": "fla+flex", "kernel": "fla_nsa_window",
               "T": T, "config": "fla64", "description": perfmodel.KERNELS["fla_nsa_window"],
               "derived_from": ["fla.nsa", "flex.window"]}
        if fla and win and fla["status"] == win["status"] == "ok":
            rec.update(status="derived", median_ms=fla["median_ms"] + win["median_ms"],
                       note="sum of two medians (fla NSA without window + FlexAttention "
                            "window)")
        else:
            rec.update(status="skipped", reason="needs fla.nsa and flex.window")
        derive(rec, problem(T, dict(FALLBACK_CONFIGS["fla64"])), self.peaks)
        self.results.add(rec)
        log(_line(rec))

    def ratios(self) -> None:
        pairs = [
            ("ours.nsa", "sdpa.cudnn"), ("ours.nsa", "sdpa.flash"),
            ("ours.nsa", "fla.nsa+flex.window"), ("ours.window", "flex.window"),
            ("ours.compressed", "fla.compressed"), ("ours.selected", "fla.selected"),
            ("ours.selection_only", "fla.topk"),
        ]
        out = []
        for T in self.args.T:
            for config in self.args.configs:
                for ours_id, anchor_id in pairs:
                    o = self.results.find(ours_id, T, config)
                    a = (self.results.find(anchor_id, T, None)
                         or self.results.find(anchor_id, T, "fla64"))
                    if not o or not a or not o.get("median_ms") or not a.get("median_ms"):
                        continue
                    note = None
                    if a.get("config") == "fla64" and config != "fla64":
                        note = "the anchor runs the fla64 config"
                    out.append({"T": T, "config": config, "ours": ours_id,
                                "anchor": anchor_id, "ours_ms": o["median_ms"],
                                "anchor_ms": a["median_ms"],
                                "ours_over_anchor": o["median_ms"] / a["median_ms"],
                                "note": note})
        self.results.data["ratios"] = out
        self.results.save()

    # -- main -----------------------------------------------------------------------

    def run(self) -> None:
        log(f"== {self.results.data['meta']['device']}, torch "
            f"{self.torch.__version__}, T={list(self.args.T)}, configs={self.args.configs}, "
            f"time budget {self.args.time_budget:.0f} s")
        try:
            if any(g in self.args.only for g in ("sdpa", "flex", "fla")):
                for T in self.args.T:
                    log(f"-- anchors, T={T}  ({self.timer.elapsed():.0f} s)")
                    try:
                        self.anchors(T)
                    except Exception as e:  # noqa: BLE001
                        log(f"!! anchors at T={T} failed outside a measurement: "
                            f"{_message(e)}")
                        self.after_error("anchors", T, None)
                    self.fla_plus_window(T)
            if "ours" in self.args.only:
                for T in self.args.T:
                    log(f"-- ours, T={T}  ({self.timer.elapsed():.0f} s)")
                    try:
                        self.ours(T)
                    except Exception as e:  # noqa: BLE001
                        log(f"!! ours at T={T} failed outside a measurement: {_message(e)}")
                        self.after_error("ours", T, None)
        except KeyboardInterrupt:
            # bench/benchmark.sh's timeout sends SIGINT: keep what was measured.
            log(f"!! interrupted after {self.timer.elapsed():.0f} s; writing what was measured")
            self.results.data["meta"]["interrupted"] = True
        finally:
            self.ratios()
            self.results.data["meta"]["elapsed_s"] = self.timer.elapsed()
            self.results.save()
            print_summary(self.results.data)


# --------------------------------------------------------------------------------------
# FlexAttention sliding-window block mask
# --------------------------------------------------------------------------------------


def window_mask_mod(window: int):
    def mask_mod(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx < window)
    return mask_mod


def window_block_mask(torch, T: int, window: int, device, block: int = 128):
    """The BlockMask of causal sliding-window attention (key s visible from query t
    iff t - window < s <= t), built from block arithmetic without the T x T mask.
    Query block i against key block j = i - o: some pair is visible iff o == 0 or
    block·o − (block − 1) < window; every pair is visible iff o >= 1 and
    block·o + block − 1 < window (full block, no mask_mod needed)."""
    from torch.nn.attention.flex_attention import BlockMask
    nq = -(-T // block)
    reach = (window + block - 2) // block + 1  # offsets 0 .. reach - 1 can be visible
    i = torch.arange(nq, device=device, dtype=torch.int64)[:, None]
    o = torch.arange(reach + 1, device=device, dtype=torch.int64)[None, :]
    j = i - o
    exists = (j >= 0) & ((o == 0) | (block * o - (block - 1) < window))
    full = exists & (o >= 1) & (block * o + block - 1 < window)
    # A last, partial block of T is never "full" (its rows or columns are cut).
    if T % block:
        full = full & (i < nq - 1) & (j < nq - 1)
    partial = exists & ~full

    def pack(sel):
        # BlockMask wants [B, H, num q blocks, num kv blocks] indices: the visible
        # blocks ascending, then padding (0).
        key = torch.where(sel, j, torch.full_like(j, nq + 1))
        idx, _ = torch.sort(key, dim=1)
        idx = torch.where(idx > nq, torch.zeros_like(idx), idx)
        pad = torch.zeros(nq, max(nq - idx.shape[1], 0), dtype=idx.dtype, device=device)
        idx = torch.cat([idx, pad], dim=1)[:, :nq]
        return (sel.sum(1).to(torch.int32)[None, None].contiguous(),
                idx.to(torch.int32)[None, None].contiguous())

    kv_num, kv_idx = pack(partial)
    full_num, full_idx = pack(full)
    return BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block,
                                    mask_mod=window_mask_mod(window), seq_lengths=(T, T))


def _block_sets(torch, num, idx):
    num = num.reshape(-1).tolist()
    rows = idx.reshape(len(num), -1).tolist()
    return [sorted(r[:n]) for n, r in zip(num, rows)]


def compare_block_masks(torch, T: int, window: int, device) -> dict:
    """window_block_mask against create_block_mask: the same partial and full blocks
    in every query block row."""
    from torch.nn.attention.flex_attention import create_block_mask
    ref = create_block_mask(window_mask_mod(window), None, None, T, T, device=device)
    ours = window_block_mask(torch, T, window, device)
    same = (_block_sets(torch, ref.kv_num_blocks, ref.kv_indices)
            == _block_sets(torch, ours.kv_num_blocks, ours.kv_indices)
            and _block_sets(torch, ref.full_kv_num_blocks, ref.full_kv_indices)
            == _block_sets(torch, ours.full_kv_num_blocks, ours.full_kv_indices))
    return {"T": T, "window": window, "equal": bool(same)}


# --------------------------------------------------------------------------------------
# Indices
# --------------------------------------------------------------------------------------


def check_indices(torch, idx, T: int, params: dict) -> dict:
    """Validity of block indices [B, T, H, n] for the selected kernel: every entry −1
    or a visible block (0 .. t // l'), valid entries strictly ascending, −1 only at
    the end, the own block present, min(n, t // l' + 1) entries per row. Also the
    number of (query, key) pairs they select, against perfmodel's count."""
    ls, n = params["slc_block"], params["top_n"]
    B, TT, H, nn = idx.shape
    if TT != T or nn != n:
        return {"valid": False, "problem": f"shape {tuple(idx.shape)}"}
    i = idx.long()
    t = torch.arange(T, device=idx.device).view(1, T, 1, 1)
    own = t // ls
    valid = i >= 0
    problems = []
    if not bool(((i == -1) | (valid & (i <= own))).all()):
        problems.append("entries outside [-1, t // l']")
    later_valid = valid[..., 1:]
    if not bool((~later_valid | valid[..., :-1]).all()):
        problems.append("-1 padding before a valid entry")
    if not bool((~later_valid | (i[..., 1:] > i[..., :-1])).all()):
        problems.append("valid entries not strictly ascending")
    if not bool((i == own).any(-1).all()):
        problems.append("own block missing")
    count = valid.sum(-1)
    want = torch.clamp(own[..., 0] + 1, max=n)
    if not bool((count == want).all()):
        problems.append("entry count != min(n, t // l' + 1)")
    tokens = torch.where(valid, (t - i * ls + 1).clamp(0, ls), torch.zeros_like(i)).sum()
    expected = perfmodel.sum_slc_keys(problem(T, params)) * B * H
    return {"valid": not problems, "problem": "; ".join(problems) or None,
            "selected_pairs": int(tokens), "expected_pairs": expected}


def random_indices(torch, T: int, params: dict, seed: int = 1):
    """Valid random block indices [B, T, H, n] int32: the forced blocks (0 and the two
    ending at the query's own block) plus random visible ones, ascending, −1 padded."""
    ls, n = params["slc_block"], params["top_n"]
    B, H = SHAPE["B"], SHAPE["H"]
    ns = -(-T // ls)
    gen = torch.Generator(device=DEVICE).manual_seed(seed)
    out = torch.empty(B, T, H, n, dtype=torch.int32, device=DEVICE)
    j = torch.arange(ns, device=DEVICE).view(1, 1, 1, ns)
    for t0 in range(0, T, 4096):
        t1 = min(T, t0 + 4096)
        own = (torch.arange(t0, t1, device=DEVICE) // ls).view(1, -1, 1, 1)
        score = torch.rand(B, t1 - t0, H, ns, generator=gen, device=DEVICE)
        score = torch.where((j == 0) | (j == own) | (j == own - 1),
                            torch.full_like(score, 2.0), score)
        score = torch.where(j > own, torch.full_like(score, -1.0), score)
        top, pos = torch.topk(score, min(n, ns), dim=-1)
        pos = torch.where(top < 0, torch.full_like(pos, ns + 1), pos)
        pos, _ = torch.sort(pos, dim=-1)
        pos = torch.where(pos > ns, torch.full_like(pos, -1), pos)
        out[:, t0:t1] = -1
        out[:, t0:t1, :, :pos.shape[-1]] = pos.to(torch.int32)
    return out


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _message(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    if len(text) > 2000:
        text = text[:2000] + " ..."
    tb = traceback.extract_tb(e.__traceback__)
    if tb:
        last = tb[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno})"
    return text


def _raw(runtime, tensors) -> list:
    return [runtime.RawTensor(t.data_ptr(), runtime.torch_dtype_name(t.dtype), tuple(t.shape))
            for t in tensors]


def _sync(torch) -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _cuda_healthy(torch) -> bool:
    if DEVICE != "cuda":
        return True
    try:
        torch.cuda.synchronize()
        x = torch.ones(4, device="cuda")
        return float((x + 1).sum().item()) == 8.0
    except Exception:  # noqa: BLE001
        return False


def _nvidia_smi() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,clocks.max.sm,"
             "clocks.mem,power.limit,temperature.gpu", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or out.stderr.strip()
    except Exception as e:  # noqa: BLE001
        return f"unavailable: {e}"


def _ensure_packaging() -> None:
    """fla's utilities import packaging.version (only to compare version strings).
    If the GPU machine lacks the package, provide a minimal stand-in."""
    try:
        importlib.import_module("packaging.version")
        return
    except ImportError:
        pass
    import re

    class Version(tuple):
        def __new__(cls, text):
            m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
            parts = [int(p) for p in m.group(1).split(".")] if m else [0]
            while len(parts) < 3:
                parts.append(0)
            return super().__new__(cls, parts)

        @property
        def major(self):
            return self[0]

        @property
        def minor(self):
            return self[1]

        @property
        def micro(self):
            return self[2]

    version = types.ModuleType("packaging.version")
    version.parse = Version
    version.Version = Version
    package = types.ModuleType("packaging")
    package.version = version
    sys.modules["packaging"] = package
    sys.modules["packaging.version"] = version


def _line(r: dict) -> str:
    cfg = r.get("config") or "-"
    head = f"T={r['T']:<6d} {cfg:6s} {r['id']:22s}"
    if r.get("median_ms") is not None and r["status"] in ("ok", "derived"):
        rf = r.get("roofline", {})
        s = (f"{head} {r['median_ms']:11.3f} ms  {rf.get('tflops', 0):8.2f} TFLOP/s "
             f"{rf.get('tbps', 0):6.3f} TB/s  {rf.get('pct_of_roof', 0):6.2f}% of roof")
        if r["status"] == "ok":
            s += f"  (n={r['samples']}, first {r['first_call_ms']:.0f} ms)"
        else:
            s += "  (derived)"
        return s
    why = r.get("error") or r.get("reason") or ""
    return f"{head} {r['status'].upper()}: {why[:300]}"


def print_summary(data: dict) -> None:
    meta = data["meta"]
    log("")
    log(f"== summary: {meta['device']}, commit {meta['commit']}, fla {meta.get('fla_commit')}, "
        f"roofline {meta['peak_tflops']} TFLOP/s / {meta['peak_tbps']} TB/s, "
        f"{meta.get('elapsed_s', 0):.0f} s")
    for r in sorted(data["measurements"], key=lambda r: (r["T"], r.get("config") or "",
                                                         r["id"])):
        log(_line(r))
    if data.get("ratios"):
        log("")
        log("== ours / anchor (time ratio; > 1 means ours is slower)")
        for x in data["ratios"]:
            log(f"T={x['T']:<6d} {x['config']:6s} {x['ours']:22s} / {x['anchor']:22s} "
                f"{x['ours_over_anchor']:10.3g}x" + (f"  ({x['note']})" if x["note"] else ""))


# --------------------------------------------------------------------------------------
# Dry run (no GPU, no torch)
# --------------------------------------------------------------------------------------


def dry_run(args) -> int:
    index = load_index(args.bundles)
    peaks = (args.peak_tflops or perfmodel.H100_PEAK_TFLOPS,
             args.peak_tbps or perfmodel.H100_PEAK_TBPS)
    print(f"dry run: bundles {args.bundles} ({len(index)} in index.json), "
          f"roofline {peaks[0]} TFLOP/s, {peaks[1]} TB/s")
    for T in args.T:
        for config in args.configs:
            params = config_params(index, config)
            p = problem(T, params)
            print(f"T={T} {config} {params}")
            for kernel in ("nsa", "compressed", "select", "selection_only", "selected",
                           "window", "dense_causal", "flex_window", "fla_nsa",
                           "fla_nsa_window"):
                if kernel.startswith("fla") and config != "fla64":
                    continue
                w = perfmodel.work(kernel, p)
                rf = perfmodel.roofline(w, None, *peaks)
                print(f"  {kernel:16s} {w.flops / 1e12:10.4f} TFLOP {w.bytes / 1e9:8.3f} GB  "
                      f"roof {rf['roof_ms']:8.3f} ms ({rf['bound']})")
            for e in index:
                if e["config"] != config:
                    continue
                manifest = json.loads((args.bundles / e["name"] / "manifest.json").read_text())
                mem = perfmodel.bundle_memory(manifest, {"B": SHAPE["B"], "T": T})
                print(f"  bundle {e['kind']:11s} scratch {mem['scratch'] / 2**30:7.2f} GiB, "
                      f"outputs {mem['outputs'] / 2**30:6.2f} GiB")
    return 0


# --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    ints = lambda s: tuple(int(x) for x in s.split(",") if x)  # noqa: E731
    names = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    p.add_argument("--bundles", type=Path, default=REPO / ".bundles" / "bench")
    p.add_argument("--T", type=ints, default=DEFAULT_T, help="comma-separated lengths")
    p.add_argument("--configs", type=names, default=["paper", "fla64"])
    p.add_argument("--only", type=names, default=list(GROUPS),
                   help=f"groups to run, comma-separated among {','.join(GROUPS)}")
    p.add_argument("--json", type=Path, default=None, help="result file")
    p.add_argument("--fla-src", type=Path, default=REPO / "third_party_carry" / "fla_src")
    p.add_argument("--time-budget", type=float, default=380.0,
                   help="seconds for all measurements (default 380)")
    p.add_argument("--max-seconds", type=float, default=2.0,
                   help="target seconds per measurement (default 2)")
    p.add_argument("--long-call", type=float, default=8.0,
                   help="a call slower than this many seconds is sampled once")
    p.add_argument("--warmup", type=int, default=25)
    p.add_argument("--rep", type=int, default=100)
    p.add_argument("--min-reps", type=int, default=3)
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="roofline compute peak (default: by device, perfmodel.device_peaks)")
    p.add_argument("--peak-tbps", type=float, default=None,
                   help="roofline bandwidth (default: by device, perfmodel.device_peaks)")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: test the harness itself without a GPU (small T only)")
    p.add_argument("--dry-run", action="store_true",
                   help="no GPU: print the work counts and bundle memory per point")
    args = p.parse_args(argv)
    bad = [c for c in args.configs if c not in FALLBACK_CONFIGS]
    if bad:
        p.error(f"unknown configs {bad}; expected among {sorted(FALLBACK_CONFIGS)}")
    bad = [g for g in args.only if g not in GROUPS]
    if bad:
        p.error(f"unknown groups {bad}; expected among {GROUPS}")
    if not args.T or any(t < 1 for t in args.T):
        p.error("--T needs positive lengths")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        return dry_run(args)
    if args.fla_src and str(args.fla_src) not in sys.path:
        sys.path.append(str(args.fla_src))
    global DEVICE
    DEVICE = args.device
    import torch
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device (use --dry-run to check the arithmetic here)",
              file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
    Bench(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
