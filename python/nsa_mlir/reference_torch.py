"""The NSA reference semantics again, vectorized in PyTorch (float64, any device).

A second implementation of ``nsa_mlir.reference`` (the NumPy spec, itself the
executable form of docs/nsa-semantics.md) for checking GPU kernels at real sizes:
the NumPy reference walks one query position at a time and is far too slow for
T = 16384. This module computes the same quantities with whole-tensor operations
on whatever device the inputs live on, in float64, chunked over the query
positions so that the working set stays within ``chunk_bytes`` (T = 16384,
Hq = 32, Dk = 192 fits easily on an 80 GB GPU).

It is validated against the NumPy reference (python/tests/test_reference_torch.py,
and ``crosscheck()`` at the start of every GPU check run); where the two could
differ it follows reference.py, not the other way round.

API (the names and argument orders of reference.py; inputs may be torch tensors or
NumPy arrays, results are torch tensors on the inputs' device):

    compress(k, v, cfg, key_weights=None, value_weights=None) -> kc, vc
    compressed_attention(q, kc, vc, cfg, seq_len) -> o, lse
    compressed_probs(q, kc, lse, cfg) -> p_cmp
    selection_scores(p_cmp, num_kv_heads, cfg, seq_len) -> score
    select_blocks(score, cfg, seq_len) -> indices (int32, ascending, -1 padded)
    selected_attention(q, k, v, indices, cfg) -> o, lse
    window_attention(q, k, v, cfg) -> o, lse
    combine(o_cmp, o_slc, o_win, g) -> o
    nsa_forward(q, k, v, g, cfg, ...) -> dict with the keys of reference.nsa_forward

and, for the GPU harness, ``compressed_branch`` (compressed attention and the
selection scores in one chunked pass, without materializing p_cmp [B, T, Hq, Nc])
and the masks ``forced_block_mask`` / ``visible_block_mask``.

Conventions are reference.py's: layout [B, T, H, D]; GQA hq -> h = hq // G;
attention over an empty key set is the zero vector with lse = -inf; NaN never
appears for finite inputs.
"""

from __future__ import annotations

import math
import zlib
from typing import Iterator

import numpy as np
import torch

from .reference import (BRANCHES, NSAConfig, num_compressed_blocks,  # noqa: F401
                        num_selection_blocks)

F64 = torch.float64
# Working-set target of one chunk of query positions (bytes). The peak is a small
# multiple of it; 1 GiB keeps T = 16384, Hq = 32, Dk = 192 far below 80 GB.
DEFAULT_CHUNK_BYTES = 1 << 30


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _f64(x, device=None) -> torch.Tensor:
    """x (tensor, NumPy array or nested list) as a float64 tensor (on x's device, or
    `device` for non-tensors)."""
    if isinstance(x, torch.Tensor):
        return x.to(F64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)


def _int(x, device=None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x), device=device)


def _check_rank(name: str, x: torch.Tensor, layout: str) -> None:
    rank = layout.count(",") + 1
    if x.dim() != rank:
        raise ValueError(f"{name} must have rank {rank} {layout}, got shape "
                         f"{tuple(x.shape)}")


def _check_kv(keys, values, k_name="k", v_name="v") -> None:
    _check_rank(k_name, keys, "[B, T, H, Dk]")
    _check_rank(v_name, values, "[B, T, H, Dv]")
    if keys.shape[:3] != values.shape[:3]:
        raise ValueError(f"{k_name} {tuple(keys.shape)} and {v_name} {tuple(values.shape)} "
                         "must agree on [B, T, H]")


def _check_queries(q, keys, q_name="q", k_name="k") -> None:
    batch, num_q_heads, head_dim = q.shape[0], q.shape[-2], q.shape[-1]
    if batch != keys.shape[0]:
        raise ValueError(f"batch mismatch: {q_name} has B={batch}, {k_name} has "
                         f"B={keys.shape[0]}")
    if num_q_heads % keys.shape[2]:
        raise ValueError(f"{q_name} has Hq={num_q_heads} query heads, not a multiple of "
                         f"the H={keys.shape[2]} KV heads of {k_name}")
    if head_dim != keys.shape[3]:
        raise ValueError(f"head dim mismatch: {q_name} has Dk={head_dim}, {k_name} has "
                         f"Dk={keys.shape[3]}")


def _check_seq_len(seq_len: int) -> None:
    if seq_len < 1:
        raise ValueError(f"sequence length T must be >= 1, got {seq_len}")


def _check_length(name: str, length: int, expected: int, what: str) -> None:
    if length != expected:
        raise ValueError(f"sequence length mismatch: {name} has {length} {what}, "
                         f"expected {expected}")


def _chunks(seq_len: int, bytes_per_query: float, chunk_bytes: int | None
            ) -> Iterator[tuple[int, int]]:
    """[t0, t1) ranges covering 0 .. seq_len whose working set is about chunk_bytes."""
    budget = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    step = max(1, min(seq_len, int(budget // max(bytes_per_query, 1.0))))
    for t0 in range(0, seq_len, step):
        yield t0, min(seq_len, t0 + step)


def _group_queries(q_chunk: torch.Tensor, num_kv_heads: int) -> torch.Tensor:
    """[B, Tc, Hq, D] -> [B, Tc, H, G, D] (query heads hq = h·G + g)."""
    b, t, hq, d = q_chunk.shape
    return q_chunk.reshape(b, t, num_kv_heads, hq // num_kv_heads, d)


def _ungroup(x: torch.Tensor) -> torch.Tensor:
    """[B, Tc, H, G, ...] -> [B, Tc, Hq, ...]."""
    return x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3], *x.shape[4:])


def _masked_softmax_stats(logits: torch.Tensor, mask: torch.Tensor):
    """Softmax weights (unnormalized, w = exp(logit − peak), 0 where masked), their
    total and the log-sum-exp over the last axis; lse = -inf and total = 0 where the
    row has no key."""
    logits = logits.masked_fill(~mask, -math.inf)
    peak = logits.amax(dim=-1, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    weights = torch.exp(logits - peak)
    total = weights.sum(dim=-1, keepdim=True)
    lse = (peak + torch.log(total)).squeeze(-1)  # log(0) = -inf for empty rows
    return weights, total, lse


def _normalize(weighted_sum: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """weighted_sum / total, and 0 (not NaN) where total = 0 (empty key set)."""
    return weighted_sum / torch.where(total > 0, total, torch.ones_like(total))


# --------------------------------------------------------------------------------------
# Block masks and the selection mapping (index arithmetic of the page)
# --------------------------------------------------------------------------------------


def visible_compressed_count(t: torch.Tensor, cfg: NSAConfig) -> torch.Tensor:
    """Number of compressed blocks query t sees (blocks i with i·d + l − 1 <= t), not
    capped by Nc."""
    l, d = cfg.cmp_block, cfg.cmp_stride
    return torch.where(t >= l - 1, torch.div(t - (l - 1), d, rounding_mode="floor") + 1,
                       torch.zeros_like(t))


def visible_block_mask(t: torch.Tensor, num_slc: int, cfg: NSAConfig) -> torch.Tensor:
    """[len(t), Ns] bool: selection block j is visible to query t iff j·l' <= t."""
    j = torch.arange(num_slc, device=t.device)
    return j[None, :] * cfg.slc_block <= t[:, None]


def forced_block_mask(t: torch.Tensor, num_slc: int, cfg: NSAConfig) -> torch.Tensor:
    """[len(t), Ns] bool: the always-selected blocks of query t (reference.forced_blocks):
    blocks 0 .. num_init_blocks − 1 and the num_local_blocks blocks ending at t's own
    block, visible ones only."""
    j = torch.arange(num_slc, device=t.device)[None, :]
    own = torch.div(t, cfg.slc_block, rounding_mode="floor")[:, None]
    initial = (j < cfg.num_init_blocks) & (j <= own)
    local = (j >= own - cfg.num_local_blocks + 1) & (j <= own)
    return initial | local


def selection_weights(num_cmp: int, num_slc: int, cfg: NSAConfig, device=None
                      ) -> torch.Tensor:
    """[Nc, Ns] float64 W with p_slc = p_cmp @ W (reference.selection_weights)."""
    if cfg.score_mapping == "identity":
        return torch.eye(num_cmp, num_slc, dtype=F64, device=device)
    l, d, l_slc = cfg.cmp_block, cfg.cmp_stride, cfg.slc_block
    i = torch.arange(num_cmp, device=device)[:, None]
    j = torch.arange(num_slc, device=device)[None, :]
    first = torch.maximum(i * d, j * l_slc)
    end = torch.minimum(i * d + l, (j + 1) * l_slc)
    return (end - first).clamp(min=0).to(F64) / d


# --------------------------------------------------------------------------------------
# Branch 1: compression, compressed attention, probabilities, scores
# --------------------------------------------------------------------------------------


def compress(k, v, cfg: NSAConfig, key_weights=None, value_weights=None):
    """Token compression: k [B, T, H, Dk], v [B, T, H, Dv] -> kc [B, Nc, H, Dk],
    vc [B, Nc, H, Dv] (reference.compress)."""
    k = _f64(k)
    v = _f64(v, k.device)
    _check_kv(k, v)
    num_kv_heads = k.shape[2]
    if cfg.compression == "mean":
        if key_weights is not None or value_weights is not None:
            raise ValueError("compression='mean' takes no key_weights/value_weights")
    else:
        expected = (num_kv_heads, cfg.cmp_block)
        for name, weights in (("key_weights", key_weights), ("value_weights", value_weights)):
            if weights is None:
                raise ValueError(f"compression='weighted' needs {name} of shape [H, l] = "
                                 f"{expected}")
            if tuple(np.shape(weights) if not isinstance(weights, torch.Tensor)
                     else weights.shape) != expected:
                raise ValueError(f"{name} must have shape [H, l] = {expected}")
        key_weights = _f64(key_weights, k.device).to(k.device)
        value_weights = _f64(value_weights, k.device).to(k.device)
    return _pool_blocks(k, key_weights, cfg), _pool_blocks(v, value_weights, cfg)


def _pool_blocks(x: torch.Tensor, weights, cfg: NSAConfig) -> torch.Tensor:
    batch, seq_len, num_kv_heads, head_dim = x.shape
    num_cmp = num_compressed_blocks(seq_len, cfg)
    if num_cmp == 0:
        return x.new_zeros((batch, 0, num_kv_heads, head_dim))
    # [B, Nc, H, D, l]: block i = tokens [i·d, i·d + l) (a view, no copy).
    blocks = x.unfold(1, cfg.cmp_block, cfg.cmp_stride)
    if weights is None:
        return blocks.mean(dim=-1)
    return torch.einsum("hp,bnhdp->bnhd", weights, blocks)


def _cmp_chunk(qg, kc, vc, t, cfg, scale, want_probs: bool):
    """Compressed attention of one chunk of positions t (grouped queries
    qg [B, Tc, H, G, Dk]). Returns o [B, Tc, H, G, Dv], lse [B, Tc, H, G] and, if
    asked, p_cmp [B, Tc, H, G, Nc]."""
    batch, tc, num_kv_heads, group, _ = qg.shape
    num_cmp = kc.shape[1]
    count = visible_compressed_count(t, cfg).clamp(max=num_cmp)
    reach = int(count.max()) if tc else 0  # blocks any position of the chunk sees
    o = qg.new_zeros((batch, tc, num_kv_heads, group, vc.shape[-1]))
    lse = qg.new_full((batch, tc, num_kv_heads, group), -math.inf)
    p = qg.new_zeros((batch, tc, num_kv_heads, group, num_cmp)) if want_probs else None
    if reach == 0:
        return o, lse, p
    logits = torch.einsum("bthgd,bnhd->bthgn", qg, kc[:, :reach]) * scale
    mask = (torch.arange(reach, device=t.device)[None, :] < count[:, None])
    mask = mask[None, :, None, None, :]
    weights, total, lse = _masked_softmax_stats(logits, mask)
    o = _normalize(torch.einsum("bthgn,bnhd->bthgd", weights, vc[:, :reach]), total)
    if want_probs:
        # The page's p_cmp = exp(s·q·kc − lse), 0 where not visible.
        probs = torch.exp(logits - lse[..., None]).masked_fill(~mask, 0.0)
        p[..., :reach] = probs
    return o, lse, p


def _scores_from_probs(p: torch.Tensor, weights_map: torch.Tensor) -> torch.Tensor:
    """p_cmp [..., H, G, Nc] -> score [..., H, Ns]: map to selection blocks, then sum
    over the G query heads of each group (reference._selection_scores, same order)."""
    return (p @ weights_map).sum(dim=-2)


def compressed_branch(q, kc, vc, cfg: NSAConfig, seq_len: int, with_scores: bool = True,
                      with_probs: bool = False, chunk_bytes: int | None = None) -> dict:
    """Compressed attention and (optionally) the selection scores in one chunked pass:
    q [B, T, Hq, Dk], kc [B, Nc, H, Dk], vc [B, Nc, H, Dv] ->
    {"o": [B, T, Hq, Dv], "lse": [B, T, Hq], "score": [B, T, H, Ns] (with_scores),
     "p_cmp": [B, T, Hq, Nc] (with_probs)}. p_cmp is never materialized whole unless
    with_probs (it is [B, T, Hq, Nc], 8.6 GB at T = 16384, Hq = 32, B = 2)."""
    q = _f64(q)
    kc, vc = _f64(kc, q.device), _f64(vc, q.device)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_kv(kc, vc, "kc", "vc")
    _check_queries(q, kc, k_name="kc")
    _check_seq_len(seq_len)
    _check_length("q", q.shape[1], seq_len, "positions")
    _check_length("kc", kc.shape[1], num_compressed_blocks(seq_len, cfg), "compressed blocks")
    batch, _, num_q_heads, head_dim = q.shape
    num_kv_heads, num_cmp = kc.shape[2], kc.shape[1]
    num_slc = num_selection_blocks(seq_len, cfg)
    scale = cfg.softmax_scale(head_dim)
    device = q.device
    out = {"o": q.new_zeros((batch, seq_len, num_q_heads, vc.shape[-1])),
           "lse": q.new_full((batch, seq_len, num_q_heads), -math.inf)}
    if with_scores:
        out["score"] = q.new_zeros((batch, seq_len, num_kv_heads, num_slc))
        weights_map = selection_weights(num_cmp, num_slc, cfg, device)
    if with_probs:
        out["p_cmp"] = q.new_zeros((batch, seq_len, num_q_heads, num_cmp))
    per_query = 8.0 * batch * num_q_heads * (4 * max(num_cmp, 1) + 2 * num_slc
                                             + vc.shape[-1] + head_dim)
    for t0, t1 in _chunks(seq_len, per_query, chunk_bytes):
        t = torch.arange(t0, t1, device=device)
        qg = _group_queries(q[:, t0:t1], num_kv_heads)
        o, lse, p = _cmp_chunk(qg, kc, vc, t, cfg, scale, with_scores or with_probs)
        out["o"][:, t0:t1] = _ungroup(o)
        out["lse"][:, t0:t1] = _ungroup(lse)
        if with_scores:
            out["score"][:, t0:t1] = _scores_from_probs(p, weights_map)
        if with_probs:
            out["p_cmp"][:, t0:t1] = _ungroup(p)
    return out


def compressed_attention(q, kc, vc, cfg: NSAConfig, seq_len: int,
                         chunk_bytes: int | None = None):
    """o_cmp [B, T, Hq, Dv], lse [B, T, Hq] (reference.compressed_attention)."""
    out = compressed_branch(q, kc, vc, cfg, seq_len, with_scores=False,
                            chunk_bytes=chunk_bytes)
    return out["o"], out["lse"]


def compressed_probs(q, kc, lse, cfg: NSAConfig, chunk_bytes: int | None = None):
    """p_cmp[b, t, hq, i] = exp(s·q·kc[i] − lse), 0 where block i is not visible
    (reference.compressed_probs). q [B, T, Hq, Dk], kc [B, Nc, H, Dk], lse [B, T, Hq]."""
    q = _f64(q)
    kc, lse = _f64(kc, q.device), _f64(lse, q.device)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_rank("kc", kc, "[B, Nc, H, Dk]")
    _check_queries(q, kc, k_name="kc")
    if tuple(lse.shape) != tuple(q.shape[:3]):
        raise ValueError(f"lse must have shape [B, T, Hq] = {tuple(q.shape[:3])}, got "
                         f"{tuple(lse.shape)}")
    _check_seq_len(q.shape[1])
    batch, seq_len, num_q_heads, head_dim = q.shape
    num_kv_heads, num_cmp = kc.shape[2], kc.shape[1]
    scale = cfg.softmax_scale(head_dim)
    p_cmp = q.new_zeros((batch, seq_len, num_q_heads, num_cmp))
    per_query = 8.0 * batch * num_q_heads * 3 * max(num_cmp, 1)
    for t0, t1 in _chunks(seq_len, per_query, chunk_bytes):
        t = torch.arange(t0, t1, device=q.device)
        count = visible_compressed_count(t, cfg).clamp(max=num_cmp)
        reach = int(count.max())
        if reach == 0:
            continue
        qg = _group_queries(q[:, t0:t1], num_kv_heads)
        logits = torch.einsum("bthgd,bnhd->bthgn", qg, kc[:, :reach]) * scale
        lse_g = _group_queries(lse[:, t0:t1, :, None], num_kv_heads)[..., 0]
        mask = (torch.arange(reach, device=q.device)[None, :] < count[:, None])
        probs = torch.exp(logits - lse_g[..., None]).masked_fill(
            ~mask[None, :, None, None, :], 0.0)
        p_cmp[:, t0:t1, :, :reach] = _ungroup(probs)
    return p_cmp


def selection_scores(p_cmp, num_kv_heads: int, cfg: NSAConfig, seq_len: int):
    """score[b, t, h, j] = Σ_{hq in group h} (p_cmp @ W)[b, t, hq, j]
    (reference.selection_scores). p_cmp [B, T, Hq, Nc] -> score [B, T, H, Ns]."""
    p_cmp = _f64(p_cmp)
    _check_rank("p_cmp", p_cmp, "[B, T, Hq, Nc]")
    if num_kv_heads < 1 or p_cmp.shape[2] % num_kv_heads:
        raise ValueError(f"p_cmp has Hq={p_cmp.shape[2]} query heads, not a multiple of "
                         f"the H={num_kv_heads} KV heads")
    _check_length("p_cmp", p_cmp.shape[1], seq_len, "positions")
    _check_length("p_cmp", p_cmp.shape[3], num_compressed_blocks(seq_len, cfg),
                  "compressed blocks")
    weights_map = selection_weights(p_cmp.shape[3], num_selection_blocks(seq_len, cfg), cfg,
                                    p_cmp.device)
    grouped = _group_queries(p_cmp, num_kv_heads)
    return _scores_from_probs(grouped, weights_map)


# --------------------------------------------------------------------------------------
# Branch 2: block selection and selected attention
# --------------------------------------------------------------------------------------


def _select_chunk(score: torch.Tensor, t: torch.Tensor, cfg: NSAConfig) -> torch.Tensor:
    """score [B, Tc, H, Ns] of positions t -> indices int32 [B, Tc, H, n]."""
    batch, tc, num_kv_heads, num_slc = score.shape
    n = cfg.top_n
    device = score.device
    forced = forced_block_mask(t, num_slc, cfg)[None, :, None, :]  # [1, Tc, 1, Ns]
    visible = visible_block_mask(t, num_slc, cfg)[None, :, None, :]
    candidate = (visible & ~forced).expand(batch, tc, num_kv_heads, num_slc)
    places = (n - forced.sum(dim=-1, keepdim=True))  # free places per position
    # Rank the candidates: highest score first, ties to the lower block index (stable
    # sorts: by score, then candidates before non-candidates).
    by_score = torch.sort(score, dim=-1, descending=True, stable=True).indices
    cand_sorted = torch.gather(candidate, -1, by_score)
    by_cand = torch.sort(cand_sorted.to(torch.int8), dim=-1, descending=True,
                         stable=True).indices
    order = torch.gather(by_score, -1, by_cand)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(num_slc, device=device).expand_as(order))
    chosen = forced | (candidate & (rank < places))
    # Ascending block indices, then -1.
    j = torch.arange(num_slc, device=device).expand_as(rank)
    keyed = torch.where(chosen, j, torch.full_like(j, num_slc))
    keyed = torch.sort(keyed, dim=-1).values[..., :n]
    indices = torch.where(keyed == num_slc, torch.full_like(keyed, -1), keyed)
    if indices.shape[-1] < n:
        pad = indices.new_full((batch, tc, num_kv_heads, n - indices.shape[-1]), -1)
        indices = torch.cat([indices, pad], dim=-1)
    return indices.to(torch.int32)


def select_blocks(score, cfg: NSAConfig, seq_len: int,
                  chunk_bytes: int | None = None) -> torch.Tensor:
    """Selected blocks I[b, t, h] (reference.select_blocks): score [B, T, H, Ns] ->
    indices int32 [B, T, H, n], each row the chosen block indices ascending, then -1.
    Scores must not be NaN."""
    score = _f64(score)
    _check_rank("score", score, "[B, T, H, Ns]")
    _check_seq_len(seq_len)
    _check_length("score", score.shape[1], seq_len, "positions")
    _check_length("score", score.shape[3], num_selection_blocks(seq_len, cfg),
                  "selection blocks")
    batch, _, num_kv_heads, num_slc = score.shape
    out = torch.empty((batch, seq_len, num_kv_heads, cfg.top_n), dtype=torch.int32,
                      device=score.device)
    per_query = 8.0 * batch * num_kv_heads * max(num_slc, 1) * 12
    for t0, t1 in _chunks(seq_len, per_query, chunk_bytes):
        t = torch.arange(t0, t1, device=score.device)
        out[:, t0:t1] = _select_chunk(score[:, t0:t1], t, cfg)
    return out


def _slc_chunk(qg, k_blocks, v_blocks, indices, t, cfg, scale):
    """Selected attention of one chunk. qg [B, Tc, H, G, Dk]; k_blocks [B, H, Ns, l', Dk]
    (k padded to Ns·l' tokens, split in selection blocks), v_blocks likewise;
    indices [B, Tc, H, n] (int). Returns o [B, Tc, H, G, Dv], lse [B, Tc, H, G]."""
    batch, tc, num_kv_heads, group, _ = qg.shape
    l_slc = cfg.slc_block
    device = qg.device
    idx = torch.sort(indices.to(torch.int64), dim=-1).values
    # A block counts once (reference.selected_token_positions): repeats become -1.
    repeat = torch.zeros_like(idx, dtype=torch.bool)
    repeat[..., 1:] = idx[..., 1:] == idx[..., :-1]
    idx = torch.where(repeat, torch.full_like(idx, -1), idx)
    # At most Ns distinct blocks exist: after re-sorting (-1 first) the last
    # min(n, Ns) entries hold them all, so short sequences gather fewer keys.
    num_slc = k_blocks.shape[2]
    idx = torch.sort(idx, dim=-1).values[..., -min(idx.shape[-1], num_slc):]
    valid = idx >= 0
    idx_c = idx.clamp(min=0)
    b_idx = torch.arange(batch, device=device)[:, None, None, None]
    h_idx = torch.arange(num_kv_heads, device=device)[None, None, :, None]
    keys = k_blocks[b_idx, h_idx, idx_c]  # [B, Tc, H, n, l', Dk]
    values = v_blocks[b_idx, h_idx, idx_c]  # [B, Tc, H, n, l', Dv]
    pos = idx_c[..., None] * l_slc + torch.arange(l_slc, device=device)  # [B,Tc,H,n,l']
    mask = valid[..., None] & (pos <= t[None, :, None, None, None])
    num_keys = idx.shape[-1] * l_slc
    keys = keys.reshape(batch, tc, num_kv_heads, num_keys, keys.shape[-1])
    values = values.reshape(batch, tc, num_kv_heads, num_keys, values.shape[-1])
    mask = mask.reshape(batch, tc, num_kv_heads, 1, num_keys)
    logits = torch.einsum("bthgd,bthnd->bthgn", qg, keys) * scale
    weights, total, lse = _masked_softmax_stats(logits, mask)
    o = _normalize(torch.einsum("bthgn,bthnd->bthgd", weights, values), total)
    return o, lse


def _split_blocks(x: torch.Tensor, cfg: NSAConfig) -> torch.Tensor:
    """[B, T, H, D] -> [B, H, Ns, l', D] (zero-padded to Ns·l' tokens)."""
    batch, seq_len, num_kv_heads, dim = x.shape
    num_slc = num_selection_blocks(seq_len, cfg)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, num_slc * cfg.slc_block - seq_len))
    return padded.reshape(batch, num_slc, cfg.slc_block, num_kv_heads, dim).permute(
        0, 3, 1, 2, 4)


def _slc_bytes_per_query(batch, num_q_heads, num_kv_heads, key_dim, value_dim, cfg):
    keys = cfg.top_n * cfg.slc_block
    return 8.0 * batch * keys * (2 * num_kv_heads * (key_dim + value_dim)
                                 + 4 * num_q_heads + 2 * num_kv_heads)


def selected_attention(q, k, v, indices, cfg: NSAConfig, chunk_bytes: int | None = None):
    """o_slc [B, T, Hq, Dv], lse [B, T, Hq] over the tokens s <= t of the blocks in
    indices [B, T, H, n] (-1 ignored, repeats count once) (reference.selected_attention)."""
    q = _f64(q)
    k, v = _f64(k, q.device), _f64(v, q.device)
    indices = _int(indices, q.device)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_kv(k, v)
    _check_queries(q, k)
    _check_seq_len(q.shape[1])
    _check_length("k", k.shape[1], q.shape[1], "positions")
    _check_rank("indices", indices, "[B, T, H, n]")
    if tuple(indices.shape[:3]) != tuple(k.shape[:3]):
        raise ValueError(f"indices must have shape [B, T, H, n] with [B, T, H] = "
                         f"{tuple(k.shape[:3])}, got {tuple(indices.shape)}")
    num_slc = num_selection_blocks(q.shape[1], cfg)
    if indices.is_floating_point() or indices.dtype == torch.bool or bool(
            ((indices < -1) | (indices >= num_slc)).any()):
        raise ValueError(f"indices must be integers in [-1, Ns) = [-1, {num_slc})")
    indices = indices.to(q.device)
    batch, seq_len, num_q_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    scale = cfg.softmax_scale(head_dim)
    k_blocks, v_blocks = _split_blocks(k, cfg), _split_blocks(v, cfg)
    o = q.new_zeros((batch, seq_len, num_q_heads, v.shape[-1]))
    lse = q.new_full((batch, seq_len, num_q_heads), -math.inf)
    per_query = _slc_bytes_per_query(batch, num_q_heads, num_kv_heads, head_dim, v.shape[-1],
                                     cfg) * max(1, min(indices.shape[-1], num_slc)) / cfg.top_n
    for t0, t1 in _chunks(seq_len, per_query, chunk_bytes):
        t = torch.arange(t0, t1, device=q.device)
        oc, lc = _slc_chunk(_group_queries(q[:, t0:t1], num_kv_heads), k_blocks, v_blocks,
                            indices[:, t0:t1], t, cfg, scale)
        o[:, t0:t1], lse[:, t0:t1] = _ungroup(oc), _ungroup(lc)
    return o, lse


# --------------------------------------------------------------------------------------
# Branch 3: sliding window
# --------------------------------------------------------------------------------------


def _win_chunk(qg, k, v, t0, t1, cfg, scale):
    """Window attention of positions t0 .. t1 − 1 (qg [B, Tc, H, G, Dk])."""
    w = cfg.window
    first = max(0, t0 - w + 1)
    keys, values = k[:, first:t1], v[:, first:t1]  # [B, S, H, D]
    s = torch.arange(first, t1, device=qg.device)
    t = torch.arange(t0, t1, device=qg.device)
    mask = (s[None, :] <= t[:, None]) & (s[None, :] >= t[:, None] - w + 1)
    logits = torch.einsum("bthgd,bshd->bthgs", qg, keys) * scale
    weights, total, lse = _masked_softmax_stats(logits, mask[None, :, None, None, :])
    o = _normalize(torch.einsum("bthgs,bshd->bthgd", weights, values), total)
    return o, lse


def window_attention(q, k, v, cfg: NSAConfig, chunk_bytes: int | None = None):
    """o_win [B, T, Hq, Dv], lse [B, T, Hq] over keys a .. t, a = max(0, t − w + 1)
    (reference.window_attention)."""
    q = _f64(q)
    k, v = _f64(k, q.device), _f64(v, q.device)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_kv(k, v)
    _check_queries(q, k)
    _check_seq_len(q.shape[1])
    _check_length("k", k.shape[1], q.shape[1], "positions")
    batch, seq_len, num_q_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    scale = cfg.softmax_scale(head_dim)
    o = q.new_zeros((batch, seq_len, num_q_heads, v.shape[-1]))
    lse = q.new_full((batch, seq_len, num_q_heads), -math.inf)
    # A chunk of Tc positions reads Tc + w − 1 keys: chunks of at most max(w/2, 64)
    # positions waste at most half the work on masked keys; count 2w keys per query.
    per_query = 8.0 * batch * num_q_heads * 4 * min(2 * cfg.window, seq_len)
    budget = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    budget = min(budget, per_query * max(cfg.window // 2, 64))
    for t0, t1 in _chunks(seq_len, per_query, budget):
        oc, lc = _win_chunk(_group_queries(q[:, t0:t1], num_kv_heads), k, v, t0, t1, cfg,
                            scale)
        o[:, t0:t1], lse[:, t0:t1] = _ungroup(oc), _ungroup(lc)
    return o, lse


# --------------------------------------------------------------------------------------
# Output and the whole attention
# --------------------------------------------------------------------------------------


def combine(o_cmp, o_slc, o_win, g):
    """o = g[..., 0]·o_cmp + g[..., 1]·o_slc + g[..., 2]·o_win (reference.combine)."""
    o_cmp = _f64(o_cmp)
    o_slc, o_win, g = (_f64(x, o_cmp.device) for x in (o_slc, o_win, g))
    if not o_cmp.shape == o_slc.shape == o_win.shape:
        raise ValueError(f"branch outputs must have one shape, got {tuple(o_cmp.shape)}, "
                         f"{tuple(o_slc.shape)}, {tuple(o_win.shape)}")
    expected = tuple(o_cmp.shape[:-1]) + (3,)
    if tuple(g.shape) != expected:
        raise ValueError(f"g must have shape {expected} (the query shape with Dk replaced "
                         f"by the 3 gates cmp, slc, win), got {tuple(g.shape)}")
    return g[..., 0:1] * o_cmp + g[..., 1:2] * o_slc + g[..., 2:3] * o_win


def _branch_operands(q, k, v, branch_kv):
    overrides = dict(branch_kv or {})
    unknown = sorted(set(overrides) - set(BRANCHES))
    if unknown:
        raise ValueError(f"branch_kv keys must be among {BRANCHES}, got {unknown}")
    pairs = {}
    for branch in BRANCHES:
        keys, values = overrides.get(branch, (k, v))
        if keys is None or values is None:
            raise ValueError(f"no k, v for branch {branch!r}: pass a shared k, v or "
                             f"branch_kv[{branch!r}]")
        keys, values = _f64(keys, q.device).to(q.device), _f64(values, q.device).to(q.device)
        _check_kv(keys, values)
        _check_queries(q, keys)
        pairs[branch] = (keys, values)
    shapes = {branch: (tuple(kk.shape), tuple(vv.shape)) for branch, (kk, vv) in pairs.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the branches' k, v must have the same shapes, got {shapes}")
    _check_seq_len(pairs["cmp"][0].shape[1])
    return pairs


def nsa_forward(q, k, v, g, cfg: NSAConfig, key_weights=None, value_weights=None,
                branch_kv=None, with_p_cmp: bool = True,
                chunk_bytes: int | None = None) -> dict:
    """NSA over a whole sequence (reference.nsa_forward): a dict of float64 tensors
    o, o_cmp, o_slc, o_win [B, T, Hq, Dv]; lse_cmp, lse_slc, lse_win [B, T, Hq];
    kc [B, Nc, H, Dk], vc [B, Nc, H, Dv]; p_cmp [B, T, Hq, Nc] (only with with_p_cmp:
    it is the one large intermediate); score [B, T, H, Ns]; indices int32 [B, T, H, n]."""
    q = _f64(q)
    g = _f64(g, q.device).to(q.device)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    pairs = _branch_operands(q, k, v, branch_kv)
    seq_len = pairs["cmp"][0].shape[1]
    _check_length("q", q.shape[1], seq_len, "positions")
    expected_g = tuple(q.shape[:3]) + (3,)
    if tuple(g.shape) != expected_g:
        raise ValueError(f"g must have shape {expected_g} (the query shape with Dk replaced "
                         f"by the 3 gates cmp, slc, win), got {tuple(g.shape)}")
    kc, vc = compress(*pairs["cmp"], cfg, key_weights, value_weights)
    cmp = compressed_branch(q, kc, vc, cfg, seq_len, with_scores=True,
                            with_probs=with_p_cmp, chunk_bytes=chunk_bytes)
    indices = select_blocks(cmp["score"], cfg, seq_len, chunk_bytes=chunk_bytes)
    o_slc, lse_slc = selected_attention(q, *pairs["slc"], indices, cfg,
                                        chunk_bytes=chunk_bytes)
    o_win, lse_win = window_attention(q, *pairs["win"], cfg, chunk_bytes=chunk_bytes)
    result = {
        "o": combine(cmp["o"], o_slc, o_win, g),
        "o_cmp": cmp["o"], "o_slc": o_slc, "o_win": o_win,
        "lse_cmp": cmp["lse"], "lse_slc": lse_slc, "lse_win": lse_win,
        "score": cmp["score"], "indices": indices, "kc": kc, "vc": vc,
    }
    if with_p_cmp:
        result["p_cmp"] = cmp["p_cmp"]
    return result


# --------------------------------------------------------------------------------------
# Cross-check against the NumPy reference
# --------------------------------------------------------------------------------------

# (name, config kwargs, B, T, Hq, H, Dk, Dv, weighted)
CROSSCHECK_CASES = [
    ("small-T1", dict(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32),
     2, 1, 2, 1, 8, 12, False),
    ("small-T17-weighted", dict(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32,
                                compression="weighted"), 2, 17, 4, 2, 12, 8, True),
    ("small-T100-G16", dict(cmp_block=8, cmp_stride=4, slc_block=16, top_n=4, window=32),
     1, 100, 16, 1, 8, 8, False),
    ("paper-T300", dict(), 1, 300, 4, 2, 16, 8, False),
    ("fla64-T300", dict(cmp_block=64, cmp_stride=64), 2, 300, 2, 2, 8, 16, False),
    ("paper-small-n-T200", dict(top_n=4, window=40), 1, 200, 2, 1, 8, 8, False),
]


def crosscheck(device="cpu", rtol: float = 1e-10, cases=None, chunk_bytes: int = 1 << 16,
               log=None) -> list[str]:
    """Runs nsa_forward here and reference.nsa_forward (NumPy) on small random cases
    and returns a list of disagreements (empty when they agree): every float tensor
    within ||a − b|| <= rtol·||b|| (and -inf at the same places), indices exactly. A
    small chunk_bytes forces several chunks."""
    from . import reference as np_ref

    problems = []
    for name, kwargs, batch, seq_len, num_q_heads, num_kv_heads, dk, dv, weighted in (
            cases or CROSSCHECK_CASES):
        cfg = NSAConfig(**kwargs)
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        q = rng.standard_normal((batch, seq_len, num_q_heads, dk)) * 1.5
        k = rng.standard_normal((batch, seq_len, num_kv_heads, dk))
        v = rng.standard_normal((batch, seq_len, num_kv_heads, dv))
        g = rng.random((batch, seq_len, num_q_heads, 3))
        weights = ((rng.random((num_kv_heads, cfg.cmp_block)),
                    rng.standard_normal((num_kv_heads, cfg.cmp_block))) if weighted
                   else (None, None))
        expected = np_ref.nsa_forward(q, k, v, g, cfg, *weights)
        to = lambda x: None if x is None else torch.as_tensor(x, device=device)  # noqa: E731
        actual = nsa_forward(to(q), to(k), to(v), to(g), cfg, to(weights[0]), to(weights[1]),
                             chunk_bytes=chunk_bytes)
        for key, want in expected.items():
            problem = compare_arrays(actual[key], want, rtol)
            if problem:
                problems.append(f"{name}: {key}: {problem}")
        if log:
            log(f"crosscheck {name}: {'ok' if not problems else 'MISMATCH'}")
    return problems


def compare_arrays(actual, expected, rtol: float) -> str:
    """'' when actual (tensor) matches expected (NumPy) to rtol, else why not."""
    a = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else np.asarray(
        actual)
    b = np.asarray(expected)
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    if np.issubdtype(b.dtype, np.integer):
        if not np.array_equal(a, b):
            return f"{int((a != b).sum())} entries differ"
        return ""
    if not np.array_equal(np.isneginf(a), np.isneginf(b)) or np.isnan(a).any():
        return "-inf/NaN positions differ"
    finite = np.isfinite(b)
    diff = np.linalg.norm(a[finite] - b[finite])
    norm = np.linalg.norm(b[finite])
    if diff > rtol * max(norm, 1e-300) and diff > 0:
        return f"relative error {diff / max(norm, 1e-300):.3e} > {rtol:g}"
    return ""


def _main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(
        description="Cross-checks reference_torch against the NumPy reference.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    problems = crosscheck(args.device, log=print)
    for p in problems:
        print("MISMATCH", p)
    print(f"reference_torch vs reference (NumPy) on {args.device}: "
          f"{len(CROSSCHECK_CASES)} cases, {'OK' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(_main())
