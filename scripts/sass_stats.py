#!/usr/bin/env python3
"""Static SASS statistics of bundle kernels, on the build machine (no GPU).

The tensor-core kernels' time follows their instruction count and their memory
access widths (docs/performance.md, tables (K) to (M)); this counts both from
the cubins that nsa_mlir.bundles wrote, so a change can be sized before it takes
device time. Per kernel: instructions, the most frequent opcodes, and the global
accesses by width (a 2-byte STG where a 4-byte one would do was the store cost
that `fbf18ca` removed).

    python3 scripts/sass_stats.py BUNDLE_DIR_OR_CUBIN [--base OTHER] [--kernels REGEX]

With --base, each kernel's counts are printed next to the same kernel of OTHER
(another build's bundle or cubin). Static counts: a loop body counts once.

cuobjdump is not in the Debian packages; it comes with the CUDA toolkit or from
PyPI (`pip install nvidia-cuda-cuobjdump`, which puts it under
site-packages/nvidia/cu13/bin). --cuobjdump or $CUOBJDUMP names it; else PATH,
then the PyPI package, are searched.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# "        /*01a0*/                   LDGSTS.E.BYPASS.128 [R8], desc[UR48][R10.64], !P4 ;"
INSTRUCTION = re.compile(r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
FUNCTION = re.compile(r"^\s+Function : (\S+)")
# Global accesses and the width their modifiers give (no width modifier: 4 bytes).
GLOBAL_ACCESS = re.compile(r"^(LDGSTS|LDG|STG)((?:\.[A-Z0-9_]+)*)$")
WIDTHS = {"U8": 1, "S8": 1, "U16": 2, "S16": 2, "64": 8, "128": 16}


def mnemonic(text: str) -> str:
    """One instruction's opcode with its modifiers, without its predicate."""
    words = text.split()
    return words[1] if words[0].startswith("@") and len(words) > 1 else words[0]


def opcode(text: str) -> str:
    """The opcode of one instruction's text, without predicate and modifiers."""
    return mnemonic(text).split(".")[0]


def access_width(text: str) -> tuple[str, int] | None:
    """(LDG / STG / LDGSTS, bytes) of a global access, else None."""
    match = GLOBAL_ACCESS.match(mnemonic(text))
    if not match:
        return None
    width = 4
    for modifier in match.group(2).split(".")[1:]:
        width = WIDTHS.get(modifier, width)
    return match.group(1), width


def parse(sass: str) -> dict[str, list[str]]:
    """Kernel name -> its instructions' texts, in order, from cuobjdump -sass."""
    kernels: dict[str, list[str]] = {}
    current = None
    for line in sass.splitlines():
        function = FUNCTION.match(line)
        if function:
            current = kernels.setdefault(function.group(1), [])
            continue
        instruction = INSTRUCTION.match(line)
        if instruction and current is not None:
            current.append(instruction.group(2))
    return kernels


def stats(instructions: list[str], top: int) -> dict:
    opcodes = collections.Counter(opcode(text) for text in instructions)
    accesses = collections.Counter(
        f"{kind}.{width}B" for kind, width in filter(None, map(access_width, instructions)))
    return {"instructions": len(instructions), "opcodes": opcodes.most_common(top),
            "accesses": dict(sorted(accesses.items()))}


def find_cuobjdump(explicit: str | None) -> str:
    for candidate in (explicit, os.environ.get("CUOBJDUMP"), shutil.which("cuobjdump")):
        if candidate and Path(candidate).is_file():
            return candidate
    for entry in sys.path:
        for found in sorted(Path(entry or ".").glob("nvidia/cu*/bin/cuobjdump")):
            return str(found)
    sys.exit("sass_stats: no cuobjdump (give --cuobjdump or $CUOBJDUMP, or "
             "`pip install nvidia-cuda-cuobjdump`)")


def cubins(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = sorted(path.rglob("kernels.cubin"))
    if not found:
        sys.exit(f"sass_stats: no kernels.cubin under {path}")
    return found


def load(cuobjdump: str, cubin: Path) -> dict[str, list[str]]:
    result = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"sass_stats: {cuobjdump} -sass {cubin} failed: {result.stderr.strip()}")
    return parse(result.stdout)


def describe(record: dict) -> str:
    opcodes = ", ".join(f"{name} {count}" for name, count in record["opcodes"])
    accesses = ", ".join(f"{name} {count}" for name, count in record["accesses"].items())
    return f"{record['instructions']} instructions ({opcodes}); global: {accesses or 'none'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a bundle directory, a tree of them, or a cubin")
    parser.add_argument("--base", type=Path, help="another build's bundles or cubin to compare with")
    parser.add_argument("--kernels", default=".", help="regex over kernel names")
    parser.add_argument("--top", type=int, default=8, help="opcodes listed per kernel")
    parser.add_argument("--cuobjdump")
    args = parser.parse_args()
    cuobjdump = find_cuobjdump(args.cuobjdump)
    wanted = re.compile(args.kernels)
    base_by_name: dict[str, Path] = {}
    if args.base:
        base_by_name = {c.parent.name: c for c in cubins(args.base)}
    for cubin in cubins(args.path):
        kernels = load(cuobjdump, cubin)
        base = load(cuobjdump, base_by_name[cubin.parent.name]) \
            if cubin.parent.name in base_by_name else {}
        print(f"== {cubin}")
        for name, instructions in kernels.items():
            if not wanted.search(name):
                continue
            record = stats(instructions, args.top)
            print(f"  {name}: {describe(record)}")
            if name in base:
                before = stats(base[name], args.top)
                print(f"    base: {describe(before)}; "
                      f"{record['instructions'] - before['instructions']:+d} instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
