"""Drives the NSA-MLIR compiler from Python: IR text for NSA ops, and
compilation of a module to a shared library for the CPU.

The tools are found through environment variables, else in the usual places:
``NSA_OPT`` (default ``<repo>/build/bin/nsa-opt``), ``LLVM_BINDIR`` and
``LLVM_LIBDIR`` (default: ``llvm-config-22 --bindir`` / ``--libdir``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

from .reference import NSAConfig

REPO_ROOT = Path(__file__).resolve().parents[2]

# The #nsa.config parameter of each NSAConfig field (same names).
_CONFIG_DEFAULTS = NSAConfig()


class CompilerError(RuntimeError):
    """A compiler step failed; the message holds the tool's diagnostics."""


def config_attr(cfg: NSAConfig) -> str:
    """The ``#nsa.config<...>`` attribute for ``cfg`` (defaults elided)."""
    params = []
    for field in fields(NSAConfig):
        value = getattr(cfg, field.name)
        if value == getattr(_CONFIG_DEFAULTS, field.name):
            continue
        params.append(f"{field.name} = {float(value)!r}" if field.name == "scale"
                      else f"{field.name} = {value}")
    return f"#nsa.config<{', '.join(params)}>"


def tensor_type(shape, element_type: str) -> str:
    """``tensor<...>`` with ``None`` for dynamic extents."""
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{element_type}>"


def nsa_opt_path() -> Path:
    return Path(os.environ.get("NSA_OPT", REPO_ROOT / "build" / "bin" / "nsa-opt"))


@lru_cache(maxsize=None)
def _llvm_dir(kind: str) -> Path:
    env = os.environ.get(f"LLVM_{kind.upper()}")
    if env:
        return Path(env)
    config = shutil.which("llvm-config-22")
    if config:
        return Path(subprocess.check_output([config, f"--{kind}"], text=True).strip())
    return Path(f"/usr/lib/llvm-22/{'bin' if kind == 'bindir' else 'lib'}")


def compiler_available() -> bool:
    return nsa_opt_path().is_file() and (_llvm_dir("bindir") / "llc").is_file()


def _run(command, what: str, input_text: str | None = None) -> str:
    result = subprocess.run([str(c) for c in command], input=input_text,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise CompilerError(f"{what} failed ({' '.join(map(str, command))}):\n"
                            f"{result.stderr}")
    return result.stdout


@lru_cache(maxsize=None)
def _cache_dir() -> Path:
    """This process's compilation cache, made on first use (not on import)."""
    return Path(tempfile.mkdtemp(prefix="nsa-mlir-cpu-"))


def cpu_pipeline(tile: bool = True, fuse_gqa_group: bool = True) -> str:
    """The ``nsa-to-cpu`` pipeline string: tiled (online softmax over KV tiles,
    GQA-fused unless ``fuse_gqa_group`` is false) or, with ``tile=False``, the
    untiled path (branch attentions lowered densely from their definitions;
    ``fuse_gqa_group`` does not apply)."""
    if not tile:
        return "nsa-to-cpu=tile=0"
    return "nsa-to-cpu" if fuse_gqa_group else "nsa-to-cpu=fuse-gqa-group=0"


def compile_to_shared_library(module_text: str, pipeline: str = "nsa-to-cpu") -> Path:
    """Compiles ``module_text`` with ``nsa-opt --<pipeline>`` down to a shared
    library; functions marked ``llvm.emit_c_interface`` get C entry points
    ``_mlir_ciface_<name>``. Results are cached per process by content."""
    key = hashlib.sha256(f"{pipeline}\n{module_text}".encode()).hexdigest()[:20]
    library = _cache_dir() / f"{key}.so"
    if library.exists():
        return library
    bindir, libdir = _llvm_dir("bindir"), _llvm_dir("libdir")
    work = _cache_dir() / key
    work.mkdir(exist_ok=True)
    (work / "input.mlir").write_text(module_text)
    _run([nsa_opt_path(), work / "input.mlir", f"--{pipeline}",
          "-o", work / "llvm.mlir"], "nsa-opt")
    # The module keeps its nsa.target attribute, a dialect mlir-translate
    # does not know; it carries no meaning at this level.
    _run([bindir / "mlir-translate", "--allow-unregistered-dialect",
          "--mlir-to-llvmir", work / "llvm.mlir", "-o", work / "module.ll"],
         "mlir-translate")
    _run([bindir / "llc", "-O2", "-filetype=obj", "-relocation-model=pic",
          work / "module.ll", "-o", work / "module.o"], "llc")
    _run(["cc", "-shared", work / "module.o", "-o", library,
          f"-L{libdir}", "-lmlir_c_runner_utils", f"-Wl,-rpath,{libdir}", "-lm"],
         "link")
    return library
