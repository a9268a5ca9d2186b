"""ctypes binding of the kernel-bundle runtime's C API (include/nsa/Runtime/nsa_runtime.h,
docs/runtime.md): load a bundle, inspect its inputs and outputs, compute output
shapes for given input shapes, and run it on PyTorch CUDA tensors on the current
stream.

    from nsa_mlir import runtime
    bundle = runtime.load_bundle(".bundles/check/window-paper-hq8-h2-dk64-dv64-f32")
    outs = bundle.allocate_outputs([q, k, v], fill=float("nan"))
    bundle.run([q, k, v], outs)          # queued on torch.cuda.current_stream()
    torch.cuda.synchronize()

Every failing call raises ``NsaRuntimeError`` with the runtime's own message
(``nsa_last_error()``) and status. The library is found through the environment
variable NSA_RUNTIME_LIB, else in the usual build directories of the checkout
(build-rt/lib, build/lib), else by the dynamic linker's search
(``ctypes.util.find_library("nsa_runtime")``).

torch is imported only when tensors are passed; loading a bundle and computing
shapes need no torch (loading does need a CUDA driver: with the toolkit's stub
libcuda, as on the build machines, ``load_bundle`` raises the runtime's
CUDA_ERROR_STUB_LIBRARY message).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MAX_RANK = 8
API_VERSION = 1

# nsa_dtype codes and element sizes.
DTYPES = {"f32": 0, "f16": 1, "bf16": 2, "i32": 3, "i64": 4}
DTYPE_NAMES = {code: name for name, code in DTYPES.items()}
DTYPE_SIZES = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i64": 8}

# nsa_status codes.
STATUS_NAMES = {
    0: "NSA_OK",
    1: "NSA_ERROR_INVALID_ARGUMENT",
    2: "NSA_ERROR_BUNDLE",
    3: "NSA_ERROR_TENSOR",
    4: "NSA_ERROR_CUDA",
    5: "NSA_ERROR_INTERNAL",
}

LOAD_PREFER_PTX = 1
LOAD_SYNC_EACH_LAUNCH = 2

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY_CANDIDATES = (
    "build-rt/lib/libnsa_runtime.so",
    "build/lib/libnsa_runtime.so",
    "build-rt/lib/libnsa_runtime.so.1",
    "build/lib/libnsa_runtime.so.1",
)


class NsaRuntimeError(RuntimeError):
    """A failed runtime call: .status (int), .status_name, .function and the
    runtime's message."""

    def __init__(self, function: str, status: int, message: str):
        self.function = function
        self.status = status
        self.status_name = STATUS_NAMES.get(status, f"status {status}")
        self.message = message
        super().__init__(f"{function}: {self.status_name}: {message}")


class NsaTensor(ctypes.Structure):
    """struct nsa_tensor (144 bytes on 64-bit Linux)."""

    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * MAX_RANK), ("strides", ctypes.c_int64 * MAX_RANK)]


assert ctypes.sizeof(NsaTensor) == 144, "struct nsa_tensor layout changed"


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a bundle as its manifest declares it."""
    name: str
    dtype: str
    rank: int


@dataclass(frozen=True)
class RawTensor:
    """A device tensor given by its pointer, for callers without torch: data (int
    device pointer), dtype ("f32", ...), shape; contiguous row-major."""
    data: int
    dtype: str
    shape: tuple


# --------------------------------------------------------------------------------------
# The library
# --------------------------------------------------------------------------------------


def find_library(explicit: str | os.PathLike | None = None) -> Path:
    """The path of libnsa_runtime.so: `explicit`, else $NSA_RUNTIME_LIB, else the
    checkout's build-rt/lib or build/lib (relative to the current directory first,
    then to the repository), else the dynamic linker's search."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("NSA_RUNTIME_LIB")
    if env:
        path = Path(env)
        if not path.exists():
            raise FileNotFoundError(f"NSA_RUNTIME_LIB={env} does not exist")
        return path
    tried = []
    for base in (Path.cwd(), REPO_ROOT):
        for rel in LIBRARY_CANDIDATES:
            path = base / rel
            tried.append(str(path))
            if path.exists():
                return path
    found = ctypes.util.find_library("nsa_runtime")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "libnsa_runtime.so not found: set NSA_RUNTIME_LIB or build the runtime "
        "(cmake -S lib/Runtime -B build-rt -G Ninja && ninja -C build-rt); tried "
        + ", ".join(tried))


class Library:
    """The loaded libnsa_runtime.so with typed entry points."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = find_library(path)
        try:
            self.lib = ctypes.CDLL(str(self.path))
        except OSError as error:
            raise OSError(f"cannot load {self.path}: {error} (libnsa_runtime.so needs the "
                          "CUDA driver's libcuda.so.1 on the loader's path)") from error
        self._declare()
        version = self.lib.nsa_runtime_api_version()
        if version != API_VERSION:
            raise NsaRuntimeError("nsa_runtime_api_version", 0,
                                  f"{self.path} has C API version {version}; this binding "
                                  f"is for version {API_VERSION}")
        self.api_version = version

    def _declare(self) -> None:
        lib = self.lib
        c_int, c_char_p, c_void_p = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p
        tensors = ctypes.POINTER(NsaTensor)
        signatures = {
            "nsa_bundle_load": (c_int, [c_char_p, ctypes.POINTER(c_void_p)]),
            "nsa_bundle_load_flags": (c_int, [c_char_p, ctypes.c_uint,
                                              ctypes.POINTER(c_void_p)]),
            "nsa_bundle_free": (None, [c_void_p]),
            "nsa_bundle_num_inputs": (c_int, [c_void_p]),
            "nsa_bundle_num_outputs": (c_int, [c_void_p]),
            "nsa_bundle_input_name": (c_char_p, [c_void_p, c_int]),
            "nsa_bundle_output_name": (c_char_p, [c_void_p, c_int]),
            "nsa_bundle_input_dtype": (c_int, [c_void_p, c_int]),
            "nsa_bundle_output_dtype": (c_int, [c_void_p, c_int]),
            "nsa_bundle_input_rank": (c_int, [c_void_p, c_int]),
            "nsa_bundle_output_rank": (c_int, [c_void_p, c_int]),
            "nsa_bundle_function": (c_char_p, [c_void_p]),
            "nsa_bundle_chip": (c_char_p, [c_void_p]),
            "nsa_bundle_scratch_bytes": (ctypes.c_int64, [c_void_p]),
            "nsa_bundle_output_shapes": (c_int, [c_void_p, tensors, c_int, tensors, c_int]),
            "nsa_bundle_run": (c_int, [c_void_p, tensors, c_int, tensors, c_int, c_void_p]),
            "nsa_tensor_init": (c_int, [tensors, c_void_p, c_int, c_int,
                                        ctypes.POINTER(ctypes.c_int64)]),
            "nsa_dtype_name": (c_char_p, [c_int]),
            "nsa_dtype_size": (c_int, [c_int]),
            "nsa_last_error": (c_char_p, []),
            "nsa_runtime_api_version": (c_int, []),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes

    def last_error(self) -> str:
        message = self.lib.nsa_last_error()
        return message.decode(errors="replace") if message else ""

    def check(self, function: str, status: int) -> None:
        if status != 0:
            raise NsaRuntimeError(function, status, self.last_error())

    def dtype_name(self, code: int) -> str | None:
        name = self.lib.nsa_dtype_name(code)
        return name.decode() if name else None

    def dtype_size(self, code: int) -> int:
        return self.lib.nsa_dtype_size(code)

    def load(self, directory: str | os.PathLike, prefer_ptx: bool = False,
             sync_each_launch: bool = False) -> "Bundle":
        return Bundle(self, directory, prefer_ptx=prefer_ptx,
                      sync_each_launch=sync_each_launch)


_LIBRARY: Library | None = None
_LIBRARY_LOCK = threading.Lock()


def library(path: str | os.PathLike | None = None) -> Library:
    """The process-wide Library (loaded on first use; `path` only matters then)."""
    global _LIBRARY
    with _LIBRARY_LOCK:
        if _LIBRARY is None:
            _LIBRARY = Library(path)
        return _LIBRARY


def load_bundle(directory: str | os.PathLike, prefer_ptx: bool = False,
                sync_each_launch: bool = False) -> "Bundle":
    """Loads a bundle directory with the process-wide library."""
    return library().load(directory, prefer_ptx=prefer_ptx, sync_each_launch=sync_each_launch)


# --------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------


def _torch_dtypes() -> dict:
    """Runtime dtype name -> torch dtype (torch imported on first use)."""
    import torch
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
            "i32": torch.int32, "i64": torch.int64}


def torch_dtype(name: str):
    """The torch dtype of a runtime dtype name."""
    return _torch_dtypes()[name]


def torch_dtype_name(dtype) -> str:
    """The runtime dtype name of a torch dtype."""
    for name, candidate in _torch_dtypes().items():
        if candidate == dtype:
            return name
    raise TypeError(f"dtype {dtype} has no runtime equivalent (expected one of "
                    f"{', '.join(map(str, _torch_dtypes().values()))})")


def _describe(tensor: NsaTensor) -> tuple:
    return tuple(tensor.shape[d] for d in range(tensor.rank))


def _fill(target: NsaTensor, x, role: str) -> None:
    """Fills an nsa_tensor from a torch tensor, a RawTensor, or (for shape queries) a
    (dtype name, shape) pair."""
    if isinstance(x, RawTensor):
        data, dtype, shape, strides = x.data, x.dtype, tuple(x.shape), None
    elif isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str):
        data, dtype, shape, strides = None, x[0], tuple(x[1]), None
    elif hasattr(x, "data_ptr") and hasattr(x, "stride"):
        if getattr(x, "device", None) is not None and x.device.type != "cuda":
            raise ValueError(f"{role}: a tensor on {x.device}, not on a CUDA device")
        data, dtype, shape, strides = x.data_ptr(), torch_dtype_name(x.dtype), tuple(
            x.shape), tuple(x.stride())
    else:
        raise TypeError(f"{role}: expected a torch tensor, a RawTensor or (dtype, shape), "
                        f"got {type(x).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"{role}: unknown dtype {dtype!r}")
    if len(shape) > MAX_RANK:
        raise ValueError(f"{role}: rank {len(shape)} exceeds {MAX_RANK}")
    target.data = data or None
    target.dtype = DTYPES[dtype]
    target.rank = len(shape)
    stride = 1
    row_major = [0] * len(shape)
    for d in range(len(shape) - 1, -1, -1):
        row_major[d] = stride
        stride *= max(int(shape[d]), 1)
    for d in range(len(shape)):
        target.shape[d] = int(shape[d])
        target.strides[d] = int(strides[d]) if strides is not None else row_major[d]


def _array(items, role: str):
    array = (NsaTensor * max(len(items), 1))()
    for i, x in enumerate(items):
        _fill(array[i], x, f"{role} {i}")
    return array


# --------------------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------------------


class Bundle:
    """A loaded kernel bundle. Use as a context manager or call close() (the
    destructor frees it too); close() waits for the bundle's last run."""

    def __init__(self, lib: Library, directory: str | os.PathLike, prefer_ptx: bool = False,
                 sync_each_launch: bool = False):
        self._lib = lib
        self.path = Path(directory)
        self._handle = ctypes.c_void_p()
        flags = (LOAD_PREFER_PTX if prefer_ptx else 0) | (
            LOAD_SYNC_EACH_LAUNCH if sync_each_launch else 0)
        lib.check(f"nsa_bundle_load({str(self.path)!r})",
                  lib.lib.nsa_bundle_load_flags(os.fsencode(str(self.path)), flags,
                                                ctypes.byref(self._handle)))
        c = lib.lib
        h = self._handle
        self.function = (c.nsa_bundle_function(h) or b"").decode()
        self.chip = (c.nsa_bundle_chip(h) or b"").decode()
        self.inputs = [TensorInfo(c.nsa_bundle_input_name(h, i).decode(),
                                  DTYPE_NAMES[c.nsa_bundle_input_dtype(h, i)],
                                  c.nsa_bundle_input_rank(h, i))
                       for i in range(c.nsa_bundle_num_inputs(h))]
        self.outputs = [TensorInfo(c.nsa_bundle_output_name(h, i).decode(),
                                   DTYPE_NAMES[c.nsa_bundle_output_dtype(h, i)],
                                   c.nsa_bundle_output_rank(h, i))
                        for i in range(c.nsa_bundle_num_outputs(h))]

    # -- lifetime ------------------------------------------------------------------

    @property
    def handle(self) -> ctypes.c_void_p:
        if not self._handle:
            raise ValueError(f"bundle {self.path} is closed")
        return self._handle

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.lib.nsa_bundle_free(self._handle)
            self._handle = ctypes.c_void_p()

    def __enter__(self) -> "Bundle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}: {t.dtype}" for t in self.inputs)
        outs = ", ".join(f"{t.name}: {t.dtype}" for t in self.outputs)
        return f"<Bundle {self.path.name} {self.function}({ins}) -> ({outs})>"

    @property
    def scratch_bytes(self) -> int:
        return int(self._lib.lib.nsa_bundle_scratch_bytes(self.handle))

    # -- shapes --------------------------------------------------------------------

    def output_shapes(self, inputs: Sequence) -> list[tuple[str, tuple]]:
        """(dtype name, shape) of every output for these inputs: torch tensors,
        RawTensors, or (dtype name, shape) pairs (no data needed). Checks the inputs'
        dtypes, ranks and extents against the manifest; no CUDA call."""
        ins = _array(list(inputs), "input")
        n_out = len(self.outputs)
        outs = (NsaTensor * max(n_out, 1))()
        self._lib.check(f"nsa_bundle_output_shapes({self.path.name})",
                        self._lib.lib.nsa_bundle_output_shapes(self.handle, ins, len(inputs),
                                                               outs, n_out))
        return [(DTYPE_NAMES[outs[i].dtype], _describe(outs[i])) for i in range(n_out)]

    def allocate_outputs(self, inputs: Sequence, fill=None, int_fill: int | None = None,
                         device=None) -> list:
        """New contiguous torch tensors for the outputs, on the inputs' device (or
        `device`). fill is written into floating-point outputs (NaN catches unwritten
        elements), int_fill into integer ones; None leaves them uninitialized."""
        import torch
        if device is None:
            device = next((x.device for x in inputs if hasattr(x, "device")), "cuda")
        outs = []
        for dtype, shape in self.output_shapes(inputs):
            tensor = torch.empty(shape, dtype=torch_dtype(dtype), device=device)
            value = fill if tensor.is_floating_point() else int_fill
            if value is not None:
                tensor.fill_(value)
            outs.append(tensor)
        return outs

    # -- running -------------------------------------------------------------------

    def run(self, inputs: Sequence, outputs: Sequence, stream=None) -> None:
        """Queues the bundle's kernels on `stream` (a torch.cuda.Stream, a raw
        CUstream handle as int, or None for torch's current stream; with no torch,
        None is the legacy default stream). Returns once queued; kernel faults surface
        at the next synchronization."""
        ins = _array(list(inputs), "input")
        outs = _array(list(outputs), "output")
        handle = _stream_handle(stream, inputs, outputs)
        self._lib.check(f"nsa_bundle_run({self.path.name})",
                        self._lib.lib.nsa_bundle_run(self.handle, ins, len(inputs), outs,
                                                     len(outputs), handle))

    def __call__(self, *inputs, fill=None, int_fill=None, stream=None) -> list:
        """Allocates the outputs, runs, and returns them (not synchronized)."""
        outs = self.allocate_outputs(inputs, fill=fill, int_fill=int_fill)
        self.run(inputs, outs, stream=stream)
        return outs


def _stream_handle(stream, inputs, outputs):
    if isinstance(stream, int):
        return ctypes.c_void_p(stream)
    if stream is not None:
        return ctypes.c_void_p(stream.cuda_stream)
    if any(hasattr(x, "data_ptr") for x in list(inputs) + list(outputs)):
        import torch
        return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    return None
