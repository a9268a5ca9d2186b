"""Reference semantics of DeepSeek's Native Sparse Attention (NSA), in NumPy.

This module is the executable form of the NSA semantics page (docs/nsa-semantics.md,
"the page" below); section names in comments refer to it. It is written to be read,
not to be fast: every branch runs one query position at a time, exactly as the page
writes it, and the compiler's kernels are tested against it.

Conventions
  * Layout [B, T, H, D] everywhere, batch first: q [B, T, Hq, Dk], k [B, T, H, Dk],
    v [B, T, H, Dv], g [B, T, Hq, 3]. Positions t = 0 .. T-1, 0-based.
  * GQA: G = Hq / H consecutive query heads share one KV head, hq -> h = hq // G.
  * All math is float64 whatever the input dtype (the page asks kernels for fp32
    accumulation; float64 makes the reference the more exact side of any comparison).
  * attn over an empty key set is the zero vector with log-sum-exp -inf (the page,
    "Shapes and parameters"); nothing here produces NaN or a floating-point warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

COMPRESSIONS = ("mean", "weighted")
SCORE_MAPPINGS = ("overlap", "identity")
BRANCHES = ("cmp", "slc", "win")


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NSAConfig:
    """NSA hyper-parameters; defaults are the paper's values (the page, "Shapes and
    parameters")."""

    cmp_block: int = 32  # l: tokens per compressed block
    cmp_stride: int = 16  # d: distance between consecutive compressed blocks
    slc_block: int = 64  # l': tokens per selection block
    top_n: int = 16  # n: selection blocks per query and KV head
    window: int = 512  # w: sliding-window length
    scale: float | None = None  # softmax scale; None means 1/sqrt(Dk)
    num_init_blocks: int = 1  # always-selected blocks at the start (block 0)
    num_local_blocks: int = 2  # always-selected blocks ending at the query's own block
    compression: str = "mean"  # phi: "mean" or "weighted" (learned [H, l] weights)
    score_mapping: str = "overlap"  # p_cmp -> p_slc: "overlap" (Eq. 9) or "identity"

    def __post_init__(self) -> None:
        for name in ("cmp_block", "cmp_stride", "slc_block", "top_n", "window"):
            _require_int_at_least(name, getattr(self, name), 1)
        for name in ("num_init_blocks", "num_local_blocks"):
            _require_int_at_least(name, getattr(self, name), 0)
        l, d, l_slc = self.cmp_block, self.cmp_stride, self.slc_block
        if l % d:
            raise ValueError(f"NSAConfig.cmp_stride={d} must divide NSAConfig.cmp_block={l}")
        # With l' >= 1, "d divides l'" also gives the page's l' >= d.
        if l_slc % d:
            raise ValueError(
                f"NSAConfig.cmp_stride={d} must divide NSAConfig.slc_block={l_slc}")
        if self.num_init_blocks + self.num_local_blocks > self.top_n:
            raise ValueError(
                f"NSAConfig.num_init_blocks={self.num_init_blocks} + "
                f"num_local_blocks={self.num_local_blocks} exceeds top_n={self.top_n}: "
                "the always-selected blocks must fit in the n places")
        if self.scale is not None:
            if (isinstance(self.scale, bool) or not isinstance(self.scale, (int, float))
                    or not math.isfinite(self.scale) or self.scale <= 0):
                raise ValueError(
                    f"NSAConfig.scale must be a finite number > 0 or None, got {self.scale!r}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"NSAConfig.compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if self.score_mapping not in SCORE_MAPPINGS:
            raise ValueError(f"NSAConfig.score_mapping must be one of {SCORE_MAPPINGS}, "
                             f"got {self.score_mapping!r}")
        # p_slc = p_cmp only makes sense when compressed and selection blocks coincide.
        if self.score_mapping == "identity" and not l == d == l_slc:
            raise ValueError(
                "NSAConfig.score_mapping='identity' requires cmp_block == cmp_stride == "
                f"slc_block, got {l}, {d}, {l_slc}")

    def softmax_scale(self, head_dim: int) -> float:
        """The softmax scale s: `scale` if given, else 1/sqrt(Dk)."""
        return self.scale if self.scale is not None else 1.0 / math.sqrt(head_dim)


def _require_int_at_least(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"NSAConfig.{name} must be an integer >= {minimum}, got {value!r}")


# --------------------------------------------------------------------------------------
# Block math (pure integers; the page's index arithmetic)
# --------------------------------------------------------------------------------------


def num_compressed_blocks(seq_len: int, cfg: NSAConfig) -> int:
    """Nc: compressed block i covers [i·d, i·d + l) and exists when i·d + l <= T."""
    l, d = cfg.cmp_block, cfg.cmp_stride
    return (seq_len - l) // d + 1 if seq_len >= l else 0


def num_selection_blocks(seq_len: int, cfg: NSAConfig) -> int:
    """Ns = ceil(T / l'): selection block j covers [j·l', (j+1)·l'); the last may be partial."""
    return -(-seq_len // cfg.slc_block)


def compressed_block_visible(t: int, i: int, cfg: NSAConfig) -> bool:
    """Query t sees compressed block i iff the block ends at or before t."""
    return i * cfg.cmp_stride + cfg.cmp_block - 1 <= t


def selection_block_visible(t: int, j: int, cfg: NSAConfig) -> bool:
    """Query t sees selection block j iff the block starts at or before t."""
    return j * cfg.slc_block <= t


def overlap_weight(i: int, j: int, cfg: NSAConfig) -> float:
    """Eq. 9 weight of compressed block i in selection block j:
    |[i·d, i·d + l) ∩ [j·l', (j+1)·l')| / d (tokens in common, in units of d)."""
    l, d, l_slc = cfg.cmp_block, cfg.cmp_stride, cfg.slc_block
    first = max(i * d, j * l_slc)
    end = min(i * d + l, (j + 1) * l_slc)
    return max(0, end - first) / d


def window_start(t: int, cfg: NSAConfig) -> int:
    """First key position of the sliding window of query t: a = max(0, t − w + 1)."""
    return max(0, t - cfg.window + 1)


# --------------------------------------------------------------------------------------
# Key sets of one query position
# --------------------------------------------------------------------------------------


def _positions(values) -> np.ndarray:
    """An integer index array (also when empty, so it can index k and v)."""
    return np.array(list(values), dtype=np.intp)


def visible_compressed_blocks(t: int, num_cmp: int, cfg: NSAConfig) -> np.ndarray:
    """Compressed blocks (of the num_cmp that exist) that query t sees, ascending."""
    return _positions(i for i in range(num_cmp) if compressed_block_visible(t, i, cfg))


def forced_blocks(t: int, cfg: NSAConfig) -> list[int]:
    """Selection blocks always in I[t, h]: the initial blocks 0 .. num_init_blocks−1 and
    the num_local_blocks blocks ending at the block containing t; only visible ones
    (j <= t // l'), so near the start there are fewer. Ascending."""
    own = t // cfg.slc_block
    initial = range(min(cfg.num_init_blocks, own + 1))
    local = range(max(0, own - cfg.num_local_blocks + 1), own + 1)
    return sorted(set(initial) | set(local))


def select_block_set(block_scores: Sequence[float], t: int, cfg: NSAConfig) -> list[int]:
    """I[t, h]: the selection blocks chosen for query t given one score per block
    (len(block_scores) = Ns). The forced blocks, then the remaining places (up to n in
    all) to the visible blocks with the highest score, ties to the lower index.
    Returned ascending; fewer than n when fewer blocks are visible."""
    block_scores = np.asarray(block_scores, dtype=np.float64)
    forced = forced_blocks(t, cfg)
    others = _positions(j for j in range(len(block_scores))
                        if selection_block_visible(t, j, cfg) and j not in forced)
    # Highest score first; the stable sort keeps ascending block order among equal
    # scores, so ties go to the lower block index.
    ranked = others[np.argsort(-block_scores[others], kind="stable")]
    chosen = forced + ranked[:cfg.top_n - len(forced)].tolist()
    return sorted(chosen)


def selected_token_positions(blocks: Sequence[int], t: int, cfg: NSAConfig) -> np.ndarray:
    """S: the tokens of the given selection blocks that query t may see (s <= t, which
    also keeps them < T), ascending. Entries -1 are padding; a block counts once."""
    l_slc = cfg.slc_block
    chosen = sorted({int(j) for j in blocks if j >= 0})
    return _positions(s for j in chosen for s in range(j * l_slc, (j + 1) * l_slc) if s <= t)


def window_positions(t: int, cfg: NSAConfig) -> np.ndarray:
    """The sliding-window keys of query t: a .. t."""
    return np.arange(window_start(t, cfg), t + 1, dtype=np.intp)


def selection_weights(num_cmp: int, num_slc: int, cfg: NSAConfig) -> np.ndarray:
    """[Nc, Ns] matrix W with p_slc = p_cmp @ W (the page, Branch 2). "overlap": Eq. 9,
    W[i, j] = overlap_weight(i, j); "identity": W[i, j] = [i == j] (when l = d = l',
    where Eq. 9 gives the same matrix; a partial last selection block scores 0)."""
    if cfg.score_mapping == "identity":
        return np.eye(num_cmp, num_slc)
    return np.array([[overlap_weight(i, j, cfg) for j in range(num_slc)]
                     for i in range(num_cmp)], dtype=np.float64).reshape(num_cmp, num_slc)


# --------------------------------------------------------------------------------------
# Attention of one query
# --------------------------------------------------------------------------------------


def attend(q: np.ndarray, keys: np.ndarray, values: np.ndarray, scale: float):
    """attn(q, K, V) = softmax(s · q·Kᵀ) V for one query q [Dk] over keys [N, Dk] and
    values [N, Dv], in float64. Returns (o [Dv], lse) with lse = log Σ exp(s · q·K).
    Over an empty key set (N = 0): the zero vector and lse = -inf."""
    q, keys, values = (np.asarray(x, dtype=np.float64) for x in (q, keys, values))
    if keys.shape[0] == 0:
        return np.zeros(values.shape[-1]), -np.inf
    logits = scale * (keys @ q)
    peak = logits.max()  # subtracted before exp so nothing overflows
    weights = np.exp(logits - peak)
    total = weights.sum()
    return (weights @ values) / total, peak + math.log(total)


def _query_heads(batch: int, num_q_heads: int, num_kv_heads: int):
    """Yields (b, hq, h) for every query head, h = hq // G its KV head (GQA)."""
    group = num_q_heads // num_kv_heads
    for b in range(batch):
        for hq in range(num_q_heads):
            yield b, hq, hq // group


def _attend_at(q_t: np.ndarray, keys: np.ndarray, values: np.ndarray, scale: float,
               key_rows: Callable[[int, int], np.ndarray]):
    """attn for every (b, hq) of one position: q_t [B, Hq, Dk] against rows key_rows(b, h)
    of keys [B, N, H, Dk] and values [B, N, H, Dv]. Returns o [B, Hq, Dv], lse [B, Hq]."""
    batch, num_q_heads, _ = q_t.shape
    o = np.zeros((batch, num_q_heads, values.shape[-1]))
    lse = np.empty((batch, num_q_heads))
    for b, hq, h in _query_heads(batch, num_q_heads, keys.shape[2]):
        rows = key_rows(b, h)
        o[b, hq], lse[b, hq] = attend(q_t[b, hq], keys[b, rows, h], values[b, rows, h], scale)
    return o, lse


# --------------------------------------------------------------------------------------
# The branches at one query position t (shared by nsa_forward and decode_step).
# q_t [B, Hq, Dk]; full-length operands keep their [B, T, H, D] layout.
# --------------------------------------------------------------------------------------


def _compressed_attention_at(q_t, kc, vc, t, cfg):
    visible = visible_compressed_blocks(t, kc.shape[1], cfg)
    return _attend_at(q_t, kc, vc, cfg.softmax_scale(q_t.shape[-1]), lambda b, h: visible)


def _compressed_probs_at(q_t, kc, lse_t, t, cfg):
    # The softmax probabilities of the compressed attention, rebuilt from its lse.
    batch, num_q_heads, head_dim = q_t.shape
    scale = cfg.softmax_scale(head_dim)
    visible = visible_compressed_blocks(t, kc.shape[1], cfg)
    p_cmp = np.zeros((batch, num_q_heads, kc.shape[1]))
    for b, hq, h in _query_heads(batch, num_q_heads, kc.shape[2]):
        p_cmp[b, hq, visible] = np.exp(scale * (kc[b, visible, h] @ q_t[b, hq]) - lse_t[b, hq])
    return p_cmp


def _selection_scores(p_cmp, num_kv_heads, cfg, seq_len):
    # Position-independent: p_cmp [..., Hq, Nc] -> score [..., H, Ns].
    num_q_heads, num_cmp = p_cmp.shape[-2:]
    num_slc = num_selection_blocks(seq_len, cfg)
    p_slc = p_cmp @ selection_weights(num_cmp, num_slc, cfg)
    # GQA: query heads h·G .. h·G + G − 1 form group h and choose one set of blocks.
    grouped = p_slc.reshape(*p_slc.shape[:-2], num_kv_heads, num_q_heads // num_kv_heads,
                            num_slc)
    return grouped.sum(axis=-2)


def _select_blocks_at(score_t, t, cfg):
    batch, num_kv_heads, _ = score_t.shape
    indices = np.full((batch, num_kv_heads, cfg.top_n), -1, dtype=np.int32)
    for b in range(batch):
        for h in range(num_kv_heads):
            chosen = select_block_set(score_t[b, h], t, cfg)
            indices[b, h, :len(chosen)] = chosen
    return indices


def _selected_attention_at(q_t, k, v, indices_t, t, cfg):
    return _attend_at(q_t, k, v, cfg.softmax_scale(q_t.shape[-1]),
                      lambda b, h: selected_token_positions(indices_t[b, h], t, cfg))


def _window_attention_at(q_t, k, v, t, cfg):
    window = window_positions(t, cfg)
    return _attend_at(q_t, k, v, cfg.softmax_scale(q_t.shape[-1]), lambda b, h: window)


def _nsa_at(q_t, g_t, t, branch_kv, kc, vc, cfg):
    """All three branches and the gated output for query position t."""
    k_slc, v_slc = branch_kv["slc"]
    k_win, v_win = branch_kv["win"]
    o_cmp, lse_cmp = _compressed_attention_at(q_t, kc, vc, t, cfg)
    p_cmp = _compressed_probs_at(q_t, kc, lse_cmp, t, cfg)
    score = _selection_scores(p_cmp, k_slc.shape[2], cfg, k_slc.shape[1])
    indices = _select_blocks_at(score, t, cfg)
    o_slc, lse_slc = _selected_attention_at(q_t, k_slc, v_slc, indices, t, cfg)
    o_win, lse_win = _window_attention_at(q_t, k_win, v_win, t, cfg)
    return {
        "o": combine(o_cmp, o_slc, o_win, g_t),
        "o_cmp": o_cmp, "o_slc": o_slc, "o_win": o_win,
        "lse_cmp": lse_cmp, "lse_slc": lse_slc, "lse_win": lse_win,
        "p_cmp": p_cmp, "score": score, "indices": indices,
    }


def _over_positions(seq_len: int, at_position: Callable[[int], object]):
    """Runs at_position(t) for t = 0 .. T−1 and stacks its results (an array, a tuple
    or a dict of arrays [B, ...]) along a new T axis, axis 1."""
    per_position = [at_position(t) for t in range(seq_len)]
    first = per_position[0]
    if isinstance(first, dict):
        return {key: np.stack([r[key] for r in per_position], axis=1) for key in first}
    if isinstance(first, tuple):
        return tuple(np.stack(parts, axis=1) for parts in zip(*per_position))
    return np.stack(per_position, axis=1)


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _float64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _check_rank(name: str, x: np.ndarray, layout: str) -> None:
    rank = layout.count(",") + 1
    if x.ndim != rank:
        raise ValueError(f"{name} must have rank {rank} {layout}, got shape {x.shape}")


def _check_kv(keys, values, k_name="k", v_name="v") -> None:
    _check_rank(k_name, keys, "[B, T, H, Dk]")
    _check_rank(v_name, values, "[B, T, H, Dv]")
    if keys.shape[:3] != values.shape[:3]:
        raise ValueError(f"{k_name} {keys.shape} and {v_name} {values.shape} must agree on "
                         "[B, T, H]")


def _check_queries(q, keys, q_name="q", k_name="k") -> None:
    """q [B, (T,) Hq, Dk] against keys [B, N, H, Dk]: batch, GQA heads and head dim."""
    batch, num_q_heads, head_dim = q.shape[0], q.shape[-2], q.shape[-1]
    if batch != keys.shape[0]:
        raise ValueError(f"batch mismatch: {q_name} has B={batch}, {k_name} has "
                         f"B={keys.shape[0]}")
    if num_q_heads % keys.shape[2]:
        raise ValueError(f"{q_name} has Hq={num_q_heads} query heads, not a multiple of the "
                         f"H={keys.shape[2]} KV heads of {k_name}")
    if head_dim != keys.shape[3]:
        raise ValueError(f"head dim mismatch: {q_name} has Dk={head_dim}, {k_name} has "
                         f"Dk={keys.shape[3]}")


def _check_length(name: str, length: int, expected: int, what: str) -> None:
    if length != expected:
        raise ValueError(f"sequence length mismatch: {name} has {length} {what}, "
                         f"expected {expected}")


def _check_seq_len(seq_len: int) -> None:
    if seq_len < 1:
        raise ValueError(f"sequence length T must be >= 1, got {seq_len}")


def _check_gates(g, q_heads_shape) -> None:
    expected = tuple(q_heads_shape) + (3,)
    if g.shape != expected:
        raise ValueError(f"g must have shape {expected} (the query shape with Dk replaced by "
                         f"the 3 gates cmp, slc, win), got {g.shape}")


def _branch_operands(q, k, v, branch_kv, q_name="q"):
    """One float64 (k, v) pair per branch: the shared k, v unless branch_kv overrides it.
    All pairs must have the same shapes (one T, H, Dk, Dv for the whole attention)."""
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
        keys, values = _float64(keys), _float64(values)
        source = f"branch_kv[{branch!r}] " if branch in overrides else ""
        k_name, v_name = source + "k", source + "v"
        _check_kv(keys, values, k_name, v_name)
        _check_queries(q, keys, q_name=q_name, k_name=k_name)
        pairs[branch] = (keys, values)
    shapes = {branch: (keys.shape, values.shape) for branch, (keys, values) in pairs.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the branches' k, v must have the same shapes, got {shapes}")
    _check_seq_len(pairs["cmp"][0].shape[1])
    return pairs


# --------------------------------------------------------------------------------------
# Public branch operations (whole sequences, [B, T, ...])
# --------------------------------------------------------------------------------------


def compress(k, v, cfg: NSAConfig, key_weights=None, value_weights=None):
    """Token compression (the page, Branch 1): kc[b, i, h] = phi_K(k[b, i·d : i·d + l, h]),
    likewise vc with phi_V. k [B, T, H, Dk], v [B, T, H, Dv] -> kc [B, Nc, H, Dk],
    vc [B, Nc, H, Dv]. phi is "mean" (the average of the l tokens; no weights) or
    "weighted" (key_weights, value_weights [H, l]: Σ_p weights[h, p] · x[b, i·d + p, h])."""
    k, v = _float64(k), _float64(v)
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
            if np.shape(weights) != expected:
                raise ValueError(f"{name} must have shape [H, l] = {expected}, got "
                                 f"{np.shape(weights)}")
        key_weights, value_weights = _float64(key_weights), _float64(value_weights)
    return _pool_blocks(k, key_weights, cfg), _pool_blocks(v, value_weights, cfg)


def _pool_blocks(x, weights, cfg):
    # phi over every compressed block; weights None means the mean.
    batch, seq_len, num_kv_heads, head_dim = x.shape
    l, d = cfg.cmp_block, cfg.cmp_stride
    pooled = np.zeros((batch, num_compressed_blocks(seq_len, cfg), num_kv_heads, head_dim))
    for i in range(pooled.shape[1]):
        tokens = x[:, i * d:i * d + l]  # [B, l, H, D]: block i covers [i·d, i·d + l)
        pooled[:, i] = (tokens.mean(axis=1) if weights is None
                        else np.einsum("hp,bphd->bhd", weights, tokens))
    return pooled


def compressed_attention(q, kc, vc, cfg: NSAConfig, seq_len: int):
    """o_cmp[b, t, hq] = attn(q[b, t, hq], kc[visible, h], vc[visible, h]) with visible
    the blocks i with i·d + l − 1 <= t. q [B, T, Hq, Dk], kc [B, Nc, H, Dk],
    vc [B, Nc, H, Dv], T = seq_len. Returns o [B, T, Hq, Dv], lse [B, T, Hq]."""
    q, kc, vc = _float64(q), _float64(kc), _float64(vc)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_kv(kc, vc, "kc", "vc")
    _check_queries(q, kc, k_name="kc")
    _check_seq_len(seq_len)
    _check_length("q", q.shape[1], seq_len, "positions")
    _check_length("kc", kc.shape[1], num_compressed_blocks(seq_len, cfg), "compressed blocks")
    return _over_positions(seq_len, lambda t: _compressed_attention_at(q[:, t], kc, vc, t, cfg))


def compressed_probs(q, kc, lse, cfg: NSAConfig):
    """p_cmp[b, t, hq, i] = exp(s · q·kc[i] − lse): the probabilities of the compressed
    attention, 0 where block i is not visible (all-zero rows where none is).
    q [B, T, Hq, Dk], kc [B, Nc, H, Dk], lse [B, T, Hq] -> p_cmp [B, T, Hq, Nc]."""
    q, kc, lse = _float64(q), _float64(kc), _float64(lse)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_rank("kc", kc, "[B, Nc, H, Dk]")
    _check_queries(q, kc, k_name="kc")
    if lse.shape != q.shape[:3]:
        raise ValueError(f"lse must have shape [B, T, Hq] = {q.shape[:3]}, got {lse.shape}")
    _check_seq_len(q.shape[1])
    return _over_positions(q.shape[1],
                           lambda t: _compressed_probs_at(q[:, t], kc, lse[:, t], t, cfg))


def selection_scores(p_cmp, num_kv_heads: int, cfg: NSAConfig, seq_len: int):
    """score[b, t, h, j] = Σ over the G query heads hq of group h of p_slc[b, t, hq, j],
    p_slc = p_cmp mapped by cfg.score_mapping (selection_weights).
    p_cmp [B, T, Hq, Nc] -> score [B, T, H, Ns]."""
    p_cmp = _float64(p_cmp)
    _check_rank("p_cmp", p_cmp, "[B, T, Hq, Nc]")
    if num_kv_heads < 1 or p_cmp.shape[2] % num_kv_heads:
        raise ValueError(f"p_cmp has Hq={p_cmp.shape[2]} query heads, not a multiple of the "
                         f"H={num_kv_heads} KV heads")
    _check_length("p_cmp", p_cmp.shape[1], seq_len, "positions")
    _check_length("p_cmp", p_cmp.shape[3], num_compressed_blocks(seq_len, cfg),
                  "compressed blocks")
    return _selection_scores(p_cmp, num_kv_heads, cfg, seq_len)


def select_blocks(score, cfg: NSAConfig, seq_len: int):
    """Selected blocks I[b, t, h] (select_block_set for each query and KV head).
    score [B, T, H, Ns] -> indices int32 [B, T, H, n]. Order in each row: the selected
    block indices ascending, then -1 padding (when fewer than n blocks are visible)."""
    score = _float64(score)
    _check_rank("score", score, "[B, T, H, Ns]")
    _check_seq_len(seq_len)
    _check_length("score", score.shape[1], seq_len, "positions")
    _check_length("score", score.shape[3], num_selection_blocks(seq_len, cfg),
                  "selection blocks")
    return _over_positions(seq_len, lambda t: _select_blocks_at(score[:, t], t, cfg))


def selected_attention(q, k, v, indices, cfg: NSAConfig):
    """o_slc[b, t, hq] = attn(q[b, t, hq], k[S, h], v[S, h]), S the tokens s <= t of the
    blocks in indices[b, t, h] (-1 entries ignored). q [B, T, Hq, Dk], k [B, T, H, Dk],
    v [B, T, H, Dv], indices int [B, T, H, n]. Returns o [B, T, Hq, Dv], lse [B, T, Hq]."""
    q, k, v = _float64(q), _float64(k), _float64(v)
    indices = np.asarray(indices)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_kv(k, v)
    _check_queries(q, k)
    _check_seq_len(q.shape[1])
    _check_length("k", k.shape[1], q.shape[1], "positions")
    _check_rank("indices", indices, "[B, T, H, n]")
    if indices.shape[:3] != k.shape[:3]:
        raise ValueError(f"indices must have shape [B, T, H, n] with [B, T, H] = "
                         f"{k.shape[:3]}, got {indices.shape}")
    num_slc = num_selection_blocks(q.shape[1], cfg)
    if not np.issubdtype(indices.dtype, np.integer) or np.any(
            (indices < -1) | (indices >= num_slc)):
        raise ValueError(f"indices must be integers in [-1, Ns) = [-1, {num_slc})")
    return _over_positions(
        q.shape[1], lambda t: _selected_attention_at(q[:, t], k, v, indices[:, t], t, cfg))


def window_attention(q, k, v, cfg: NSAConfig):
    """o_win[b, t, hq] = attn(q[b, t, hq], k[a : t + 1, h], v[a : t + 1, h]),
    a = max(0, t − w + 1). Returns o [B, T, Hq, Dv], lse [B, T, Hq]."""
    q, k, v = _float64(q), _float64(k), _float64(v)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    _check_kv(k, v)
    _check_queries(q, k)
    _check_seq_len(q.shape[1])
    _check_length("k", k.shape[1], q.shape[1], "positions")
    return _over_positions(q.shape[1], lambda t: _window_attention_at(q[:, t], k, v, t, cfg))


def combine(o_cmp, o_slc, o_win, g):
    """o = g[..., 0]·o_cmp + g[..., 1]·o_slc + g[..., 2]·o_win (the page, Output).
    o_* [..., Dv] of one shape, g [..., 3] with the same leading shape."""
    o_cmp, o_slc, o_win, g = (_float64(x) for x in (o_cmp, o_slc, o_win, g))
    if not o_cmp.shape == o_slc.shape == o_win.shape:
        raise ValueError(f"branch outputs must have one shape, got {o_cmp.shape}, "
                         f"{o_slc.shape}, {o_win.shape}")
    _check_gates(g, o_cmp.shape[:-1])
    return g[..., 0:1] * o_cmp + g[..., 1:2] * o_slc + g[..., 2:3] * o_win


# --------------------------------------------------------------------------------------
# The whole attention
# --------------------------------------------------------------------------------------


def nsa_forward(q, k, v, g, cfg: NSAConfig, key_weights=None, value_weights=None,
                branch_kv=None) -> dict:
    """NSA over a whole sequence. q [B, T, Hq, Dk], k [B, T, H, Dk], v [B, T, H, Dv],
    g [B, T, Hq, 3] (activated gates for cmp, slc, win). key_weights, value_weights [H, l]
    for compression='weighted'. branch_kv: optional {"cmp": (k, v), "slc": (k, v),
    "win": (k, v)} giving a branch its own keys and values (the paper's per-branch
    projections); branches not named use the shared k, v (which may then be None).

    Returns a dict of float64 arrays: o, o_cmp, o_slc, o_win [B, T, Hq, Dv];
    lse_cmp, lse_slc, lse_win [B, T, Hq]; kc [B, Nc, H, Dk], vc [B, Nc, H, Dv];
    p_cmp [B, T, Hq, Nc]; score [B, T, H, Ns]; indices int32 [B, T, H, n]."""
    q, g = _float64(q), _float64(g)
    _check_rank("q", q, "[B, T, Hq, Dk]")
    branch_kv = _branch_operands(q, k, v, branch_kv)
    _check_length("q", q.shape[1], branch_kv["cmp"][0].shape[1], "positions")
    _check_gates(g, q.shape[:3])
    kc, vc = compress(*branch_kv["cmp"], cfg, key_weights, value_weights)
    result = _over_positions(q.shape[1],
                             lambda t: _nsa_at(q[:, t], g[:, t], t, branch_kv, kc, vc, cfg))
    return {**result, "kc": kc, "vc": vc}


def decode_step(q_new, k_cache, v_cache, g_new, cfg: NSAConfig, key_weights=None,
                value_weights=None, branch_kv=None) -> dict:
    """One new query at position t = T − 1 over caches of length T (the page, Decode),
    computed for that position alone. q_new [B, Hq, Dk], k_cache [B, T, H, Dk],
    v_cache [B, T, H, Dv] (the new token's k, v included), g_new [B, Hq, 3];
    key_weights, value_weights and branch_kv as in nsa_forward.

    Returns the keys of nsa_forward without the T axis: o, o_cmp, o_slc, o_win
    [B, Hq, Dv]; lse_cmp, lse_slc, lse_win [B, Hq]; kc, vc (the compressed cache);
    p_cmp [B, Hq, Nc]; score [B, H, Ns]; indices int32 [B, H, n]."""
    q_new, g_new = _float64(q_new), _float64(g_new)
    _check_rank("q_new", q_new, "[B, Hq, Dk]")
    branch_kv = _branch_operands(q_new, k_cache, v_cache, branch_kv, q_name="q_new")
    _check_gates(g_new, q_new.shape[:2])
    kc, vc = compress(*branch_kv["cmp"], cfg, key_weights, value_weights)
    last = branch_kv["cmp"][0].shape[1] - 1
    return {**_nsa_at(q_new, g_new, last, branch_kv, kc, vc, cfg), "kc": kc, "vc": vc}
