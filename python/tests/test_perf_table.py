"""scripts/perf_table.py: the gather-roof section's arithmetic on a small result."""

import pytest
from conftest import load_script

from nsa_mlir import perfmodel as pm


@pytest.fixture(scope="module")
def perf_table():
    return load_script("scripts/perf_table.py")


def test_gather_roof_section(perf_table):
    shape = dict(B=1, Hq=8, H=2, Dk=16, Dv=16, dtype="bf16")
    params = dict(cmp_block=32, cmp_stride=16, slc_block=64, top_n=4, window=64)
    T = 1024
    prob = pm.Problem(B=1, T=T, Hq=8, H=2, Dk=16, Dv=16, cmp_block=32, cmp_stride=16,
                      slc_block=64, top_n=4, window=64)
    selected_bytes = pm.staged_bytes("selected", prob, 16)  # 64 rows / G = 4 -> 16
    gather = {"id": "roof.selected_gather", "impl": "roof", "T": T, "config": "paper",
              "status": "derived", "median_ms": 1.0, "variant": "ldg",
              "work": {"flops": 0, "bytes": selected_bytes},
              "roofline": {"tbps": selected_bytes / 1e-3 / 1e12}}
    ours = {"id": "ours.selected", "impl": "ours", "T": T, "config": "paper",
            "status": "ok", "median_ms": 2.0, "roofline": {}}
    data = {"meta": {"device": "test", "date": "today", "shape": shape,
                     "configs": {"paper": params}, "peak_tflops": 1, "peak_tbps": 1},
            "measurements": [gather, ours]}
    text = perf_table.render(data)
    section = text[text.index("### Bytes through L2"):]
    row = next(line for line in section.splitlines() if "selected attention" in line)
    # Twice the gather roof's time over the same bytes: 50% of it.
    assert row.rstrip().endswith("| 50.0 |"), row
    # Kernels without a measurement still get their staged bytes, no rate.
    window = next(line for line in section.splitlines() if "window attention" in line)
    assert f"{pm.staged_bytes('window', prob, 16):.4e}" in window
