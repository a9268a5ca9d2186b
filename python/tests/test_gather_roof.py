"""bench/gather_roof.py: its copy-only kernels compile, and each variant issues the
loads it is named for (nvcc to PTX; skipped where the CUDA toolkit is absent)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def gather_roof():
    return load_script("bench/gather_roof.py")


def ptx_of(module, variant, tmp_path):
    nvcc = shutil.which("nvcc") or (
        "/usr/local/cuda/bin/nvcc" if Path("/usr/local/cuda/bin/nvcc").exists() else None)
    if nvcc is None:
        pytest.skip("nvcc not found")
    name, stages, bypass = module.VARIANTS[variant]
    src = tmp_path / "gather.cu"
    src.write_text(module.SOURCE)
    out = tmp_path / f"{variant}.ptx"
    subprocess.run([nvcc, "-arch=sm_90a", "-std=c++17", "-ptx", "-DDIM=128",
                    f"-DCHUNK={module.CHUNK}", f"-DWARPS={module.WARPS}",
                    f"-DSTAGES={stages}", f"-DBYPASS_L1={int(bypass)}", str(src),
                    "-o", str(out)], check=True, capture_output=True)
    ptx = out.read_text()
    body = ptx[ptx.index(f".entry {name}"):]
    return body[:body.find(".entry", 1)] if body.find(".entry", 1) > 0 else body


@pytest.mark.parametrize("variant,expect,absent", [
    ("cp_async_ca_1", r"cp\.async\.ca\.shared\.global", r"cp\.async\.cg|wait_group 1"),
    ("cp_async_ca_2", r"cp\.async\.wait_group 1", r"cp\.async\.cg"),
    ("cp_async_cg_2", r"cp\.async\.cg\.shared\.global", r"cp\.async\.ca"),
    ("ldg", r"ld\.global\.nc\.v4|ld\.global\.v4", r"cp\.async"),
])
def test_variant_issues_its_loads(gather_roof, variant, expect, absent, tmp_path):
    body = ptx_of(gather_roof, variant, tmp_path)
    assert re.search(expect, body), f"{variant}: no {expect}"
    assert not re.search(absent, body), f"{variant}: unexpected {absent}"
