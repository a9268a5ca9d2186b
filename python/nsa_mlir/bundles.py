"""Compiles NSA graphs into GPU kernel bundles (docs/bundle-format.md) with
``nsa-opt --nsa-to-nvvm --nsa-export-bundle``.

Each *kind* of bundle is one host function; its inputs and outputs, in order:

===========  =====================  ==========================================
kind         inputs                 outputs
===========  =====================  ==========================================
attention    q, k, v, g             o, lse_cmp, lse_slc, lse_win
compressed   q, k, v                o, lse, kc, vc   (compress + attention)
select       q, k, v                indices          (compress, cmp attention,
                                                      probabilities, top-n)
selected     q, k, v, indices       o, lse
window       q, k, v                o, lse
===========  =====================  ==========================================

q, k, v, g, o, kc, vc have the bundle's dtype; lse is f32, indices i32. B and
T are dynamic, so one bundle serves every batch and sequence length.

Run as a module to compile a set of bundles into a directory (the GPU
machine has no LLVM, so bundles are compiled here and carried)::

    python -m nsa_mlir.bundles --out .bundles/check --preset check
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .compiler import CompilerError, config_attr, nsa_opt_path, tensor_type
from .reference import NSAConfig

KINDS = ("attention", "compressed", "select", "selected", "window")

CONFIGS = {
    "paper": NSAConfig(),
    "fla64": NSAConfig(cmp_block=64, cmp_stride=64),
}


@dataclass(frozen=True)
class Shape:
    num_q_heads: int
    num_kv_heads: int
    key_dim: int
    value_dim: int
    dtype: str  # f32, f16, bf16

    @property
    def group(self) -> int:
        return self.num_q_heads // self.num_kv_heads


def bundle_module(kind: str, cfg: NSAConfig, shape: Shape, target: str = "") -> str:
    """MLIR text of the host function ``@nsa_<kind>``."""
    if kind not in KINDS:
        raise ValueError(f"unknown bundle kind {kind!r}; expected one of {KINDS}")
    dt = shape.dtype
    q = tensor_type([None, None, shape.num_q_heads, shape.key_dim], dt)
    k = tensor_type([None, None, shape.num_kv_heads, shape.key_dim], dt)
    v = tensor_type([None, None, shape.num_kv_heads, shape.value_dim], dt)
    kc = tensor_type([None, None, shape.num_kv_heads, shape.key_dim], dt)
    vc = tensor_type([None, None, shape.num_kv_heads, shape.value_dim], dt)
    g = tensor_type([None, None, shape.num_q_heads, 3], dt)
    o = tensor_type([None, None, shape.num_q_heads, shape.value_dim], dt)
    lse = tensor_type([None, None, shape.num_q_heads], "f32")
    probs = tensor_type([None, None, shape.num_q_heads, None], "f32")
    idx = tensor_type([None, None, shape.num_kv_heads, cfg.top_n], "i32")
    c = f"{{config = {config_attr(cfg)}}}"
    compress = f"%kc, %vc = nsa.compress %k, %v {c} : {k}, {v} -> {kc}, {vc}"
    cmp_attention = (f"%oc, %lc = nsa.compressed_attention %q, %kc, %vc {c} "
                     f": {q}, {kc}, {vc} -> {o}, {lse}")
    if kind == "attention":
        args = [("q", q), ("k", k), ("v", v), ("g", g)]
        body = [f"%o, %l1, %l2, %l3 = nsa.attention %q, keys(%k) values(%v) gates(%g) {c} "
                f": ({q}, {k}, {v}, {g}) -> ({o}, {lse}, {lse}, {lse})"]
        results = [("%o", o), ("%l1", lse), ("%l2", lse), ("%l3", lse)]
    elif kind == "compressed":
        args = [("q", q), ("k", k), ("v", v)]
        body = [compress, cmp_attention]
        results = [("%oc", o), ("%lc", lse), ("%kc", kc), ("%vc", vc)]
    elif kind == "select":
        args = [("q", q), ("k", k), ("v", v)]
        body = [compress, cmp_attention,
                f"%p = nsa.compressed_probs %q, %kc, %lc {c} : {q}, {kc}, {lse} -> {probs}",
                f"%i = nsa.select %p {c} : {probs} -> {idx}"]
        results = [("%i", idx)]
    elif kind == "selected":
        args = [("q", q), ("k", k), ("v", v), ("indices", idx)]
        body = [f"%os, %ls = nsa.selected_attention %q, %k, %v, %indices {c} "
                f": {q}, {k}, {v}, {idx} -> {o}, {lse}"]
        results = [("%os", o), ("%ls", lse)]
    else:
        args = [("q", q), ("k", k), ("v", v)]
        body = [f"%ow, %lw = nsa.window %q, %k, %v {c} : {q}, {k}, {v} -> {o}, {lse}"]
        results = [("%ow", o), ("%lw", lse)]
    signature = ", ".join(f"%{name}: {t} {{nsa.name = \"{name}\"}}" for name, t in args)
    result_types = ", ".join(t for _, t in results)
    attributes = f" attributes {{nsa.target = {target}}}" if target else ""
    lines = "\n    ".join(body)
    return f"""module{attributes} {{
  func.func @nsa_{kind}({signature}) -> ({result_types}) {{
    {lines}
    return {", ".join(n for n, _ in results)} : {result_types}
  }}
}}
"""


def compile_bundle(text: str, out_dir: Path, chip: str = "", ptx: bool = True) -> Path:
    """Compiles module text into the bundle directory ``out_dir`` (without
    kernels.ptx when ``ptx`` is false: half the size, no JIT fallback)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    pipeline = "nsa-to-nvvm" + (f"=chip={chip}" if chip else "")
    export = f"dir={out_dir}" + ("" if ptx else " ptx=false")
    command = [str(nsa_opt_path()), f"--{pipeline}",
               f"--nsa-export-bundle={export}", "-o", "/dev/null"]
    result = subprocess.run(command, input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise CompilerError(f"bundle compilation failed ({' '.join(command)}):\n"
                            f"{result.stderr}\n--- input ---\n{text}")
    (out_dir / "source.mlir").write_text(text)
    return out_dir


def bundle_name(kind: str, config: str, shape: Shape) -> str:
    return (f"{kind}-{config}-hq{shape.num_q_heads}-h{shape.num_kv_heads}"
            f"-dk{shape.key_dim}-dv{shape.value_dim}-{shape.dtype}")


# The check matrix of the GPU issue: G in {1, 4, 16}, (Dk, Dv) in {(64, 64),
# (128, 128), (192, 128)}, bf16 / f16 / f32, both configs. Two KV heads, so
# that the KV-head index is exercised.
PRESETS = {
    "check": dict(groups=(1, 4, 16), dims=((64, 64), (128, 128), (192, 128)),
                  dtypes=("bf16", "f16", "f32"), configs=("paper", "fla64"),
                  kv_heads=2),
    "smoke": dict(groups=(4,), dims=((64, 64),), dtypes=("f32",),
                  configs=("paper",), kv_heads=2),
    # The timing anchor shape of bench/benchmark.py: bf16, 64 query heads over
    # 4 KV heads (G = 16), Dk = Dv = 128, both configs.
    "bench": dict(groups=(16,), dims=((128, 128),), dtypes=("bf16",),
                  configs=("paper", "fla64"), kv_heads=4),
}


def compile_preset(preset: str, out: Path, kinds=KINDS, chip: str = "",
                   target: str = "", ptx: bool = True) -> list[dict]:
    spec = PRESETS[preset]
    entries = []
    for config, dtype, group, (dk, dv) in itertools.product(
            spec["configs"], spec["dtypes"], spec["groups"], spec["dims"]):
        shape = Shape(spec["kv_heads"] * group, spec["kv_heads"], dk, dv, dtype)
        for kind in kinds:
            name = bundle_name(kind, config, shape)
            compile_bundle(bundle_module(kind, CONFIGS[config], shape, target),
                           out / name, chip, ptx)
            entry = {"name": name, "kind": kind, "config": config,
                     "config_params": asdict(CONFIGS[config]), **asdict(shape)}
            if target:
                entry["target"] = target
            entries.append(entry)
    (out / "index.json").write_text(json.dumps(entries, indent=1))
    return entries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="check")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--chip", default="")
    parser.add_argument("--target", default="",
                        help="an #nsa.target attribute for the modules (tile sizes, "
                             "warps per CTA), e.g. '#nsa.target<num_warps = 8>' (the "
                             "selected kernels take selected_num_warps instead); "
                             "default: the compiler's defaults")
    parser.add_argument("--no-ptx", action="store_true",
                        help="leave kernels.ptx out of the bundles (half the size, e.g. "
                             "to fit the device call's carry limit; no JIT fallback)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    entries = compile_preset(args.preset, args.out, kinds, args.chip, args.target,
                             ptx=not args.no_ptx)
    print(f"compiled {len(entries)} bundles into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
