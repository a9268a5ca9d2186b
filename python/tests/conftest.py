"""Puts python/ on sys.path so `cd python && python3 -m pytest` runs without installing."""

import pathlib
import sys

PYTHON_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(PYTHON_ROOT) not in sys.path:
    sys.path.insert(0, str(PYTHON_ROOT))
