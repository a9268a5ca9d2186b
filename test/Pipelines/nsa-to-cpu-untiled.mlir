// RUN: nsa-opt %s --nsa-to-cpu=tile=0 \
// RUN:   | FileCheck %s --implicit-check-not='{{ (nsa|scf|linalg|memref|tensor|affine|arith|math|cf|func|bufferization|builtin)\.}}'
// RUN: nsa-opt %s --nsa-to-cpu=tile=0 --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=UNTILED
// RUN: nsa-opt %s --nsa-to-cpu="tile=0 fuse-gqa-group=1" --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=UNTILED
// RUN: nsa-opt %s --nsa-to-cpu --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TILED
// RUN: nsa-opt %s --nsa-to-cpu=tile=0 --mlir-print-ir-after=convert-nsa-to-linalg -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=DENSE

// --nsa-to-cpu=tile=0, the untiled CPU path: nsa-decompose, then
// convert-nsa-to-linalg with branch-attention=true lowers every op of the
// decomposed attention, the three branch attentions densely; no tile pass
// runs (fuse-gqa-group is ignored), and the result reaches the LLVM dialect
// with its C interface like the tiled path (the implicit check-not).

// CHECK-LABEL: llvm.func @nsa(
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-DAG: llvm.intr.exp
// CHECK-DAG: llvm.intr.log
// CHECK-DAG: llvm.intr.maximum
// CHECK: llvm.return
// CHECK-LABEL: llvm.func @_mlir_ciface_nsa(
// CHECK: llvm.call @nsa(

// UNTILED: nsa-decompose,
// UNTILED-NEXT: canonicalize
// UNTILED-NEXT: convert-nsa-to-linalg{branch-attention=true},
// UNTILED-NEXT: canonicalize
// UNTILED-NOT: nsa-tile
// UNTILED-NOT: nsa-fuse-gqa-group
// UNTILED-NOT: convert-nsa-tile-to-linalg

// The default stays tiled.
// TILED: nsa-decompose,
// TILED-NEXT: canonicalize
// TILED-NEXT: nsa-tile,
// TILED-NEXT: nsa-fuse-gqa-group,
// TILED: convert-nsa-tile-to-linalg,
// TILED-NEXT: convert-nsa-to-linalg{branch-attention=false}

// After convert-nsa-to-linalg: no nsa op and no tile loop is left; the three
// branches are (b, t) scf.forall loops writing [Hq, Dv] and [Hq] slices.
// DENSE: IR Dump After ConvertNSAToLinalg
// DENSE-NOT: nsa.
// DENSE-COUNT-3: tensor.parallel_insert_slice %{{.*}} : tensor<4x8xf32> into tensor<?x?x4x8xf32>
// DENSE-NOT: nsa.

module {
  func.func @nsa(%q: tensor<?x?x4x16xf32>, %k: tensor<?x?x2x16xf32>, %v: tensor<?x?x2x8xf32>,
                 %g: tensor<?x?x4x3xf32>)
      -> (tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>)
      attributes {llvm.emit_c_interface} {
    %o, %lc, %ls, %lw = nsa.attention %q, keys(%k) values(%v) gates(%g)
        {config = #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 16, top_n = 4, window = 32>}
        : (tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x8xf32>, tensor<?x?x4x3xf32>)
        -> (tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>)
    return %o, %lc, %ls, %lw : tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>
  }
}
