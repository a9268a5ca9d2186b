"""Runs the compiler's branch attentions on the CPU: one ``nsa`` op per
module, compiled through ``--nsa-to-cpu`` (decompose, tile, GQA-fuse, lower;
or, with ``tile=False``, the untiled dense lowering), called on NumPy arrays.
Batch and sequence length are dynamic in the compiled function, so one module
serves every (B, T)."""

from __future__ import annotations

import numpy as np

from .compiler import compile_to_shared_library, config_attr, cpu_pipeline, tensor_type
from .cpu import CompiledModule
from .reference import NSAConfig

BRANCH_OPS = {
    "compressed": "nsa.compressed_attention",
    "selected": "nsa.selected_attention",
    "window": "nsa.window",
}


def branch_module(branch: str, cfg: NSAConfig, num_q_heads: int, num_kv_heads: int,
                  key_dim: int, value_dim: int, block_q: int, block_kv: int) -> str:
    """MLIR text of ``@branch(q, k, v[, indices]) -> (o, lse)`` in f32."""
    f32 = "f32"
    q = tensor_type([None, None, num_q_heads, key_dim], f32)
    k = tensor_type([None, None, num_kv_heads, key_dim], f32)
    v = tensor_type([None, None, num_kv_heads, value_dim], f32)
    o = tensor_type([None, None, num_q_heads, value_dim], f32)
    lse = tensor_type([None, None, num_q_heads], f32)
    args = [("q", q), ("k", k), ("v", v)]
    if branch == "selected":
        args.append(("indices", tensor_type([None, None, num_kv_heads, cfg.top_n], "i32")))
    signature = ", ".join(f"%{name}: {t}" for name, t in args)
    operands = ", ".join(f"%{name}" for name, _ in args)
    types = ", ".join(t for _, t in args)
    return f"""module attributes {{nsa.target = #nsa.target<block_q = {block_q}, block_kv = {block_kv}>}} {{
  func.func @branch({signature}) -> ({o}, {lse}) attributes {{llvm.emit_c_interface}} {{
    %o, %lse = {BRANCH_OPS[branch]} {operands} {{config = {config_attr(cfg)}}}
        : {types} -> {o}, {lse}
    return %o, %lse : {o}, {lse}
  }}
}}
"""


def run_branch(branch: str, cfg: NSAConfig, q: np.ndarray, k: np.ndarray, v: np.ndarray,
               indices: np.ndarray | None = None, *, block_q: int = 64,
               block_kv: int = 64, fuse_gqa_group: bool = True,
               tile: bool = True):
    """Compiles (cached) and runs one branch attention; returns (o, lse) in f32.

    For the compressed branch, ``k`` and ``v`` are the compressed keys and
    values; for the selected branch, ``indices`` are the selected blocks.
    ``tile=False`` compiles the untiled path (``nsa-to-cpu=tile=0``: the branch
    lowered densely from its definition); block sizes and GQA fusion then do
    not apply, and the module is compiled with the default block sizes."""
    if not tile:
        block_q, block_kv, fuse_gqa_group = 64, 64, True
    text = branch_module(branch, cfg, q.shape[2], k.shape[2], q.shape[3], v.shape[3],
                         block_q, block_kv)
    pipeline = cpu_pipeline(tile=tile, fuse_gqa_group=fuse_gqa_group)
    module = CompiledModule(compile_to_shared_library(text, pipeline))
    inputs = [q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)]
    if branch == "selected":
        inputs.append(indices.astype(np.int32))
    o, lse = module.call("branch", inputs, [(4, np.float32), (3, np.float32)])
    return o, lse


def probs_module(cfg: NSAConfig, num_q_heads: int, num_kv_heads: int, key_dim: int,
                 block_q: int, group_sum: bool = False) -> str:
    """MLIR text of ``@probs(q, kc, lse) -> p`` (``nsa.compressed_probs``, with
    ``group_sum`` the sums over each GQA group's heads) in f32."""
    f32 = "f32"
    q = tensor_type([None, None, num_q_heads, key_dim], f32)
    kc = tensor_type([None, None, num_kv_heads, key_dim], f32)
    lse = tensor_type([None, None, num_q_heads], f32)
    probs = tensor_type([None, None, num_kv_heads if group_sum else num_q_heads, None], f32)
    summed = " group_sum" if group_sum else ""
    return f"""module attributes {{nsa.target = #nsa.target<block_q = {block_q}>}} {{
  func.func @probs(%q: {q}, %kc: {kc}, %lse: {lse}) -> {probs} attributes {{llvm.emit_c_interface}} {{
    %p = nsa.compressed_probs %q, %kc, %lse{summed} {{config = {config_attr(cfg)}}}
        : {q}, {kc}, {lse} -> {probs}
    return %p : {probs}
  }}
}}
"""


def run_compressed_probs(cfg: NSAConfig, q: np.ndarray, kc: np.ndarray, lse: np.ndarray, *,
                         block_q: int = 64, fuse_gqa_group: bool = True,
                         tile: bool = True, group_sum: bool = False) -> np.ndarray:
    """Compiles (cached) and runs ``nsa.compressed_probs``: tiled into
    ``nsa.probs_tile`` loops, or (``tile=False``) lowered densely; returns the
    [B, T, Hq, Nc] probabilities in f32 (with ``group_sum``, [B, T, H, Nc]:
    their sums over each group's query heads)."""
    text = probs_module(cfg, q.shape[2], kc.shape[2], q.shape[3], block_q, group_sum)
    pipeline = cpu_pipeline(tile=tile, fuse_gqa_group=fuse_gqa_group)
    module = CompiledModule(compile_to_shared_library(text, pipeline))
    inputs = [q.astype(np.float32), kc.astype(np.float32), lse.astype(np.float32)]
    (probs,) = module.call("probs", inputs, [(4, np.float32)])
    return probs
