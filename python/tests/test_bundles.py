"""Bundle compilation (nsa_mlir.bundles): the module text, the target option,
and the compiler's errors surfacing as CompilerError."""

import json

import pytest

from conftest import require_compiler
from nsa_mlir import bundles

SHAPE = bundles.Shape(num_q_heads=8, num_kv_heads=2, key_dim=64, value_dim=64, dtype="bf16")


def test_module_text_carries_the_target_only_when_given():
    plain = bundles.bundle_module("window", bundles.CONFIGS["fla64"], SHAPE)
    assert "nsa.target" not in plain
    targeted = bundles.bundle_module("window", bundles.CONFIGS["fla64"], SHAPE,
                                     "#nsa.target<num_warps = 8>")
    assert targeted.startswith("module attributes {nsa.target = #nsa.target<num_warps = 8>}")
    with pytest.raises(ValueError, match="unknown bundle kind"):
        bundles.bundle_module("dense", bundles.CONFIGS["fla64"], SHAPE)


def test_target_sets_the_kernel_block_and_bad_targets_fail(tmp_path):
    require_compiler()
    text = bundles.bundle_module("window", bundles.CONFIGS["fla64"], SHAPE,
                                 "#nsa.target<num_warps = 8>")
    manifest = json.loads((bundles.compile_bundle(text, tmp_path / "w8")
                           / "manifest.json").read_text())
    assert [launch["block"] for launch in manifest["launches"]] == [[256, 1, 1]]
    bad = bundles.bundle_module("window", bundles.CONFIGS["fla64"], SHAPE,
                                "#nsa.target<num_warps = 0>")
    with pytest.raises(bundles.CompilerError, match="num_warps"):
        bundles.compile_bundle(bad, tmp_path / "bad")


def test_no_ptx_bundles_name_only_the_cubin(tmp_path):
    require_compiler()
    text = bundles.bundle_module("window", bundles.CONFIGS["fla64"], SHAPE)
    out = bundles.compile_bundle(text, tmp_path / "cubin-only", ptx=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cubin"] == "kernels.cubin" and "ptx" not in manifest
    assert (out / "kernels.cubin").stat().st_size > 0
    assert not (out / "kernels.ptx").exists()
