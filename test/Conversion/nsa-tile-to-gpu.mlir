// RUN: nsa-opt %s --nsa-tile --nsa-fuse-gqa-group --canonicalize --convert-nsa-tile-to-gpu -split-input-file | FileCheck %s

// The fused window tile loop becomes one gpu.launch: one block per
// (batch, query tile, KV head), linearized into grid x, num_warps * 32
// threads; the warps stride over the tile's
// rows (positions x G heads) and each runs the KV loop for its row with the
// lanes splitting the head dims. Every K row is loaded once per row-visit
// and its lane-partial q.k product is reduced with shuffles.

// CHECK-LABEL: func.func @window
// CHECK:       %[[TILES:.*]] = affine.apply
// CHECK-DAG:   %[[Q:.*]] = bufferization.to_buffer %arg0 read_only : tensor<?x?x8x64xf32> to memref<?x?x8x64xf32>
// CHECK-DAG:   %[[K:.*]] = bufferization.to_buffer %arg1 read_only
// CHECK-DAG:   %[[V:.*]] = bufferization.to_buffer %arg2 read_only
// CHECK:       %[[O:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x8x32xf32>
// CHECK:       %[[OT:.*]] = bufferization.to_tensor %[[O]] restrict writable
// CHECK:       %[[L:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x8xf32>
// CHECK:       %[[LT:.*]] = bufferization.to_tensor %[[L]] restrict writable
// CHECK:       %[[BT:.*]] = arith.muli %{{.*}}, %[[TILES]]
// CHECK:       %[[BLOCKS:.*]] = arith.muli %[[BT]], %c2{{.*}}
// CHECK:       gpu.launch blocks(%[[BID:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%[[TID:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// The block id delinearizes with the query tile fastest (neighbouring
// blocks read overlapping keys), then the KV head, then the batch.
// CHECK:         %[[TILE:.*]] = arith.remui %[[BID]], %[[TILES]]
// CHECK:         %[[REST:.*]] = arith.divui %[[BID]], %[[TILES]]
// CHECK:         %[[HEAD:.*]] = arith.remui %[[REST]], %c2{{.*}}
// CHECK:         %[[BATCH:.*]] = arith.divui %[[REST]], %c2{{.*}}
// CHECK:         %[[WARP:.*]] = arith.divui %[[TID]], %c32{{.*}}
// CHECK:         %[[LANE:.*]] = arith.remui %[[TID]], %c32{{.*}}
// CHECK:         scf.for %[[ROW:.*]] = %[[WARP]] to %{{.*}} step %c4{{.*}} {
// CHECK:           scf.for %{{.*}} = {{.*}} iter_args(%{{.*}} = %cst{{.*}}, %{{.*}} = %cst{{.*}}, %{{.*}} = %cst{{.*}}) -> (f32, f32, vector<1xf32>)
// CHECK:             scf.for %{{.*}} iter_args({{.*}}) -> (f32, f32, vector<1xf32>)
// CHECK:               scf.if %{{.*}} -> (f32, f32, vector<1xf32>)
// CHECK:                 memref.load %[[K]]
// CHECK:                 vector.reduction <add>
// CHECK-COUNT-5:         gpu.shuffle xor
// CHECK:                 math.exp
// CHECK:                 memref.load %[[V]]
// CHECK:                 vector.fma
// CHECK:           math.log
// CHECK:           memref.store %{{.*}}, %[[O]]
// CHECK:           memref.store %{{.*}}, %[[L]]
// CHECK:         gpu.terminator
// CHECK:       return %[[OT]], %[[LT]]
// CHECK-NOT:   scf.forall
func.func @window(%q: tensor<?x?x8x64xf32>, %k: tensor<?x?x2x64xf32>, %v: tensor<?x?x2x32xf32>)
    -> (tensor<?x?x8x32xf32>, tensor<?x?x8xf32>) {
  %o, %lse = nsa.window %q, %k, %v {config = #nsa.config<window = 128>}
      : tensor<?x?x8x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x32xf32>
      -> tensor<?x?x8x32xf32>, tensor<?x?x8xf32>
  return %o, %lse : tensor<?x?x8x32xf32>, tensor<?x?x8xf32>
}

// -----

// Selected branch: the tile is the G heads of one position; the selected
// block indices are read from the index buffer inside the kernel, and a
// block listed again (at or below the largest index so far) is looked up
// among the earlier slots and skipped. Head dims that are not a multiple of
// 32 clamp the address and zero the value.

// CHECK-LABEL: func.func @selected
// CHECK:       %[[I:.*]] = bufferization.to_buffer %arg3 read_only
// CHECK:       gpu.launch
// CHECK:         scf.for %[[SLOT:.*]] = %c0 to %c4 step %c1 iter_args({{.*}}, %[[MAX:.*]] = %c-1_i32) -> (f32, f32, vector<2xf32>, i32)
// CHECK:         %[[J:.*]] = memref.load %[[I]]{{.*}}%[[SLOT]]]
// CHECK:         arith.cmpi sge, %[[J]]
// CHECK:         arith.cmpi sle, %[[J]], %[[MAX]]
// CHECK:         scf.for %[[EARLIER:.*]] = %c0 to %[[SLOT]]
// CHECK:           %[[E:.*]] = memref.load %[[I]]{{.*}}%[[EARLIER]]]
// CHECK:           arith.cmpi eq, %[[E]], %[[J]]
// CHECK:         arith.minui %{{.*}}, %c47
// CHECK:         vector<2xf32>
func.func @selected(%q: tensor<?x?x4x48xf32>, %k: tensor<?x?x1x48xf32>, %v: tensor<?x?x1x48xf32>,
                    %i: tensor<?x?x1x4xi32>) -> (tensor<?x?x4x48xf32>, tensor<?x?x4xf32>) {
  %o, %lse = nsa.selected_attention %q, %k, %v, %i
      {config = #nsa.config<cmp_block = 16, cmp_stride = 8, slc_block = 16, top_n = 4, window = 32, num_init_blocks = 1, num_local_blocks = 1>}
      : tensor<?x?x4x48xf32>, tensor<?x?x1x48xf32>, tensor<?x?x1x48xf32>, tensor<?x?x1x4xi32>
      -> tensor<?x?x4x48xf32>, tensor<?x?x4xf32>
  return %o, %lse : tensor<?x?x4x48xf32>, tensor<?x?x4xf32>
}
