// RUN: nsa-opt %s --nsa-map-parallel-loops-to-gpu=block-size=128 -split-input-file -verify-diagnostics | FileCheck %s
// RUN: not nsa-opt %s --nsa-map-parallel-loops-to-gpu=block-size=2048 -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not nsa-opt %s --nsa-map-parallel-loops-to-gpu=elements-per-thread=0 -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD-ELEMENTS
// RUN: nsa-opt %s --nsa-map-parallel-loops-to-gpu=elements-per-thread=1 -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=ONE

// Option errors name the option and do not dump the module.
// BAD: block-size (2048) must be in [1, 1024]
// BAD-NOT: see current operation
// BAD-ELEMENTS: elements-per-thread (0) must be in [1, 64]
// BAD-ELEMENTS-NOT: see current operation

// One thread per iteration of the flattened 2-D space, the last dimension
// fastest; the body (with its sequential loop) runs per thread.
// CHECK-LABEL: func.func @map
// CHECK:       %[[N:.*]] = memref.dim
// CHECK:       %[[TOTAL:.*]] = arith.muli %{{.*}}, %c4{{.*}}
// CHECK:       %[[BLOCKS:.*]] = arith.ceildivui %[[TOTAL]], %c128
// CHECK:       gpu.launch blocks(%[[B:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], {{.*}} threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK:         %[[ID:.*]] = arith.addi %{{.*}}, %[[T]]
// CHECK:         scf.if
// CHECK:           %[[J:.*]] = arith.remui %[[ID]], %c4
// CHECK:           %[[I:.*]] = arith.divui %[[ID]], %c4
// CHECK:           scf.for
// CHECK:           memref.store %{{.*}}, %arg1[
// CHECK-NOT:   scf.parallel
func.func @map(%in: memref<?x4x8xf32>, %out: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %n = memref.dim %in, %c0 : memref<?x4x8xf32>
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c4) step (%c1, %c1) {
    %sum = scf.for %k = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> f32 {
      %x = memref.load %in[%i, %j, %k] : memref<?x4x8xf32>
      %next = arith.addf %acc, %x : f32
      scf.yield %next : f32
    }
    memref.store %sum, %out[%i, %j] : memref<?x4xf32>
    scf.reduce
  }
  return
}

// -----

// A constant innermost trip count (128) is coarsened: 4 iterations per
// thread, j, j + 32, j + 64, j + 96, so the flat space is n x 32 and for
// each of them a warp's lanes touch 32 consecutive elements. The copies
// run op by op in lockstep: the 4 loads come before the first store.
// CHECK-LABEL: func.func @coarsened
// CHECK:       %[[N:.*]] = memref.dim
// CHECK:       arith.muli %{{.*}}, %c32
// CHECK:       gpu.launch
// CHECK:         %[[ID:.*]] = arith.addi %{{.*}}, %{{.*}}
// CHECK:         scf.if
// CHECK:           %[[J:.*]] = arith.remui %[[ID]], %c32
// CHECK:           %[[I:.*]] = arith.divui %[[ID]], %c32
// CHECK:           %[[J1:.*]] = arith.addi %[[J]], %c32
// CHECK:           %[[J2:.*]] = arith.addi %[[J]], %c64
// CHECK:           %[[J3:.*]] = arith.addi %[[J]], %c96
// CHECK-NOT:       memref.store
// CHECK:           %[[X0:.*]] = memref.load %arg0[%[[ROW:.*]], %[[COL0:.*]]]
// CHECK-NEXT:      %[[X1:.*]] = memref.load %arg0[%[[ROW]], %[[COL1:.*]]]
// CHECK-NEXT:      %[[X2:.*]] = memref.load %arg0[%[[ROW]], %[[COL2:.*]]]
// CHECK-NEXT:      %[[X3:.*]] = memref.load %arg0[%[[ROW]], %[[COL3:.*]]]
// CHECK-NEXT:      %[[Y0:.*]] = arith.mulf %[[X0]], %[[X0]]
// CHECK-NEXT:      %[[Y1:.*]] = arith.mulf %[[X1]], %[[X1]]
// CHECK-NEXT:      %[[Y2:.*]] = arith.mulf %[[X2]], %[[X2]]
// CHECK-NEXT:      %[[Y3:.*]] = arith.mulf %[[X3]], %[[X3]]
// CHECK-NEXT:      memref.store %[[Y0]], %arg1[%[[ROW]], %[[COL0]]]
// CHECK-NEXT:      memref.store %[[Y1]], %arg1[%[[ROW]], %[[COL1]]]
// CHECK-NEXT:      memref.store %[[Y2]], %arg1[%[[ROW]], %[[COL2]]]
// CHECK-NEXT:      memref.store %[[Y3]], %arg1[%[[ROW]], %[[COL3]]]
// CHECK-NOT:       memref.store
// CHECK:         gpu.terminator
// ONE-LABEL: func.func @coarsened
// ONE:         arith.muli %{{.*}}, %c128
// ONE:         gpu.launch
// ONE-COUNT-1:   memref.store
// ONE-NOT:       memref.store
// ONE:         return
func.func @coarsened(%in: memref<?x128xf32>, %out: memref<?x128xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %n = memref.dim %in, %c0 : memref<?x128xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c128) step (%c1, %c1) {
    %x = memref.load %in[%i, %j] : memref<?x128xf32>
    %y = arith.mulf %x, %x : f32
    memref.store %y, %out[%i, %j] : memref<?x128xf32>
    scf.reduce
  }
  return
}

// -----

// Coarsening keeps a warp across the innermost dimension: 48 iterations
// (48 / 2 < 32) stay one per thread.
// CHECK-LABEL: func.func @too_short_to_coarsen
// CHECK:         arith.muli %{{.*}}, %c48
// CHECK:         gpu.launch
// CHECK-COUNT-1:   memref.store
// CHECK-NOT:       memref.store
// CHECK:         return
func.func @too_short_to_coarsen(%in: memref<?x48xf32>, %out: memref<?x48xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c48 = arith.constant 48 : index
  %n = memref.dim %in, %c0 : memref<?x48xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c48) step (%c1, %c1) {
    %x = memref.load %in[%i, %j] : memref<?x48xf32>
    memref.store %x, %out[%i, %j] : memref<?x48xf32>
    scf.reduce
  }
  return
}

// -----

func.func @reduction(%in: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @+1 {{with reductions is not supported by the GPU mapping}}
  %r = scf.parallel (%i) = (%c0) to (%c8) step (%c1) init (%zero) -> f32 {
    %x = memref.load %in[%i] : memref<8xf32>
    scf.reduce(%x : f32) {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      scf.reduce.return %s : f32
    }
  }
  return %r : f32
}
