"""Calls functions of a compiled module on NumPy arrays through MLIR's C
interface (``llvm.emit_c_interface``): each memref is passed as a pointer to
its descriptor, and the results come back in a struct of descriptors whose
buffers the caller owns."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Sequence

import numpy as np

_LIBC = ctypes.CDLL(None)
_LIBC.free.argtypes = [ctypes.c_void_p]

_CTYPE_OF = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
             np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64}


def _descriptor_type(rank: int):
    class MemRefDescriptor(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]
    return MemRefDescriptor


def _descriptor_of(array: np.ndarray):
    descriptor = _descriptor_type(array.ndim)()
    pointer = array.ctypes.data_as(ctypes.c_void_p)
    descriptor.allocated = pointer
    descriptor.aligned = pointer
    descriptor.offset = 0
    descriptor.sizes[:] = array.shape
    descriptor.strides[:] = [s // array.itemsize for s in array.strides]
    return descriptor


def _array_of(descriptor, dtype: np.dtype) -> np.ndarray:
    """Copies a returned memref into a NumPy array and frees its buffer."""
    rank = len(descriptor.sizes)
    shape = tuple(descriptor.sizes[:rank])
    strides = tuple(s * dtype.itemsize for s in descriptor.strides[:rank])
    if int(np.prod(shape)) == 0:
        result = np.zeros(shape, dtype)
    else:
        base = ctypes.cast(descriptor.aligned, ctypes.POINTER(_CTYPE_OF[dtype]))
        span = 1 + sum((n - 1) * s for n, s in zip(shape, descriptor.strides[:rank]))
        flat = np.ctypeslib.as_array(base, shape=(descriptor.offset + span,))
        result = np.lib.stride_tricks.as_strided(
            flat[descriptor.offset:], shape=shape, strides=strides).copy()
    _LIBC.free(descriptor.allocated)
    return result


class CompiledModule:
    """A shared library made by ``compiler.compile_to_shared_library``."""

    def __init__(self, library: Path):
        self._library = ctypes.CDLL(str(library))

    def call(self, name: str, inputs: Sequence[np.ndarray],
             results: Sequence[tuple[int, np.dtype]]) -> list[np.ndarray]:
        """Calls ``name`` on ``inputs``; ``results`` gives each result's rank
        and dtype (the function signature's)."""
        inputs = [np.ascontiguousarray(a) for a in inputs]
        for array in inputs:
            if array.dtype not in _CTYPE_OF:
                raise TypeError(f"unsupported input dtype {array.dtype}")
        descriptor_types = [_descriptor_type(rank) for rank, _ in results]

        class Results(ctypes.Structure):
            _fields_ = [(f"r{i}", t) for i, t in enumerate(descriptor_types)]

        output = Results()
        arguments = [ctypes.byref(output)] + [ctypes.byref(_descriptor_of(a))
                                              for a in inputs]
        function = getattr(self._library, f"_mlir_ciface_{name}")
        function.restype = None
        function(*arguments)
        return [_array_of(getattr(output, f"r{i}"), np.dtype(dtype))
                for i, (_, dtype) in enumerate(results)]
