"""CUDA-event timing of one call, shared by the GPU-machine scripts in bench/."""

from __future__ import annotations

import statistics


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


def median_event_seconds(torch, fn, samples: int, warmup: int = 3) -> float:
    """Median of `samples` event_seconds of `fn` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    return statistics.median(event_seconds(torch, fn) for _ in range(samples))
