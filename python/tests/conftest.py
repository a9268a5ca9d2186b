"""Puts python/ on sys.path so `cd python && python3 -m pytest` runs without installing."""

import pathlib
import sys

PYTHON_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(PYTHON_ROOT) not in sys.path:
    sys.path.insert(0, str(PYTHON_ROOT))


REPO_ROOT = PYTHON_ROOT.parent


def load_script(relative_path: str):
    """Imports one of the repository's scripts (bench/, scripts/) as a module
    named after its file, with its own folder on sys.path for its imports."""
    import importlib.util

    path = REPO_ROOT / relative_path
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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


class WorstErrors:
    """Keeps the worst value of each error metric per group (with the case
    that produced it) and prints them at the end of a test module, so a run
    shows how close the implementation came to the thresholds, not only that
    it passed."""

    def __init__(self, title: str):
        from collections import defaultdict

        self.title = title
        self.worst = defaultdict(dict)

    def record(self, group: str, case_id: str, metrics: dict) -> None:
        worst = self.worst[group]
        for key, value in metrics.items():
            if value > worst.get(key, (-1.0, ""))[0]:
                worst[key] = (value, case_id)

    def report(self, request, extra_lines=()) -> None:
        """Writes the summary through pytest's terminal reporter."""
        if not self.worst:
            return
        plugins = request.config.pluginmanager
        reporter = plugins.get_plugin("terminalreporter")
        capture = plugins.get_plugin("capturemanager")
        if reporter is None or capture is None:
            return
        width = max(len(key) for group in self.worst.values() for key in group)
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(self.title)
            for group in sorted(self.worst):
                reporter.write_line(f"  {group}:")
                for key, (value, case) in sorted(self.worst[group].items()):
                    reporter.write_line(f"    {key:{width}} {value:.2e}  {case}")
            for line in extra_lines:
                reporter.write_line(line)
