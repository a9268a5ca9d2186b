"""Runs a whole ``nsa.attention`` on the CPU through ``--nsa-to-cpu``: the
compiler's decomposition, tiling, GQA fusion and lowering of every branch
(or, with ``tile=False``, the untiled dense lowering of the branches), the
selection and the combine, in f32.

The module also holds ``@selection``: the selection chain that
``nsa-decompose`` makes of the attention (``nsa.compress``,
``nsa.compressed_attention``, ``nsa.compressed_probs``, ``nsa.select``, the
same ops with the same config and types), so a test can read the selected
block indices that the attention uses (``run_selection``)."""

from __future__ import annotations

import numpy as np

from .compiler import compile_to_shared_library, config_attr, cpu_pipeline, tensor_type
from .cpu import CompiledModule
from .reference import NSAConfig


def attention_module(cfg: NSAConfig, num_q_heads: int, num_kv_heads: int, key_dim: int,
                     value_dim: int, block_q: int, block_kv: int) -> str:
    """MLIR text of ``@nsa(q, k, v, g[, wk, wv]) -> (o, lse_cmp, lse_slc, lse_win)``
    and ``@selection(q, k, v[, wk, wv]) -> indices`` (i32 [B, T, H, n])."""
    f32 = "f32"
    q = tensor_type([None, None, num_q_heads, key_dim], f32)
    k = tensor_type([None, None, num_kv_heads, key_dim], f32)
    v = tensor_type([None, None, num_kv_heads, value_dim], f32)
    g = tensor_type([None, None, num_q_heads, 3], f32)
    o = tensor_type([None, None, num_q_heads, value_dim], f32)
    lse = tensor_type([None, None, num_q_heads], f32)
    probs = tensor_type([None, None, num_q_heads, None], f32)
    indices = tensor_type([None, None, num_kv_heads, cfg.top_n], "i32")
    config = f"{{config = {config_attr(cfg)}}}"
    weight_args = []
    attention_weights = compress_weights = weight_types = ""
    if cfg.compression == "weighted":
        w = tensor_type([num_kv_heads, cfg.cmp_block], f32)
        weight_args = [("wk", w), ("wv", w)]
        attention_weights = " cmp_weights(%wk, %wv)"
        compress_weights = " weights(%wk, %wv)"
        weight_types = f", {w}, {w}"
    args = [("q", q), ("k", k), ("v", v), ("g", g)] + weight_args
    selection_args = [("q", q), ("k", k), ("v", v)] + weight_args

    def signature(arguments):
        return ", ".join(f"%{name}: {t}" for name, t in arguments)

    types = ", ".join(t for _, t in args)
    results = f"{o}, {lse}, {lse}, {lse}"
    return f"""module attributes {{nsa.target = #nsa.target<block_q = {block_q}, block_kv = {block_kv}>}} {{
  func.func @nsa({signature(args)}) -> ({results}) attributes {{llvm.emit_c_interface}} {{
    %o, %lc, %ls, %lw = nsa.attention %q, keys(%k) values(%v) gates(%g){attention_weights}
        {config} : ({types}) -> ({results})
    return %o, %lc, %ls, %lw : {results}
  }}
  func.func @selection({signature(selection_args)}) -> {indices} attributes {{llvm.emit_c_interface}} {{
    %kc, %vc = nsa.compress %k, %v{compress_weights} {config} : {k}, {v}{weight_types} -> {k}, {v}
    %oc, %lc = nsa.compressed_attention %q, %kc, %vc {config} : {q}, {k}, {v} -> {o}, {lse}
    %p = nsa.compressed_probs %q, %kc, %lc {config} : {q}, {k}, {lse} -> {probs}
    %i = nsa.select %p {config} : {probs} -> {indices}
    return %i : {indices}
  }}
}}
"""


def _compiled(cfg, q, k, v, block_q, block_kv, fuse_gqa_group, tile) -> CompiledModule:
    if not tile:
        block_q, block_kv, fuse_gqa_group = 64, 64, True
    text = attention_module(cfg, q.shape[2], k.shape[2], q.shape[3], v.shape[3],
                            block_q, block_kv)
    pipeline = cpu_pipeline(tile=tile, fuse_gqa_group=fuse_gqa_group)
    return CompiledModule(compile_to_shared_library(text, pipeline))


def _weights(cfg, key_weights, value_weights) -> list:
    if cfg.compression != "weighted":
        return []
    return [np.asarray(key_weights, np.float32), np.asarray(value_weights, np.float32)]


def run_attention(cfg: NSAConfig, q, k, v, g, key_weights=None, value_weights=None, *,
                  block_q: int = 64, block_kv: int = 64, fuse_gqa_group: bool = True,
                  tile: bool = True):
    """Compiles (cached) and runs ``nsa.attention``; returns a dict with o,
    lse_cmp, lse_slc, lse_win (f32). ``tile=False``: the untiled path
    (``nsa-to-cpu=tile=0``, branch attentions lowered densely), where block
    sizes and GQA fusion do not apply."""
    module = _compiled(cfg, q, k, v, block_q, block_kv, fuse_gqa_group, tile)
    inputs = [np.asarray(x, np.float32) for x in (q, k, v, g)]
    inputs += _weights(cfg, key_weights, value_weights)
    o, lse_cmp, lse_slc, lse_win = module.call(
        "nsa", inputs, [(4, np.float32), (3, np.float32), (3, np.float32), (3, np.float32)])
    return {"o": o, "lse_cmp": lse_cmp, "lse_slc": lse_slc, "lse_win": lse_win}


def run_selection(cfg: NSAConfig, q, k, v, key_weights=None, value_weights=None, *,
                  block_q: int = 64, block_kv: int = 64, fuse_gqa_group: bool = True,
                  tile: bool = True) -> np.ndarray:
    """The selected block indices (int32 [B, T, H, n]) of the attention that
    ``run_attention`` with the same arguments computes: ``@selection`` of the
    same compiled module."""
    module = _compiled(cfg, q, k, v, block_q, block_kv, fuse_gqa_group, tile)
    inputs = [np.asarray(x, np.float32) for x in (q, k, v)]
    inputs += _weights(cfg, key_weights, value_weights)
    (indices,) = module.call("selection", inputs, [(4, np.int32)])
    return indices
