"""CUDA-event timing of one call, shared by the GPU-machine scripts in bench/."""

from __future__ import annotations


def event_seconds(torch, fn) -> float:
    """Seconds of one call of `fn`: the GPU time between CUDA events recorded
    on the current stream before and after it (which includes any time the
    GPU waits while the host is still enqueueing `fn`'s work)."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3
