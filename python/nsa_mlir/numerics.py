"""The numerical check shared by the CPU tests: a compiled result (f32) against
the float64 reference (``nsa_mlir.reference``) computed from the same inputs.

* o: no NaN/Inf, ||o - ref|| / ||ref|| < 1e-5 (absolute norm when the
  reference is all zero), and every row (all leading indices) has
  max |o - ref| < 1e-4 * (1 + max |ref row|), so one wrong row is not averaged
  away;
* lse: -inf exactly where the reference's is, never NaN or +inf; on the finite
  entries max |lse - ref| < 1e-5 and ||lse - ref|| / ||ref|| < 1e-5.

Each check raises AssertionError naming the first offending place and returns
its error metrics.
"""

from __future__ import annotations

import numpy as np

O_REL_TOL = 1e-5  # ||o - ref|| / ||ref||
ROW_TOL = 1e-4  # per row: max |o - ref| < ROW_TOL * (1 + max |ref row|)
LSE_ABS_TOL = 1e-5  # finite lse entries, max |lse - ref|
LSE_REL_TOL = 1e-5  # finite lse entries, ||lse - ref|| / ||ref||


def _first(mask) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_o(o, ref_o, name: str = "o") -> dict:
    """Checks an output [..., Dv] against the reference; returns o_rel, row_ratio
    (worst row error over its bound) and row_abs."""
    o, ref_o = np.asarray(o), np.asarray(ref_o, np.float64)
    assert o.shape == ref_o.shape, f"{name} shape {o.shape} != reference {ref_o.shape}"
    bad = ~np.isfinite(o)
    if bad.any():
        first = _first(bad)
        raise AssertionError(f"{name} has {int(bad.sum())} NaN/Inf entries, first at "
                             f"{first}: {o[first]}")
    err = o.astype(np.float64) - ref_o
    ref_norm = np.linalg.norm(ref_o)
    # All-empty rows (e.g. compressed with T < l) give ref = 0: then absolute.
    rel = np.linalg.norm(err) / ref_norm if ref_norm > 0 else np.linalg.norm(err)
    row_err = np.abs(err).max(axis=-1, initial=0.0)
    row_bound = ROW_TOL * (1.0 + np.abs(ref_o).max(axis=-1, initial=0.0))
    row_ratio = row_err / row_bound
    metrics = dict(o_rel=float(rel), row_ratio=float(row_ratio.max(initial=0.0)),
                   row_abs=float(row_err.max(initial=0.0)))
    assert rel < O_REL_TOL, f"||{name} - ref|| / ||ref|| = {rel:.3e} >= {O_REL_TOL}"
    if (row_ratio >= 1).any():
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(row_ratio),
                                                       row_ratio.shape))
        raise AssertionError(
            f"{int((row_ratio >= 1).sum())} rows exceed max|err| < {ROW_TOL} * "
            f"(1 + max|ref|) in {name}; worst [b, t, hq] = {worst}: max|err| = "
            f"{row_err[worst]:.3e}, bound {row_bound[worst]:.3e}")
    return metrics


def check_lse(lse, ref_lse, name: str = "lse") -> dict:
    """Checks a log-sum-exp [B, T, Hq] against the reference; returns lse_abs and
    lse_rel over the finite entries."""
    lse, ref_lse = np.asarray(lse), np.asarray(ref_lse, np.float64)
    assert lse.shape == ref_lse.shape, (f"{name} shape {lse.shape} != reference "
                                        f"{ref_lse.shape}")
    bad = np.isnan(lse) | np.isposinf(lse)
    if bad.any():
        first = _first(bad)
        raise AssertionError(f"{name} has {int(bad.sum())} NaN/+inf entries, first at "
                             f"[b, t, hq] = {first}: {lse[first]}")
    ref_empty, out_empty = np.isneginf(ref_lse), np.isneginf(lse)
    if not np.array_equal(ref_empty, out_empty):
        diff = ref_empty != out_empty
        first = _first(diff)
        raise AssertionError(
            f"{name} -inf positions differ at {int(diff.sum())} rows, first at "
            f"[b, t, hq] = {first}: compiled {lse[first]}, reference {ref_lse[first]}")
    finite = ~ref_empty
    if not finite.any():
        return dict(lse_abs=0.0, lse_rel=0.0)
    diff = np.zeros(lse.shape)
    diff[finite] = np.abs(lse[finite].astype(np.float64) - ref_lse[finite])
    lse_abs = float(diff.max())
    ref_norm = np.linalg.norm(ref_lse[finite])
    lse_rel = float(np.linalg.norm(diff) / ref_norm) if ref_norm > 0 else lse_abs
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(diff), lse.shape))
    assert lse_abs < LSE_ABS_TOL, (
        f"{name} max |err| = {lse_abs:.3e} >= {LSE_ABS_TOL} at [b, t, hq] = {worst}: "
        f"compiled {lse[worst]}, reference {ref_lse[worst]}")
    assert lse_rel < LSE_REL_TOL, (
        f"||{name} - ref|| / ||ref|| = {lse_rel:.3e} >= {LSE_REL_TOL}")
    return dict(lse_abs=lse_abs, lse_rel=lse_rel)


def compare(o, lse, ref_o, ref_lse) -> dict:
    """Asserts that (o, lse) of a compiled branch match the reference; returns the
    error metrics of both checks."""
    metrics = check_o(o, ref_o)
    metrics.update(check_lse(lse, ref_lse))
    return metrics
