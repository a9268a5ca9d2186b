"""The ctypes binding of the runtime's C API (nsa_mlir.runtime) without a GPU.

libnsa_runtime.so needs libcuda.so.1 to load. Two stand-ins are used, each in a
subprocess (the dynamic loader binds libcuda once per process):
  * fake_libcuda.c (next to this file), compiled here: every driver call succeeds and
    launches are only counted, so loading a bundle, its manifest getters, output
    shapes, tensor checks and a run (through the runtime's real planning) work;
  * the CUDA toolkit's stub libcuda: loading a bundle must fail with the runtime's
    own message, raised as NsaRuntimeError.
Skipped where the runtime library is not built or no C compiler / cuda.h exists."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

from nsa_mlir import runtime  # noqa: E402

CUDA_HOME = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))
STUB = CUDA_HOME / "lib64" / "stubs" / "libcuda.so"


def _library():
    try:
        return runtime.find_library()
    except FileNotFoundError:
        return None


LIBRARY = _library()
pytestmark = pytest.mark.skipif(LIBRARY is None, reason="libnsa_runtime.so is not built")

MANIFEST = {
    "format": "nsa-bundle", "version": 1, "function": "nsa_test", "chip": "sm_90a",
    "cubin": "kernels.cubin", "ptx": "kernels.ptx", "symbols": ["B", "T"],
    "inputs": [{"name": "q", "dtype": "f32", "shape": ["B", "T", 4, 8]},
               {"name": "idx", "dtype": "i32", "shape": ["B", "T", 2, 3]}],
    "outputs": [{"name": "o", "dtype": "bf16", "shape": ["B", "T", 4, 8]},
                {"name": "lse", "dtype": "f32", "shape": ["B", "T", 4]},
                {"name": "kc", "dtype": "f16",
                 "shape": ["B", "max((T - 32) floordiv 16 + 1, 0)", 2, 8]}],
    "buffers": [{"name": "buf0", "dtype": "f32", "shape": ["B", "T", 4]}],
    "launches": [
        {"kernel": "k0", "grid": ["T ceildiv 64", "B", 1], "block": [128, 1, 1],
         "shared_memory_bytes": 0,
         "args": [{"kind": "memref", "tensor": "q"}, {"kind": "memref", "tensor": "buf0"},
                  {"kind": "index", "value": "T"}]},
        {"kernel": "k1", "grid": ["max((T - 32) floordiv 16 + 1, 0)", "B", 1],
         "block": [64, 1, 1], "shared_memory_bytes": 0,
         "args": [{"kind": "memref", "tensor": "buf0"}, {"kind": "memref", "tensor": "o"},
                  {"kind": "memref", "tensor": "lse"}, {"kind": "memref", "tensor": "kc"},
                  {"kind": "memref", "tensor": "idx"}, {"kind": "f32", "value": 0.5}]},
    ],
}


def make_bundle(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps(MANIFEST))
    (directory / "kernels.cubin").write_bytes(b"\x7fELF not really a cubin")
    (directory / "kernels.ptx").write_text("// not really PTX\n")
    return directory


def run_python(code: str, tmp_path: Path) -> dict:
    env = dict(os.environ, NSA_RUNTIME_LIB=str(LIBRARY),
               PYTHONPATH=str(ROOT / "python"))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fake_libcuda(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not (CUDA_HOME / "include" / "cuda.h").exists():
        pytest.skip("no C compiler or no cuda.h to build the fake libcuda")
    work = tmp_path_factory.mktemp("fakecuda")
    source = Path(__file__).with_name("fake_libcuda.c")
    sources = [str(source)]
    # Driver functions the runtime imports that the fake lacks (the runtime grows):
    # stubs that fail with CUDA_ERROR_NOT_SUPPORTED, so a test that needs one fails
    # naming it rather than the whole module not loading.
    nm = shutil.which("nm")
    if nm:
        needed = subprocess.run([nm, "-D", "--undefined-only", str(LIBRARY)],
                                capture_output=True, text=True).stdout.split()
        text = source.read_text()
        missing = sorted({s for s in needed if s.startswith("cu") and s.isidentifier()
                          and f" {s.split('_v')[0]}(" not in text})
        if missing:
            extra = work / "missing.c"
            extra.write_text("".join(f"int {name}(void) {{ return 801; }}\n"
                                     for name in missing))
            sources.append(str(extra))
            print(f"fake libcuda: stubs failing with CUDA_ERROR_NOT_SUPPORTED for {missing}")
    out = work / "libcuda.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1",
                    f"-I{CUDA_HOME / 'include'}", *sources, "-o", str(out)], check=True)
    return out


def test_binding_with_fake_driver(fake_libcuda, tmp_path):
    bundle_dir = make_bundle(tmp_path / "b.nsab")
    result = run_python(f"""
        import ctypes, json
        fake = ctypes.CDLL({str(fake_libcuda)!r}, mode=ctypes.RTLD_GLOBAL)
        from nsa_mlir import runtime as R
        lib = R.library()
        out = {{"api": lib.api_version, "dtypes": [lib.dtype_name(i) for i in range(6)],
               "sizes": [lib.dtype_size(i) for i in range(5)]}}
        b = R.load_bundle({str(bundle_dir)!r})
        out["function"], out["chip"] = b.function, b.chip
        out["inputs"] = [[t.name, t.dtype, t.rank] for t in b.inputs]
        out["outputs"] = [[t.name, t.dtype, t.rank] for t in b.outputs]
        out["shapes17"] = b.output_shapes([("f32", (2, 17, 4, 8)), ("i32", (2, 17, 2, 3))])
        out["shapes100"] = b.output_shapes([("f32", (2, 100, 4, 8)), ("i32", (2, 100, 2, 3))])
        try:
            b.output_shapes([("f32", (2, 100, 4, 8)), ("i32", (2, 99, 2, 3))])
        except R.NsaRuntimeError as e:
            out["shape_error"] = [e.status_name, e.message]
        try:
            b.output_shapes([("f16", (2, 100, 4, 8)), ("i32", (2, 100, 2, 3))])
        except R.NsaRuntimeError as e:
            out["dtype_error"] = [e.status_name, e.message]
        def raw(shapes, base):
            return [R.RawTensor(base + (i << 32), d, s) for i, (d, s) in enumerate(shapes)]
        for T in (17, 100):
            ins = raw([("f32", (2, T, 4, 8)), ("i32", (2, T, 2, 3))], 1 << 40)
            outs = raw(b.output_shapes(ins), 1 << 44)
            before = fake.fake_cuda_launches()
            b.run(ins, outs, stream=0)
            out[f"launches{{T}}"] = fake.fake_cuda_launches() - before
        out["last_grid"] = [fake.fake_cuda_last_grid(i) for i in range(3)]
        out["scratch"] = b.scratch_bytes
        ins = raw([("f32", (2, 100, 4, 8)), ("i32", (2, 100, 2, 3))], 1 << 40)
        outs = raw(b.output_shapes(ins), 1 << 44)
        outs[1] = R.RawTensor(ins[0].data, "f32", (2, 100, 4))  # overlaps input q
        try:
            b.run(ins, outs)
        except R.NsaRuntimeError as e:
            out["overlap_error"] = [e.status_name, e.message]
        try:
            b.run(ins[:1], outs)
        except R.NsaRuntimeError as e:
            out["count_error"] = [e.status_name, e.message]
        repr(b)
        b.close()
        b.close()  # twice is fine
        out["unloaded"] = fake.fake_cuda_modules_unloaded()
        try:
            b.output_shapes([])
        except ValueError as e:
            out["closed_error"] = str(e)
        try:
            R.load_bundle({str(tmp_path / "missing")!r})
        except R.NsaRuntimeError as e:
            out["load_error"] = [e.status_name, e.status, e.message]
        with R.load_bundle({str(bundle_dir)!r}, prefer_ptx=True, sync_each_launch=True) as b2:
            out["ctx_inputs"] = len(b2.inputs)
        print(json.dumps(out))
    """, tmp_path)
    assert result["api"] == 1
    assert result["dtypes"] == ["f32", "f16", "bf16", "i32", "i64", None]
    assert result["sizes"] == [4, 2, 2, 4, 8]
    assert (result["function"], result["chip"]) == ("nsa_test", "sm_90a")
    assert result["inputs"] == [["q", "f32", 4], ["idx", "i32", 4]]
    assert result["outputs"] == [["o", "bf16", 4], ["lse", "f32", 3], ["kc", "f16", 4]]
    assert result["shapes17"] == [["bf16", [2, 17, 4, 8]], ["f32", [2, 17, 4]],
                                  ["f16", [2, 0, 2, 8]]]
    assert result["shapes100"][2] == ["f16", [2, 5, 2, 8]]
    assert result["shape_error"][0] == "NSA_ERROR_TENSOR"
    assert "'idx'" in result["shape_error"][1] and "99" in result["shape_error"][1]
    assert result["dtype_error"][0] == "NSA_ERROR_TENSOR" and "f16" in result["dtype_error"][1]
    # T = 17: the second launch's grid is empty and skipped; T = 100: both run.
    assert (result["launches17"], result["launches100"]) == (1, 2)
    assert result["last_grid"] == [5, 2, 1]
    assert result["scratch"] >= 2 * 100 * 4 * 4
    assert result["overlap_error"][0] == "NSA_ERROR_TENSOR"
    assert "overlap" in result["overlap_error"][1]
    assert result["count_error"][0] == "NSA_ERROR_TENSOR"
    assert result["unloaded"] == 1
    assert "closed" in result["closed_error"]
    assert result["load_error"][:2] == ["NSA_ERROR_BUNDLE", 2]
    assert "missing" in result["load_error"][2]
    assert result["ctx_inputs"] == 2


@pytest.mark.skipif(not STUB.exists(), reason="no CUDA toolkit stub libcuda")
def test_stub_driver_error_is_raised_with_the_runtimes_message(tmp_path):
    bundle_dir = make_bundle(tmp_path / "b.nsab")
    result = run_python(f"""
        import ctypes, json
        ctypes.CDLL({str(STUB)!r}, mode=ctypes.RTLD_GLOBAL)
        from nsa_mlir import runtime as R
        try:
            R.load_bundle({str(bundle_dir)!r})
            print(json.dumps({{"loaded": True}}))
        except R.NsaRuntimeError as e:
            print(json.dumps({{"status": e.status_name, "message": str(e)}}))
    """, tmp_path)
    assert result["status"] == "NSA_ERROR_CUDA"
    assert "CUDA_ERROR_STUB_LIBRARY" in result["message"]
    assert "nsa_bundle_load" in result["message"]


def test_find_library_prefers_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NSA_RUNTIME_LIB", str(LIBRARY))
    assert runtime.find_library() == LIBRARY
    monkeypatch.setenv("NSA_RUNTIME_LIB", str(tmp_path / "nope.so"))
    with pytest.raises(FileNotFoundError, match="NSA_RUNTIME_LIB"):
        runtime.find_library()


def test_tensor_struct_layout():
    import ctypes
    assert ctypes.sizeof(runtime.NsaTensor) == 144
    assert runtime.NsaTensor.dtype.offset == 8 and runtime.NsaTensor.rank.offset == 12
    assert runtime.NsaTensor.shape.offset == 16 and runtime.NsaTensor.strides.offset == 80
    t = runtime.NsaTensor()
    runtime._fill(t, ("bf16", (2, 3, 4)), "x")
    assert (t.dtype, t.rank) == (2, 3)
    assert list(t.strides)[:3] == [12, 4, 1] and not t.data
    with pytest.raises(ValueError, match="unknown dtype"):
        runtime._fill(t, ("f64", (2,)), "x")
    with pytest.raises(TypeError):
        runtime._fill(t, [1, 2], "x")


def test_cpu_torch_tensors_are_refused():
    torch = pytest.importorskip("torch")
    t = runtime.NsaTensor()
    with pytest.raises(ValueError, match="not on a CUDA device"):
        runtime._fill(t, torch.zeros(2, 3), "input 0")
    with pytest.raises(TypeError, match="no runtime equivalent"):
        runtime.torch_dtype_name(torch.float64)
