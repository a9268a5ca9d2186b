"""Runs a whole ``nsa.attention`` on the CPU through ``--nsa-to-cpu``: the
compiler's decomposition, tiling, GQA fusion and lowering of every branch,
the selection and the combine, in f32."""

from __future__ import annotations

import numpy as np

from .compiler import compile_to_shared_library, config_attr, tensor_type
from .cpu import CompiledModule
from .reference import NSAConfig


def attention_module(cfg: NSAConfig, num_q_heads: int, num_kv_heads: int, key_dim: int,
                     value_dim: int, block_q: int, block_kv: int) -> str:
    """MLIR text of ``@nsa(q, k, v, g[, wk, wv]) -> (o, lse_cmp, lse_slc, lse_win)``."""
    f32 = "f32"
    q = tensor_type([None, None, num_q_heads, key_dim], f32)
    k = tensor_type([None, None, num_kv_heads, key_dim], f32)
    v = tensor_type([None, None, num_kv_heads, value_dim], f32)
    g = tensor_type([None, None, num_q_heads, 3], f32)
    o = tensor_type([None, None, num_q_heads, value_dim], f32)
    lse = tensor_type([None, None, num_q_heads], f32)
    args = [("q", q), ("k", k), ("v", v), ("g", g)]
    weights = ""
    if cfg.compression == "weighted":
        w = tensor_type([num_kv_heads, cfg.cmp_block], f32)
        args += [("wk", w), ("wv", w)]
        weights = " cmp_weights(%wk, %wv)"
    signature = ", ".join(f"%{name}: {t}" for name, t in args)
    types = ", ".join(t for _, t in args)
    results = f"{o}, {lse}, {lse}, {lse}"
    return f"""module attributes {{nsa.target = #nsa.target<block_q = {block_q}, block_kv = {block_kv}>}} {{
  func.func @nsa({signature}) -> ({results}) attributes {{llvm.emit_c_interface}} {{
    %o, %lc, %ls, %lw = nsa.attention %q, keys(%k) values(%v) gates(%g){weights}
        {{config = {config_attr(cfg)}}} : ({types}) -> ({results})
    return %o, %lc, %ls, %lw : {results}
  }}
}}
"""


def run_attention(cfg: NSAConfig, q, k, v, g, key_weights=None, value_weights=None, *,
                  block_q: int = 64, block_kv: int = 64, fuse_gqa_group: bool = True):
    """Compiles (cached) and runs ``nsa.attention``; returns a dict with o,
    lse_cmp, lse_slc, lse_win (f32)."""
    text = attention_module(cfg, q.shape[2], k.shape[2], q.shape[3], v.shape[3],
                            block_q, block_kv)
    pipeline = "nsa-to-cpu" if fuse_gqa_group else "nsa-to-cpu=fuse-gqa-group=0"
    module = CompiledModule(compile_to_shared_library(text, pipeline))
    inputs = [np.asarray(x, np.float32) for x in (q, k, v, g)]
    if cfg.compression == "weighted":
        inputs += [np.asarray(key_weights, np.float32), np.asarray(value_weights, np.float32)]
    o, lse_cmp, lse_slc, lse_win = module.call(
        "nsa", inputs, [(4, np.float32), (3, np.float32), (3, np.float32), (3, np.float32)])
    return {"o": o, "lse_cmp": lse_cmp, "lse_slc": lse_slc, "lse_win": lse_win}
