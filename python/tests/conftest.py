"""Puts python/ on sys.path so `cd python && python3 -m pytest` runs without installing."""

import pathlib
import sys

PYTHON_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(PYTHON_ROOT) not in sys.path:
    sys.path.insert(0, str(PYTHON_ROOT))


def require_compiler() -> None:
    """Skips the calling test module when the compiler is not built, or fails
    it when NSA_REQUIRE_COMPILER=1 (CI builds the compiler first, so there a
    missing compiler is an error, not a reason to skip)."""
    import os

    import pytest

    from nsa_mlir import compiler

    if compiler.compiler_available():
        return
    why = (f"the NSA-MLIR compiler is not built or LLVM tools are missing "
           f"(nsa-opt: {compiler.nsa_opt_path()}; run scripts/test.sh or "
           f"`ninja -C build`)")
    if os.environ.get("NSA_REQUIRE_COMPILER") == "1":
        pytest.fail(f"NSA_REQUIRE_COMPILER=1 but {why}", pytrace=False)
    pytest.skip(why, allow_module_level=True)
