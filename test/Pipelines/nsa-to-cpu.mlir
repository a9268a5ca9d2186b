// RUN: nsa-opt %s --nsa-to-cpu \
// RUN:   | FileCheck %s --implicit-check-not='{{ (nsa|scf|linalg|memref|tensor|affine|arith|math|cf|func|bufferization|builtin)\.}}'
// RUN: nsa-opt %s --nsa-to-cpu=fuse-gqa-group=0 \
// RUN:   | FileCheck %s --implicit-check-not='{{ (nsa|scf|linalg|memref|tensor|affine|arith|math|cf|func|bufferization|builtin)\.}}'
// RUN: nsa-opt %s --nsa-to-cpu --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=FUSED
// RUN: nsa-opt %s --nsa-to-cpu=fuse-gqa-group=0 --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=UNFUSED

// --nsa-to-cpu lowers a branch op all the way to the LLVM dialect: no op of
// any other dialect is left (the implicit check-not), the function keeps its
// memref-descriptor signature and gets its C wrapper, and the softmax's exp
// and log become LLVM intrinsics. fuse-gqa-group=0 drops the fusion pass
// and still reaches LLVM.

// CHECK-LABEL: llvm.func @branch(
// CHECK-SAME: -> !llvm.struct<(struct<(ptr, ptr, i64, array<4 x i64>, array<4 x i64>)>, struct<(ptr, ptr, i64, array<3 x i64>, array<3 x i64>)>)>
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-DAG: llvm.intr.exp
// CHECK-DAG: llvm.intr.log
// CHECK-DAG: llvm.intr.maximum
// CHECK: llvm.return
// CHECK-LABEL: llvm.func @_mlir_ciface_branch(
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: llvm.call @branch(
// CHECK: llvm.return

// FUSED: nsa-decompose,
// FUSED-NEXT: canonicalize
// FUSED-NEXT: nsa-tile,
// FUSED-NEXT: nsa-fuse-gqa-group,
// FUSED-NEXT: nsa-fuse-combine,
// FUSED-NEXT: canonicalize
// FUSED: convert-nsa-tile-to-linalg

// UNFUSED: nsa-decompose,
// UNFUSED-NEXT: canonicalize
// UNFUSED-NEXT: nsa-tile,
// UNFUSED-NEXT: nsa-fuse-combine,
// UNFUSED-NEXT: canonicalize
// UNFUSED-NOT: nsa-fuse-gqa-group
// UNFUSED: convert-nsa-tile-to-linalg

func.func @branch(%q: tensor<1x32x4x16xf32>, %k: tensor<1x32x2x16xf32>, %v: tensor<1x32x2x8xf32>)
    -> (tensor<1x32x4x8xf32>, tensor<1x32x4xf32>) attributes {llvm.emit_c_interface} {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 8>}
      : tensor<1x32x4x16xf32>, tensor<1x32x2x16xf32>, tensor<1x32x2x8xf32>
      -> tensor<1x32x4x8xf32>, tensor<1x32x4xf32>
  return %o, %l : tensor<1x32x4x8xf32>, tensor<1x32x4xf32>
}
