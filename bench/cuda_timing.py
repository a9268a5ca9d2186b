"""CUDA-event timing of one call, shared by the GPU-machine scripts in bench/."""

from __future__ import annotations


def event_seconds(torch, fn) -> float:
    """Seconds of one call of `fn`, by CUDA events around it on the current
    stream (the GPU time of the work it enqueues, not the launch overhead)."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3
