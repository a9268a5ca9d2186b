# -*- Python -*-
# lit configuration for the NSA-MLIR regression tests.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "NSA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.nsa_obj_root, "test")
# Unit/ holds GoogleTest sources, run by their own runner.
config.excludes = ["Unit", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.nsa_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["nsa-opt"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
config.substitutions.append(("%nsa_src_root", config.nsa_src_root))

# Compiling kernels to cubins needs ptxas from the CUDA toolkit.
import shutil
if shutil.which("ptxas") or os.path.exists("/usr/local/cuda/bin/ptxas"):
    config.available_features.add("ptxas")
