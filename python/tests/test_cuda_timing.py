"""bench/cuda_timing.py with a stand-in for torch.cuda (no GPU needed)."""

from types import SimpleNamespace

from conftest import load_script


def test_median_event_seconds_warms_up_then_takes_the_median():
    timing = load_script("bench/cuda_timing.py")
    clock = {"now": 0.0}
    durations = iter([5.0, 5.0, 5.0, 0.3, 0.1, 0.2])  # 3 warm-up calls, 3 samples
    calls = []

    class Event:
        def __init__(self, enable_timing):
            assert enable_timing

        def record(self):
            self.at = clock["now"]

        def synchronize(self):
            pass

        def elapsed_time(self, end):
            return (end.at - self.at) * 1e3  # ms, as torch reports

    def fn():
        calls.append(1)
        clock["now"] += next(durations)

    torch = SimpleNamespace(cuda=SimpleNamespace(Event=Event, synchronize=lambda: None))
    seconds = timing.median_event_seconds(torch, fn, samples=3)
    assert len(calls) == 6
    assert abs(seconds - 0.2) < 1e-12
