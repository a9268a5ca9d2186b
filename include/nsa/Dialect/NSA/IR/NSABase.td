//===- NSABase.td - The nsa dialect definition -------------*- tablegen -*-===//

#ifndef NSA_DIALECT_NSABASE_TD
#define NSA_DIALECT_NSABASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def NSA_Dialect : Dialect {
  let name = "nsa";
  let cppNamespace = "::mlir::nsa";
  let summary = "Native Sparse Attention (NSA) at the tensor level";
  let description = [{
    The `nsa` dialect models DeepSeek's Native Sparse Attention: a composite
    `nsa.attention` op and the branch ops it decomposes into (token
    compression, compressed attention, block selection, selected attention,
    sliding-window attention and the gated combine).

    All activations use the layout `[B, T, H, D]`: batch, sequence position,
    head, head dimension. Batch and sequence length may be dynamic; head
    counts and head dimensions must be static. Query heads `Hq` are grouped
    onto key/value heads `H` (GQA): query head `hq` reads KV head
    `hq / (Hq / H)`. Every op computes scores, softmax statistics and
    products in f32 and returns per-branch log-sum-exp values in f32.

    The exact math, with 0-based indices and edge cases, is the project's
    semantics page (`docs/nsa-semantics.md`); the NumPy reference in
    `python/nsa_mlir/reference.py` implements it.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
  private:
    // Defined beside the attribute storage classes, which must be complete.
    void registerAttributes();
  public:
  }];
}

class NSA_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<NSA_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

class NSA_Op<string mnemonic, list<Trait> traits = []>
    : Op<NSA_Dialect, mnemonic, traits>;

#endif // NSA_DIALECT_NSABASE_TD
