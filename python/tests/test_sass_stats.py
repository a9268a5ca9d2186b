"""scripts/sass_stats.py: parsing cuobjdump -sass output (no cuobjdump needed)."""

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def sass_stats():
    return load_script("scripts/sass_stats.py")


SAMPLE = """
\tcode for sm_90a
\t\tFunction : nsa_attention_kernel_9
\t.headerflags\t@"EF_CUDA_64BIT_ADDRESS EF_CUDA_SM90"
        /*0000*/                   LDC R1, c[0x0][0x28] ;                      /* 0x00000a00ff017b82 */
        /*0010*/              @!P4 LDGSTS.E.BYPASS.128 [R8], desc[UR48][R10.64], !P4 ;  /* 0x000 */
        /*0020*/                   STG.E.U16 desc[UR48][R2.64+0x2], R13 ;      /* 0x000 */
        /*0030*/                   STG.E desc[UR48][R2.64], R24 ;              /* 0x000 */
        /*0040*/                   LDG.E.64 R4, desc[UR4][R2.64] ;             /* 0x000 */
        /*0050*/                   HGMMA.64x64x16.F32.BF16 R88, gdesc[UR20], RZ, !UPT ;  /* 0x000 */
        /*0060*/                   EXIT ;                                      /* 0x000 */
\t\tFunction : nsa_attention_kernel_10
        /*0000*/                   STG.E.128 desc[UR4][R2.64], R4 ;            /* 0x000 */
"""


def test_parse_splits_kernels_and_instructions(sass_stats):
    kernels = sass_stats.parse(SAMPLE)
    assert list(kernels) == ["nsa_attention_kernel_9", "nsa_attention_kernel_10"]
    assert len(kernels["nsa_attention_kernel_9"]) == 7
    assert kernels["nsa_attention_kernel_10"] == ["STG.E.128 desc[UR4][R2.64], R4"]


def test_opcodes_drop_predicates_and_modifiers(sass_stats):
    assert sass_stats.opcode("@!P4 LDGSTS.E.BYPASS.128 [R8], desc[UR48][R10.64], !P4") == "LDGSTS"
    assert sass_stats.opcode("HGMMA.64x64x16.F32.BF16 R88, gdesc[UR20], RZ, !UPT") == "HGMMA"


def test_global_access_widths(sass_stats):
    record = sass_stats.stats(sass_stats.parse(SAMPLE)["nsa_attention_kernel_9"], top=3)
    assert record["instructions"] == 7
    assert record["accesses"] == {"LDG.8B": 1, "LDGSTS.16B": 1, "STG.2B": 1, "STG.4B": 1}
    assert sass_stats.access_width("LDS.128 R4, [R2]") is None
