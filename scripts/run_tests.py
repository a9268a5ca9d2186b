#!/usr/bin/env python3
"""Runs the lit, GoogleTest and pytest suites and prints one count line.

Each runner writes a JUnit XML report; the counts come from those reports,
so a suite that crashes before reporting counts as a failure, not as zero
tests. Usage: run_tests.py [--build-dir build]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def junit_counts(report: Path):
    """(passed, failed, skipped) from a JUnit XML file."""
    root = ET.parse(report).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("result") == "skipped":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def run_suite(name, command, report: Path, env=None):
    print(f"== {name}: {' '.join(map(str, command))}", flush=True)
    try:
        code = subprocess.call(command, cwd=ROOT, env=env)
    except OSError as error:
        print(f"== {name}: cannot run: {error}", flush=True)
        return 0, 1, 0
    if not report.exists():
        print(f"== {name}: no report written (exit {code})", flush=True)
        return 0, 1, 0
    passed, failed, skipped = junit_counts(report)
    if code != 0 and failed == 0:
        failed = 1  # the runner failed outside any test case
    print(f"== {name}: {passed} passed, {failed} failed, {skipped} skipped",
          flush=True)
    return passed, failed, skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", default="build")
    args = parser.parse_args()
    build = (ROOT / args.build_dir).resolve()
    lit = os.environ.get("LIT", "/usr/lib/llvm-22/bin/lit")

    reports = Path(tempfile.mkdtemp(prefix="nsa-tests-"))
    # The compiler was just built, so the compiled-path tests must run, not skip.
    python_env = dict(os.environ, PYTHONPATH=str(ROOT / "python"),
                      NSA_REQUIRE_COMPILER="1")
    suites = [
        ("lit", [lit, "-sv", str(build / "test"),
                 f"--xunit-xml-output={reports / 'lit.xml'}"],
         reports / "lit.xml", None),
        ("gtest", [str(build / "bin/nsa-unit-tests"),
                   f"--gtest_output=xml:{reports / 'gtest.xml'}"],
         reports / "gtest.xml", None),
        ("gtest-runtime", [str(build / "bin/nsa-runtime-tests"),
                           f"--gtest_output=xml:{reports / 'gtest-runtime.xml'}"],
         reports / "gtest-runtime.xml", None),
        ("pytest", [sys.executable, "-m", "pytest", "-q", "python/tests",
                    f"--junitxml={reports / 'pytest.xml'}"],
         reports / "pytest.xml", python_env),
    ]
    totals = [0, 0, 0]
    for name, command, report, env in suites:
        for i, count in enumerate(run_suite(name, command, report, env)):
            totals[i] += count
    passed, failed, skipped = totals
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
