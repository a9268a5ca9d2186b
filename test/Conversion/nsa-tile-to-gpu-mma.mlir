// RUN: nsa-opt %s --nsa-tile --nsa-fuse-gqa-group --nsa-fuse-combine --canonicalize --convert-nsa-tile-to-gpu -split-input-file | FileCheck %s
// RUN: nsa-opt %s --nsa-tile --nsa-fuse-gqa-group --nsa-fuse-combine --canonicalize --convert-nsa-tile-to-gpu=tensor-cores=false -split-input-file | FileCheck %s --check-prefix=NOMMA

// With 16-bit inputs and head dims that are multiples of 16 the tile loops
// become tensor-core kernels: one warp per (tile, 16-row slab), K and V
// staged a chunk of keys at a time by cp.async into padded shared-memory tiles, B
// fragments by ldmatrix (transposed for V), both products on mma.sync
// m16n8k16 with f32 accumulators, and the online softmax (exp2 domain) on
// the accumulator fragments. When a tile's slabs fill whole CTAs, the CTA's
// warps share one set of tiles (copies spread over its 128 threads, block
// barriers); otherwise each warp has its own (warp barriers).

// Window, bf16, G = 4, Dk = 32, Dv = 16, 16 positions per tile: 64 rows =
// 4 slabs per tile, one CTA of 4 warps, sharing 64 keys x ((32 + 8) +
// (16 + 8)) x 2 bytes of shared memory = 8192 (CTA-shared tiles take 64-key
// chunks), with num_stages = 1 (the default): one K and one V tile, each
// reloaded in place.
// CHECK-LABEL: func.func @window_bf16
// CHECK:       %[[ITEMS:.*]] = arith.muli %{{.*}}, %c4{{.*}} : index
// CHECK:       %[[BLOCKS:.*]] = arith.ceildivui %[[ITEMS]], %c4{{.*}} : index
// CHECK:       gpu.launch blocks(%[[BID:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], {{.*}} threads({{.*}}) in (%{{.*}} = %c128{{.*}}, {{.*}}) dynamic_shared_memory_size %c8192_i32
// A CTA-shared online-softmax kernel asks for #nsa.target's min_ctas_per_sm
// (default 3) resident CTAs per SM.
// CHECK-NEXT:    nsa.min_ctas_per_sm 3
// The query fragments: pairs of bf16 per register, 2 k-steps x 4 registers.
// A pair starts at an even column of rows of 32 elements: 4-byte aligned.
// CHECK-COUNT-8: vector.load %{{.*}}] {alignment = 4 : i64} : memref<?x?x8x32xbf16>, vector<2xbf16>
// CHECK:         %[[SMEM:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK:         %[[KT:.*]] = memref.view %[[SMEM]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x40xbf16, #gpu.address_space<workgroup>>
// CHECK:         %[[VT:.*]] = memref.view %[[SMEM]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x24xbf16, #gpu.address_space<workgroup>>
// The KV tile loop from nsa-tile. In it, a software pipeline over 64-key
// chunks with two cp.async groups per chunk (K, then V). Prologue: chunk 0's
// copies, skipped (but committed) when no row of the CTA's slabs sees it.
// CHECK:         scf.for {{.*}} -> (vector<2xf32>, vector<2xf32>, vector<8xf32>)
// CHECK:           gpu.barrier
// A full chunk (64 keys) copies without clamping: thread t takes column
// (t mod 4) * 8 of rows t / 4 and t / 4 + 32, 16 whole bytes each; the
// second source row is the first plus a constant (an immediate offset).
// CHECK:           scf.if %[[FIRST:.*]] {
// CHECK:             %[[FULL:.*]] = arith.cmpi eq, %{{.*}}, %c64{{.*}} : index
// CHECK:             scf.if %[[FULL]] {
// CHECK:               %[[ROW:.*]] = arith.divui %{{.*}}, %c4{{.*}} : index
// CHECK:               %[[CHUNK_ROW:.*]] = arith.addi %{{.*}}, %[[ROW]] : index
// CHECK:               %[[SRC:.*]] = arith.addi %{{.*}}, %[[CHUNK_ROW]] : index
// CHECK-NOT:           arith.select
// CHECK:               nvgpu.device_async_copy %{{.*}}, %[[KT]][%{{.*}}, %[[COL:.*]]], 8 {bypassL1}
// CHECK:               %[[SRC1:.*]] = arith.addi %[[SRC]], %c32{{.*}} : index
// CHECK:               %[[ROW1:.*]] = arith.addi %[[ROW]], %c32{{.*}} : index
// CHECK-NOT:           arith.select
// CHECK:               nvgpu.device_async_copy %{{.*}}[%{{.*}}, %[[SRC1]], %{{.*}}, %{{.*}}], %[[KT]][%[[ROW1]], %[[COL]]], 8 {bypassL1}
// CHECK-NEXT:        } else {
// A chunk cut short (the causal end) zero-fills its rows past the end.
// CHECK:               arith.select
// CHECK:               nvgpu.device_async_copy %{{.*}}, %[[KT]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK:           nvvm.cp.async.commit.group
// CHECK:           scf.if %[[FIRST]] {
// CHECK:             nvgpu.device_async_copy %{{.*}}, %[[VT]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK:           nvvm.cp.async.commit.group
// CHECK:           scf.for {{.*}} step %c64{{.*}} iter_args({{.*}}) -> (vector<2xf32>, vector<2xf32>, vector<8xf32>)
// CHECK:             scf.if %{{.*}} -> (vector<2xf32>, vector<2xf32>, vector<8xf32>)
// This chunk's keys have landed once at most one group (its values) is
// pending. S = Q K^T: ldmatrix x4 gives the B fragments of two k-steps.
// CHECK:               nvvm.cp.async.wait.group 1
// CHECK:               gpu.barrier
// CHECK:               nvgpu.ldmatrix %[[KT]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<64x40xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// CHECK:               nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// The key tile is free: the next chunk's keys start loading.
// CHECK:               gpu.barrier
// CHECK:               scf.if %[[NEXT:.*]] {
// CHECK:                 nvgpu.device_async_copy %{{.*}}, %[[KT]]
// CHECK:               nvvm.cp.async.commit.group
// A chunk that every row of the slab sees entirely skips the per-key
// masks (causal and window tests, -inf selects).
// CHECK:               scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-NOT:             arith.cmpi
// The others compare each key's token with the row's (mma.sync kernels:
// the column bounds of the wgmma kernels, below, measured slower for the
// selected kernel).
// CHECK:               } else {
// CHECK-NOT:             arith.floordivsi
// CHECK:                 arith.cmpi sle
// CHECK:                 arith.select
// Row max over the lane quad, then exp2.
// CHECK:               gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK:               gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK:               "ex2.approx.ftz.f32 $0, $1;"
// O += P V once this chunk's values have landed, V fragments by transposing
// ldmatrix; then the next chunk's values start loading.
// CHECK:               nvvm.cp.async.wait.group 1
// CHECK:               arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK:               nvgpu.ldmatrix %[[VT]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = true} : memref<64x24xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// CHECK:               nvvm.mma.sync
// CHECK-NOT:           gpu.shuffle
// CHECK:               gpu.barrier
// CHECK:               scf.if %[[NEXT]] {
// CHECK:                 nvgpu.device_async_copy %{{.*}}, %[[VT]]
// CHECK:               nvvm.cp.async.commit.group
// CHECK:               scf.yield
// A skipped chunk only issues the next chunk's copies.
// CHECK:             } else {
// CHECK:               nvgpu.device_async_copy %{{.*}}, %[[KT]]
// CHECK:               nvvm.cp.async.commit.group
// CHECK:               nvgpu.device_async_copy %{{.*}}, %[[VT]]
// CHECK:               nvvm.cp.async.commit.group
// CHECK-NOT:           nvvm.mma.sync
// CHECK:             }
// CHECK:           nvvm.cp.async.wait.group 0
// Finalize: the row sums reduced over the quad. The output goes out through
// shared memory: once every warp is done with the tiles, each warp writes
// its fragments' pairs into its 16 rows there (padded by a 16-byte piece),
// syncs, and each lane stores one 16-byte piece of a row (16 rows of 2
// pieces): full sectors of neighbouring rows per store instruction.
// CHECK:         gpu.shuffle  xor
// CHECK:         math.log
// CHECK:         gpu.barrier
// CHECK-NEXT:    %[[STAGE:.*]] = memref.view %{{.*}}[%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<16x24xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-4: vector.store %{{.*}}, %[[STAGE]][%{{.*}}, %{{.*}}] {alignment = 4 : i64} : memref<16x24xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK:         nvvm.bar.warp.sync
// A lane's pieces (here one: 16 rows of 2) are all read before any is
// stored, each under its row guard (rows past the tile read row 0).
// CHECK:         %[[PIECE:.*]] = vector.load %[[STAGE]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<16x24xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-NEXT:    scf.if
// CHECK:           vector.store %[[PIECE]], %{{.*}}] {alignment = 16 : i64} : memref<?x?x8x16xbf16>, vector<8xbf16>
// CHECK-NOT:     vector.store %{{.*}} : memref<?x?x8x16xbf16>
// NOMMA-LABEL: func.func @window_bf16
// NOMMA-NOT:   nvvm.mma.sync
// NOMMA-NOT:   dynamic_shared_memory_size
// NOMMA:       gpu.launch
// NOMMA-NOT:   nvvm.mma.sync
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, num_stages = 1>} {
func.func @window_bf16(%q: tensor<?x?x8x32xbf16>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x16xbf16>)
    -> (tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x2x16xbf16>
      -> tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
}
}

// -----

// nsa-fuse-combine put the combine into the window loop: each 16-byte row
// piece read back from the staging rows is combined, before its store, with
// the same piece of the compressed and selected outputs and the row's three
// gates (f32, summed compressed, selected, window), then rounded to bf16.
// The window output is not stored on its own. On CUDA cores (NOMMA) each
// stored element is combined the same way, one element at a time, with the
// row's gates loaded once.
// CHECK-LABEL: func.func @window_bf16_combined
// CHECK-SAME: (%{{.*}}: tensor<?x?x8x32xbf16>, %{{.*}}: tensor<?x?x2x32xbf16>, %{{.*}}: tensor<?x?x2x16xbf16>, %[[C:[a-z0-9_]+]]: tensor<?x?x8x16xbf16>, %[[S:[a-z0-9_]+]]: tensor<?x?x8x16xbf16>, %[[G:[a-z0-9_]+]]: tensor<?x?x8x3xbf16>)
// CHECK-DAG:   %[[CB:.*]] = bufferization.to_buffer %[[C]]
// CHECK-DAG:   %[[SB:.*]] = bufferization.to_buffer %[[S]]
// CHECK-DAG:   %[[GB:.*]] = bufferization.to_buffer %[[G]]
// CHECK:       gpu.launch
// CHECK:         nvvm.bar.warp.sync
// CHECK:           %[[PIECE:.*]] = vector.load %{{.*}} {alignment = 16 : i64} : memref<16x24xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK:           %[[CP:.*]] = vector.load %[[CB]][{{.*}}] {alignment = 16 : i64} : memref<?x?x8x16xbf16>, vector<8xbf16>
// CHECK:           %[[CF:.*]] = arith.extf %[[CP]] : vector<8xbf16> to vector<8xf32>
// CHECK:           %[[SP:.*]] = vector.load %[[SB]][{{.*}}] {alignment = 16 : i64} : memref<?x?x8x16xbf16>, vector<8xbf16>
// CHECK:           %[[SF:.*]] = arith.extf %[[SP]] : vector<8xbf16> to vector<8xf32>
// CHECK:           %[[OWN:.*]] = arith.extf %[[PIECE]] : vector<8xbf16> to vector<8xf32>
// CHECK-COUNT-3:   vector.load %[[GB]][{{.*}}] {{.*}} : memref<?x?x8x3xbf16>, vector<1xbf16>
// CHECK:           %[[T0:.*]] = arith.mulf %{{.*}}, %[[CF]] : vector<8xf32>
// CHECK-NEXT:      %[[T1:.*]] = arith.mulf %{{.*}}, %[[SF]] : vector<8xf32>
// CHECK-NEXT:      %[[T01:.*]] = arith.addf %[[T0]], %[[T1]] : vector<8xf32>
// CHECK-NEXT:      %[[T2:.*]] = arith.mulf %{{.*}}, %[[OWN]] : vector<8xf32>
// CHECK-NEXT:      %[[SUM:.*]] = arith.addf %[[T01]], %[[T2]] : vector<8xf32>
// CHECK-NEXT:      %[[OUT:.*]] = arith.truncf %[[SUM]] : vector<8xf32> to vector<8xbf16>
// CHECK:           scf.if
// CHECK:             vector.store %[[OUT]], %{{.*}}] {alignment = 16 : i64} : memref<?x?x8x16xbf16>, vector<8xbf16>
// CHECK-NOT:   nsa.combine
// NOMMA-LABEL: func.func @window_bf16_combined
// NOMMA:       gpu.launch
// NOMMA-COUNT-3: vector.load %{{.*}} : memref<?x?x8x3xbf16>, vector<1xbf16>
// NOMMA:         %[[OWN:.*]] = arith.truncf %{{.*}} : f32 to bf16
// NOMMA:         vector.broadcast %[[OWN]] : bf16 to vector<1xbf16>
// NOMMA-COUNT-2: vector.load %{{.*}} : memref<?x?x8x16xbf16>, vector<1xbf16>
// NOMMA-NOT:     memref<?x?x8x3xbf16>
// NOMMA:         arith.truncf %{{.*}} : vector<1xf32> to vector<1xbf16>
// NOMMA:         memref.store %{{.*}} : memref<?x?x8x16xbf16>
// NOMMA-NOT:   nsa.combine
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, num_stages = 1>} {
func.func @window_bf16_combined(%q: tensor<?x?x8x32xbf16>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x16xbf16>,
                                %c: tensor<?x?x8x16xbf16>, %s: tensor<?x?x8x16xbf16>, %g: tensor<?x?x8x3xbf16>)
    -> (tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>) {
  %w, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x2x16xbf16>
      -> tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
  %o = nsa.combine %c, %s, %w, %g
      : tensor<?x?x8x16xbf16>, tensor<?x?x8x16xbf16>, tensor<?x?x8x16xbf16>, tensor<?x?x8x3xbf16>
      -> tensor<?x?x8x16xbf16>
  return %o, %l : tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
}
}

// -----

// The same kernel with num_stages = 2: a ring of two stages
// of K and V tiles, 2 x 8192 bytes. Prologue: chunk 0 into stage 0, one
// cp.async group for its keys and values. Chunk c: after a barrier (every
// thread is done with stage c - 1), chunk c + 1 loads into stage
// (c + 1) mod 2, then chunk c's group is waited for (one group left
// pending), a barrier, and both products run with no copies or waits in
// between.
// CHECK-LABEL: func.func @window_bf16_ring
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c16384_i32
// CHECK:         %[[SMEM:.*]] = gpu.dynamic_shared_memory
// CHECK:         scf.for {{.*}} -> (vector<2xf32>, vector<2xf32>, vector<8xf32>)
// CHECK:           gpu.barrier
// CHECK:           scf.if
// CHECK:             memref.view %[[SMEM]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x40xbf16, #gpu.address_space<workgroup>>
// CHECK:             nvgpu.device_async_copy
// CHECK:             memref.view %[[SMEM]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x24xbf16, #gpu.address_space<workgroup>>
// CHECK:             nvgpu.device_async_copy
// CHECK:           nvvm.cp.async.commit.group
// CHECK-NOT:       nvvm.cp.async.commit.group
// CHECK:           scf.for %[[CHUNK:.*]] = %{{.*}} step %c64{{.*}} iter_args
// CHECK:             %[[INDEX:.*]] = arith.divui %[[CHUNK]], %c64
// CHECK:             gpu.barrier
// CHECK:             %[[NEXTSTAGE:.*]] = arith.remui %{{.*}}, %c2
// CHECK:             scf.if
// CHECK:               arith.muli %[[NEXTSTAGE]], %c8192
// CHECK:               nvgpu.device_async_copy
// CHECK:             nvvm.cp.async.commit.group
// CHECK-NEXT:        nvvm.cp.async.wait.group 1
// CHECK-NEXT:        gpu.barrier
// CHECK:             %[[STAGE:.*]] = arith.remui %[[INDEX]], %c2
// CHECK:             arith.muli %[[STAGE]], %c8192
// CHECK:             %[[KT:.*]] = memref.view %[[SMEM]]{{.*}} to memref<64x40xbf16, #gpu.address_space<workgroup>>
// CHECK:             %[[VT:.*]] = memref.view %[[SMEM]]{{.*}} to memref<64x24xbf16, #gpu.address_space<workgroup>>
// CHECK:             scf.if %{{.*}} -> (vector<2xf32>, vector<2xf32>, vector<8xf32>)
// CHECK-NOT:           nvvm.cp.async
// CHECK-NOT:           gpu.barrier
// CHECK:               nvgpu.ldmatrix %[[KT]]
// CHECK-NOT:           nvvm.cp.async
// CHECK-NOT:           gpu.barrier
// CHECK:               nvgpu.ldmatrix %[[VT]]{{.*}}transpose = true
// CHECK-NOT:           nvvm.cp.async
// CHECK-NOT:           gpu.barrier
// CHECK:               scf.yield
// CHECK:           nvvm.cp.async.wait.group 0
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, num_stages = 2>} {
func.func @window_bf16_ring(%q: tensor<?x?x8x32xbf16>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x16xbf16>)
    -> (tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x2x16xbf16>
      -> tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
}
}

// -----

// mma = wgmma: the CTA's 4 warps are one warpgroup, whose 64 rows (16
// positions x 4 heads) multiply K and V straight from shared memory. Tiles
// lose their row padding and become 64-column panels of 128-byte lines,
// 16-byte chunk c of line r at chunk c ^ (r % 8), starting at the next
// 1024-byte boundary of the dynamic shared memory. First the CTA's 64 query
// rows are staged once (zero-filled past the tile) and waited for; then the
// K and V stages follow: 64 x 64 x 2 + 64 keys x (64 + 64) x 2 bytes + 1008
// bytes of alignment slack. Landed cp.async data is fenced into the async
// proxy before the barrier. S = Q K^T is 4 m64n64k16 steps with both
// operands in shared memory (16 head dims each, 32 bytes apart in the
// K-major panels; descriptors: 128-byte swizzle, stride 1024, leading 16
// unused); O += P V is 4 steps of 16 keys (2048 bytes apart), P from
// registers, V's MN-major panel read transposed (leading 8192 = 64 lines).
// Each batch is fenced, then committed and waited for, with the
// accumulators (and P's registers) threaded through.
// CHECK-LABEL: func.func @window_wgmma
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c25584_i32
// CHECK:         %[[SMEM:.*]] = gpu.dynamic_shared_memory
// CHECK:         %[[ADDR:.*]] = memref.extract_aligned_pointer_as_index %[[SMEM]]
// CHECK:         %[[MISS:.*]] = arith.remui %[[ADDR]], %c1024
// CHECK:         %[[GAP:.*]] = arith.subi %c1024{{.*}}, %[[MISS]]
// CHECK:         %[[BASE:.*]] = arith.remui %[[GAP]], %c1024
// CHECK:         %[[QT:.*]] = memref.view %[[SMEM]][%[[BASE]]][] : {{.*}} to memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK:         %[[KBASE:.*]] = arith.addi %[[BASE]], %c8192
// CHECK:         %[[QVALID:.*]] = arith.cmpi ult, %{{.*}}, %{{.*}} : index
// CHECK:         %[[QBYTES:.*]] = arith.select %[[QVALID]], %c8{{.*}}, %c0
// CHECK:         nvgpu.device_async_copy {{.*}}, %[[QT]][%{{.*}}, %{{.*}}], 8, %[[QBYTES]] {bypassL1}
// CHECK-COUNT-3: nvgpu.device_async_copy {{.*}}, %[[QT]]
// CHECK-NEXT:    nvvm.cp.async.commit.group
// CHECK-NEXT:    nvvm.cp.async.wait.group 0
// CHECK-NEXT:    nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT:    gpu.barrier
// CHECK:         %[[KSHIFT:.*]] = arith.addi %[[KBASE]], %{{.*}}
// CHECK:         memref.view %[[SMEM]][%[[KSHIFT]]][] : {{.*}} to memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK-NOT:     nvgpu.ldmatrix
// CHECK:         %[[PANEL:.*]] = arith.divui %[[COL:.*]], %c64
// CHECK:         %[[INPANEL:.*]] = arith.remui %[[COL]], %c64
// CHECK:         %[[CHUNK:.*]] = arith.divui %[[INPANEL]], %c8
// CHECK:         %[[LINE:.*]] = arith.remui %[[ROW:.*]], %c8
// CHECK-NEXT:    %[[SWIZZLED:.*]] = arith.xori %[[CHUNK]], %[[LINE]] : index
// CHECK:         %[[PANELBASE:.*]] = arith.muli %[[PANEL]], %c64
// CHECK-NEXT:    %[[TILEROW:.*]] = arith.addi %[[PANELBASE]], %[[ROW]]
// CHECK:         %[[TILECOL:.*]] = arith.muli %[[SWIZZLED]], %c8
// CHECK-NEXT:    nvgpu.device_async_copy {{.*}}[%[[TILEROW]], %[[TILECOL]]], 8 {bypassL1}
// CHECK:         scf.for
// CHECK:           nvvm.cp.async.wait.group 1
// CHECK-NEXT:      nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT:      gpu.barrier
// CHECK-NOT:       nvgpu.ldmatrix
// S's accumulators start undefined: its first step has scale-d = 0.
// CHECK:           %[[UNDEF:.*]] = llvm.mlir.poison : f32
// CHECK-NEXT:      llvm.inline_asm has_side_effects {{.*}} "wgmma.fence.sync.aligned;", "{{(=f,)+}}=f,{{([0-9]+,)+}}31" %[[UNDEF]], %[[UNDEF]],
// CHECK:           %[[QOFFSET:.*]] = arith.addi %[[BASE]], %c0
// CHECK-NEXT:      %[[QADDR:.*]] = arith.addi %[[ADDR]], %[[QOFFSET]] : index
// CHECK:           %[[QCAST:.*]] = arith.index_castui %[[QADDR]] : index to i64
// CHECK:           %[[QSHIFT:.*]] = arith.shrui %[[QCAST]], %c4_i64
// CHECK:           %[[QSTART:.*]] = arith.andi %[[QSHIFT]], %c16383_i64
// CHECK:           %[[QDESC:.*]] = arith.ori %[[QSTART]], %c4611686293305360384_i64
// CHECK:           %[[KADDR:.*]] = arith.addi %[[ADDR]], %{{.*}} : index
// CHECK:           %[[KCAST:.*]] = arith.index_castui %[[KADDR]] : index to i64
// CHECK:           %[[KADDR4:.*]] = arith.shrui %[[KCAST]], %c4_i64
// CHECK:           %[[KSTART:.*]] = arith.andi %[[KADDR4]], %c16383_i64
// CHECK:           %[[KDESC:.*]] = arith.ori %[[KSTART]], %c4611686293305360384_i64
// CHECK-NEXT:      %[[OVERWRITE:.*]] = arith.constant 0 : i32
// CHECK-NEXT:      llvm.inline_asm has_side_effects {{.*}}setp.ne.b32 p, $34, 0;{{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}}, $32, $33, p, 1, 1, 0, 0;{{.*}}"{{(=f,)+}}l,l,r,{{([0-9]+,)+}}31" %[[QDESC]], %[[KDESC]], %[[OVERWRITE]],
// CHECK:           %c32{{.*}} = arith.constant 32 : index
// CHECK:           %[[ACCUMULATE:.*]] = arith.constant 1 : i32
// CHECK-NEXT:      llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;{{.*}}" %{{[0-9]+}}, %{{[0-9]+}}, %[[ACCUMULATE]],
// CHECK-COUNT-2:   wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// CHECK-NOT:       wgmma.mma_async
// CHECK:           "wgmma.commit_group.sync.aligned;\0Awgmma.wait_group.sync.aligned 0;"
// CHECK:           gpu.barrier
// A chunk that some row does not see entirely: each row's visible columns
// are one range [lo, hi), bounded once per chunk relative to the lane's
// first column (floor division by the key stride, clamped to the chunk, as
// i32); per score, one i32 compare of its constant column offset per bound.
// CHECK:           } else {
// CHECK:             arith.floordivsi
// CHECK:             %[[HI0:.*]] = arith.maxsi %{{.*}}, %{{.*}} : i32
// CHECK:             %[[LO0:.*]] = arith.maxsi %{{.*}}, %{{.*}} : i32
// CHECK:             arith.maxsi %{{.*}}, %{{.*}} : i32
// CHECK:             arith.maxsi %{{.*}}, %{{.*}} : i32
// CHECK-NOT:         arith.floordivsi
// CHECK:             %[[BEFORE:.*]] = arith.cmpi slt, %c0_i32{{[_0-9]*}}, %[[HI0]] : i32
// CHECK-NEXT:        %[[INWINDOW:.*]] = arith.cmpi sge, %c0_i32{{[_0-9]*}}, %[[LO0]] : i32
// CHECK-NEXT:        %[[VISIBLE:.*]] = arith.andi %[[BEFORE]], %[[INWINDOW]] : i1
// CHECK:             arith.select %[[VISIBLE]], %{{.*}}, %{{.*}} : f32
// The softmax: the row max of the raw scores, scaled once (scale * log2 e
// = 0.125 * 1.4427) and kept unless it grows by more than 8; a warp-wide
// vote decides whether the sums and accumulators are rescaled; each p is
// exp2(fma(s, scale, -max)).
// CHECK:           %[[SHUFFLED:.*]], %{{.*}} = gpu.shuffle  xor %[[PARTIAL:.*]], %c2_i32
// CHECK-NEXT:      %[[RAWMAX:.*]] = arith.maximumf %[[PARTIAL]], %[[SHUFFLED]] : f32
// CHECK-NEXT:      %[[SCALEDMAX:.*]] = arith.mulf %[[RAWMAX]], %[[SCALE:.*]] : f32
// CHECK-NEXT:      %[[CANDIDATE:.*]] = arith.maximumf %[[MAXOLD:.*]], %[[SCALEDMAX]] : f32
// CHECK-NEXT:      %[[THRESHOLD:.*]] = arith.constant 8.000000e+00 : f32
// CHECK-NEXT:      %[[SLACK:.*]] = arith.addf %[[MAXOLD]], %[[THRESHOLD]] : f32
// CHECK-NEXT:      %[[GROWS:.*]] = arith.cmpf ogt, %[[CANDIDATE]], %[[SLACK]] : f32
// CHECK-NEXT:      %[[MAXNEW:.*]] = arith.select %[[GROWS]], %[[CANDIDATE]], %[[MAXOLD]] : f32
// CHECK:           %[[MAXSAFE:.*]] = arith.select %{{.*}}, %{{.*}}, %[[MAXNEW]] : f32
// CHECK:           %[[EITHER:.*]] = arith.ori %[[GROWS]], %{{.*}} : i1
// CHECK-NEXT:      %[[ALL:.*]] = arith.constant -1 : i32
// CHECK-NEXT:      %[[ANY:.*]] = nvvm.vote.sync  any %[[ALL]], %[[EITHER]] -> i1
// CHECK-NEXT:      %[[RESCALED:.*]]:2 = scf.if %[[ANY]] -> (vector<2xf32>, vector<32xf32>) {
// CHECK-NEXT:        %[[DROP:.*]] = arith.subf %[[MAXOLD]], %[[MAXSAFE]] : f32
// CHECK-NEXT:        %[[ALPHA:.*]] = llvm.inline_asm asm_dialect = att "ex2.approx.ftz.f32 $0, $1;", "=f,f" %[[DROP]] : (f32) -> f32
// CHECK-COUNT-32:    arith.mulf
// CHECK:             scf.yield
// CHECK-NEXT:      } else {
// CHECK-NEXT:        scf.yield %[[SUMS:.*]], %[[ACC:.*]] : vector<2xf32>, vector<32xf32>
// CHECK-NEXT:      }
// CHECK:           %[[NEGMAX:.*]] = arith.negf %[[MAXSAFE]] : f32
// CHECK:           %[[ARG:.*]] = math.fma %{{.*}}, %{{.*}}, %[[NEGMAX]] : f32
// CHECK-NEXT:      llvm.inline_asm asm_dialect = att "ex2.approx.ftz.f32 $0, $1;", "=f,f" %[[ARG]] : (f32) -> f32
// CHECK:           nvvm.cp.async.wait.group 1
// CHECK-NEXT:      nvvm.fence.proxy
// CHECK-NEXT:      gpu.barrier
// CHECK:           %[[PFENCE:.*]] = llvm.inline_asm has_side_effects {{.*}} "wgmma.fence.sync.aligned;", "{{(=f,)+}}{{(=r,)+}}=r,
// CHECK:           %[[P0:.*]] = llvm.extractvalue %[[PFENCE]][32]
// CHECK-NEXT:      %[[P1:.*]] = llvm.extractvalue %[[PFENCE]][33]
// CHECK-NEXT:      %[[P2:.*]] = llvm.extractvalue %[[PFENCE]][34]
// CHECK-NEXT:      %[[P3:.*]] = llvm.extractvalue %[[PFENCE]][35]
// CHECK:           %[[VDESC:.*]] = arith.ori %{{.*}}, %c4611686293338849280_i64
// CHECK:           %[[PV0:.*]] = llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}}, {$32, $33, $34, $35}, $36, p, 1, 1, 1;{{.*}}" %[[P0]], %[[P1]], %[[P2]], %[[P3]], %[[VDESC]],
// CHECK:           %[[PV0LAST:.*]] = llvm.extractvalue %[[PV0]][31]
// CHECK:           %c2048 = arith.constant 2048 : index
// CHECK:           wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;{{.*}}, %[[PV0LAST]] : (
// CHECK-COUNT-2:   wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK-NOT:       wgmma.mma_async
// The commit + wait threads P's 16 registers after the accumulators: they
// keep their values until the tensor cores have read them.
// CHECK:           "wgmma.commit_group.sync.aligned;\0Awgmma.wait_group.sync.aligned 0;", "{{(=f,)+}}{{(=r,)+}}=r,{{([0-9]+,)+}}47" {{.*}}, %[[P0]], %[[P1]], %[[P2]], %[[P3]],
// CHECK:         nvvm.cp.async.wait.group 0
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, mma = wgmma>} {
func.func @window_wgmma(%q: tensor<?x?x8x64xbf16>, %k: tensor<?x?x2x64xbf16>, %v: tensor<?x?x2x64xbf16>)
    -> (tensor<?x?x8x64xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>
      -> tensor<?x?x8x64xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x64xbf16>, tensor<?x?x8xf32>
}
}

// -----

// The default, mma = auto, is wgmma on sm_90a. Dk = Dv = 128, f16: two
// 64-column panels per tile, so the fifth S step (head dims 64..79) starts
// one panel (64 lines x 128 bytes) into both the query tile and the key
// tile, with the same descriptor bits; O += P V is m64n128k16 over V's two
// panels (leading offset 8192). 64 x 128 x 2 + 64 x (128 + 128) x 2 + 1008.
// CHECK-LABEL: func.func @window_wgmma_f16_d128
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c50160_i32
// CHECK:         %[[ADDR:.*]] = memref.extract_aligned_pointer_as_index
// CHECK:         %[[MISS:.*]] = arith.remui %[[ADDR]], %c1024
// CHECK:         %[[GAP:.*]] = arith.subi %c1024{{.*}}, %[[MISS]]
// CHECK:         %[[BASE:.*]] = arith.remui %[[GAP]], %c1024
// CHECK:         memref.view {{.*}}[%[[BASE]]][] : {{.*}} to memref<128x64xf16, #gpu.address_space<workgroup>>
// CHECK:         %[[KBASE:.*]] = arith.addi %[[BASE]], %c16384
// CHECK:         %[[KSHIFT:.*]] = arith.addi %[[KBASE]], %{{.*}}
// CHECK:         memref.view {{.*}}[%[[KSHIFT]]][] : {{.*}} to memref<128x64xf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-4:   wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// CHECK:           %[[QPANEL:.*]] = arith.addi %[[BASE]], %c8192 : index
// CHECK-NEXT:      arith.addi %[[ADDR]], %[[QPANEL]] : index
// CHECK:           arith.ori %{{.*}}, %c4611686293305360384_i64
// CHECK:           %[[KPANEL:.*]] = arith.addi %[[KSHIFT]], %c8192{{.*}} : index
// CHECK-NEXT:      arith.addi %[[ADDR]], %[[KPANEL]] : index
// CHECK:           arith.ori %{{.*}}, %c4611686293305360384_i64
// CHECK-NEXT:      arith.constant 1 : i32
// CHECK-NEXT:      llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// CHECK-COUNT-3:   wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 0;
// CHECK:           arith.ori %{{.*}}, %c4611686293338849280_i64
// CHECK-COUNT-4:   wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
// CHECK-NOT:       wgmma.mma_async
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64>} {
func.func @window_wgmma_f16_d128(%q: tensor<?x?x8x128xf16>, %k: tensor<?x?x2x128xf16>, %v: tensor<?x?x2x128xf16>)
    -> (tensor<?x?x8x128xf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x128xf16>, tensor<?x?x2x128xf16>, tensor<?x?x2x128xf16>
      -> tensor<?x?x8x128xf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x128xf16>, tensor<?x?x8xf32>
}
}

// -----

// wgmma's query tile and alignment slack need 50160 bytes here; with 48 KiB
// of shared memory the kernel falls back to mma.sync's padded tiles (64 x
// (136 + 136) x 2 = 34816), not to the CUDA-core kernel.
// CHECK-LABEL: func.func @window_wgmma_over_smem
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c34816_i32
// CHECK-NOT:     wgmma
// CHECK:         nvvm.mma.sync
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, shared_memory = 49152>} {
func.func @window_wgmma_over_smem(%q: tensor<?x?x8x128xbf16>, %k: tensor<?x?x2x128xbf16>, %v: tensor<?x?x2x128xbf16>)
    -> (tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x128xbf16>, tensor<?x?x2x128xbf16>, tensor<?x?x2x128xbf16>
      -> tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
}
}

// -----

// "auto" is mma.sync off sm_90a, and "sync" is mma.sync on sm_90a too.
// CHECK-LABEL: func.func @window_auto_sm80
// CHECK-NOT:     wgmma
// CHECK:         nvvm.mma.sync
// CHECK-LABEL: func.func @window_sync_sm90a
// CHECK-NOT:     wgmma
// CHECK:         nvvm.mma.sync
module attributes {nsa.target = #nsa.target<chip = "sm_80", block_q = 16, shared_memory = 166912>} {
func.func @window_auto_sm80(%q: tensor<?x?x8x128xbf16>, %k: tensor<?x?x2x128xbf16>, %v: tensor<?x?x2x128xbf16>)
    -> (tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x128xbf16>, tensor<?x?x2x128xbf16>, tensor<?x?x2x128xbf16>
      -> tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
}
}

// -----

module attributes {nsa.target = #nsa.target<block_q = 16, mma = sync>} {
func.func @window_sync_sm90a(%q: tensor<?x?x8x128xbf16>, %k: tensor<?x?x2x128xbf16>, %v: tensor<?x?x2x128xbf16>)
    -> (tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x128xbf16>, tensor<?x?x2x128xbf16>, tensor<?x?x2x128xbf16>
      -> tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
}
}

// -----

// wgmma needs head dims in whole 64-column panels: with Dk = 32 the kernel
// keeps mma.sync (and its padded tiles) under mma = wgmma.
// CHECK-LABEL: func.func @window_wgmma_narrow_head
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c8192_i32
// CHECK-NOT:     wgmma
// CHECK-NOT:     fence.proxy
// CHECK:         nvvm.mma.sync
// CHECK-NOT:     wgmma
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, mma = wgmma>} {
func.func @window_wgmma_narrow_head(%q: tensor<?x?x8x32xbf16>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x16xbf16>)
    -> (tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x2x16xbf16>
      -> tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
}
}

// -----

// Head dims above 128 keep 32-key chunks even with CTA-shared tiles (the
// score fragments of 64 keys would cost registers next to a wide
// accumulator): 32 x ((144 + 8) + (144 + 8)) x 2 bytes = 19456.
// CHECK-LABEL: func.func @window_wide_head
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c19456_i32
// CHECK:         memref.view {{.*}} to memref<32x152xbf16, #gpu.address_space<workgroup>>
// CHECK:         gpu.barrier
// CHECK:         scf.for {{.*}} step %c32{{.*}} iter_args
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64>} {
func.func @window_wide_head(%q: tensor<?x?x8x144xbf16>, %k: tensor<?x?x2x144xbf16>, %v: tensor<?x?x2x144xbf16>)
    -> (tensor<?x?x8x144xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x144xbf16>, tensor<?x?x2x144xbf16>, tensor<?x?x2x144xbf16>
      -> tensor<?x?x8x144xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x144xbf16>, tensor<?x?x8xf32>
}
}

// -----

// Selected, f16, G = 2: one position per tile, so one slab of 2 rows; three
// k-steps (Dk = 48), the last one from an x2 ldmatrix. f16 operands go to
// mma.sync as vector<2xf16>. One slab per tile, fewer than the CTA's 4
// warps (selected_num_warps, not num_warps, for one-position tiles): each
// warp stages its own tiles, 4 x 32 keys x ((48 + 8) + (16 + 8)) x 2 bytes
// = 20480, between warp barriers. The warps of a CTA take
// neighbouring positions of one KV head (the position is the fastest
// dimension of the work items), which mostly select the same blocks, and
// their copies go through L1 (no bypassL1), so a block one warp staged is
// mostly an L1 hit for the next.
// CHECK-LABEL: func.func @selected_f16
// CHECK:       %[[POSITIONS:.*]] = tensor.dim %{{.*}}, %c1
// CHECK:       arith.ceildivui %{{.*}}, %c4{{.*}} : index
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128, {{.*}} dynamic_shared_memory_size %c20480_i32
// Warp-private tiles: no occupancy hint.
// CHECK-NOT:     nsa.min_ctas_per_sm
// CHECK:         %[[LANE:[a-z0-9_]+]] = arith.remui %{{.*}}, %c32
// CHECK:         %[[ITEM:.*]] = arith.addi
// CHECK:         %[[ITERATION:.*]] = arith.divui %[[ITEM]], %c1
// CHECK:         arith.remui %[[ITERATION]], %[[POSITIONS]]
// CHECK:         scf.for
// The next slot's block (nsa.prefetch_tile, prefetch_blocks = 1): the
// warp's lanes split the 128-byte lines of its key rows, then of its value
// rows, into L2.
// CHECK:           memref.load %{{.*}} : memref<?x?x2x4xi32>
// CHECK:           memref.extract_strided_metadata %{{.*}} : memref<?x?x2x48xf16>
// CHECK:           memref.extract_aligned_pointer_as_index %{{.*}} : memref<?x?x2x48xf16>
// CHECK:           arith.ceildivui %{{.*}}, %c128
// CHECK:           scf.for %{{.*}} = %[[LANE]] to %{{.*}} step %c32
// CHECK:             llvm.inttoptr %{{.*}} : i64 to !llvm.ptr
// CHECK-NEXT:        nvvm.prefetch level =  L2, %{{.*}} : !llvm.ptr
// CHECK:           memref.extract_aligned_pointer_as_index %{{.*}} : memref<?x?x2x16xf16>
// CHECK:           scf.for %{{.*}} = %[[LANE]] to %{{.*}} step %c32
// CHECK:             nvvm.prefetch level =  L2
// CHECK:           memref.load %{{.*}} : memref<?x?x2x4xi32>
// CHECK:           nvvm.bar.warp.sync
// CHECK:           nvgpu.device_async_copy %{{.*}}, 8, %{{.*}} :
// CHECK:           nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false} : memref<32x56xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// CHECK:           nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK:           nvvm.mma.sync
// CHECK:           nvgpu.ldmatrix %{{.*}} {numTiles = 2 : i32, transpose = false} : memref<32x56xf16, #gpu.address_space<workgroup>> -> vector<2x2xf16>
// CHECK:           nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = true} : memref<32x24xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// NOMMA-LABEL: func.func @selected_f16
// NOMMA-NOT:   nvvm.mma.sync
// The CUDA-core kernel's warps walk the same rows: the CTA's threads split
// the prefetches.
// NOMMA:       gpu.launch {{.*}} threads(%[[TID:[a-z0-9_]+]],
// NOMMA:       scf.for %{{.*}} = %[[TID]] to %{{.*}} step %c128
// NOMMA:         nvvm.prefetch level =  L2
// NOMMA-NOT:   nvvm.mma.sync
module {
func.func @selected_f16(%q: tensor<?x?x4x48xf16>, %k: tensor<?x?x2x48xf16>, %v: tensor<?x?x2x16xf16>,
                        %idx: tensor<?x?x2x4xi32>) -> (tensor<?x?x4x16xf16>, tensor<?x?x4xf32>)
    attributes {nsa.target = #nsa.target<prefetch_blocks = 1>} {
  %o, %l = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<top_n = 4>}
      : tensor<?x?x4x48xf16>, tensor<?x?x2x48xf16>, tensor<?x?x2x16xf16>, tensor<?x?x2x4xi32>
      -> tensor<?x?x4x16xf16>, tensor<?x?x4xf32>
  return %o, %l : tensor<?x?x4x16xf16>, tensor<?x?x4xf32>
}
}

// -----

// selected_num_warps sets the one-position tiles' CTA, num_warps the
// others': the selected kernel has 2 warps (2 x 5120 bytes of warp-private
// tiles), the window kernel of the same module 8.
// CHECK-LABEL: func.func @selected_two_warps
// CHECK:       arith.ceildivui %{{.*}}, %c2{{.*}} : index
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c64{{.*}}, {{.*}} dynamic_shared_memory_size %c10240_i32
// CHECK:         nvvm.mma.sync
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c256{{.*}},
module attributes {nsa.target = #nsa.target<num_warps = 8, selected_num_warps = 2>} {
func.func @selected_two_warps(%q: tensor<?x?x4x48xf16>, %k: tensor<?x?x2x48xf16>, %v: tensor<?x?x2x16xf16>,
                              %idx: tensor<?x?x2x4xi32>)
    -> (tensor<?x?x4x16xf16>, tensor<?x?x4xf32>, tensor<?x?x4x16xf16>, tensor<?x?x4xf32>) {
  %o, %l = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<top_n = 4>}
      : tensor<?x?x4x48xf16>, tensor<?x?x2x48xf16>, tensor<?x?x2x16xf16>, tensor<?x?x2x4xi32>
      -> tensor<?x?x4x16xf16>, tensor<?x?x4xf32>
  %wo, %wl = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x4x48xf16>, tensor<?x?x2x48xf16>, tensor<?x?x2x16xf16>
      -> tensor<?x?x4x16xf16>, tensor<?x?x4xf32>
  return %o, %l, %wo, %wl : tensor<?x?x4x16xf16>, tensor<?x?x4xf32>, tensor<?x?x4x16xf16>, tensor<?x?x4xf32>
}
}

// -----

// f32 keeps the CUDA-core kernel (tensor cores would compute in tf32).
// CHECK-LABEL: func.func @compressed_f32
// CHECK-NOT:   nvvm.mma.sync
// CHECK:       gpu.launch
// CHECK-NOT:   dynamic_shared_memory_size
// CHECK-NOT:   nsa.min_ctas_per_sm
// CHECK-NOT:   nvvm.mma.sync
// CHECK:       return
module {
func.func @compressed_f32(%q: tensor<?x?x4x32xf32>, %kc: tensor<?x?x2x32xf32>, %vc: tensor<?x?x2x16xf32>)
    -> (tensor<?x?x4x16xf32>, tensor<?x?x4xf32>) {
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<?x?x4x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x16xf32>
      -> tensor<?x?x4x16xf32>, tensor<?x?x4xf32>
  return %o, %l : tensor<?x?x4x16xf32>, tensor<?x?x4xf32>
}
}

// -----

// Compressed probabilities, bf16, G = 4, Dk = 32, 16 positions per tile:
// the same slab kernel with a key tile only, shared by the CTA's 4 warps
// in a ring of num_stages = 2 stages (2 x 64 x 40 x 2 bytes: chunk c + 1
// loads while chunk c computes), S = Q Kc^T on mma.sync,
// p = exp2(s * scale * log2e - lse * log2e) for visible blocks, stored per
// lane as f32 pairs straight into the output; no state is carried across
// chunks.
// CHECK-LABEL: func.func @probs_bf16
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c10240_i32
// The probability kernels ask for #nsa.target's probs_min_ctas_per_sm
// (default 4) CTAs per SM, not min_ctas_per_sm.
// CHECK-NEXT:    nsa.min_ctas_per_sm 4
// CHECK:         memref.load %{{.*}} : memref<?x?x8xf32>
// CHECK:         memref.load %{{.*}} : memref<?x?x8xf32>
// CHECK:         gpu.barrier
// CHECK:         nvgpu.device_async_copy
// CHECK:         nvvm.cp.async.commit.group
// Chunks past the CTA's last position (a causal suffix) skip the ring.
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c64{{.*}} {
// CHECK:           scf.if %{{.*}} {
// CHECK-NEXT:        gpu.barrier
// CHECK:           nvgpu.device_async_copy
// CHECK:           nvvm.cp.async.commit.group
// CHECK-NEXT:      nvvm.cp.async.wait.group 1
// CHECK-NEXT:      gpu.barrier
// CHECK:           scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK-NOT:         nvvm.cp.async
// CHECK:             nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false} : memref<64x40xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// CHECK:             nvvm.mma.sync
// CHECK:             "ex2.approx.ftz.f32 $0, $1;"
// CHECK-NOT:         nvgpu.ldmatrix
// CHECK:           } else {
// Rows of a dynamic length may start at an odd element: no pair alignment.
// CHECK:           vector.store %{{.*}}] : memref<?x?x8x?xf32>, vector<2xf32>
// CHECK:           memref.store %{{.*}}, %{{.*}} : memref<?x?x8x?xf32>
// NOMMA-LABEL: func.func @probs_bf16
// NOMMA-NOT:   nvvm.mma.sync
// NOMMA:       gpu.launch
// NOMMA:         scf.for
// NOMMA:           gpu.shuffle
// NOMMA:           math.exp
module attributes {nsa.target = #nsa.target<block_q = 16, num_stages = 2>} {
func.func @probs_bf16(%q: tensor<?x?x8x32xbf16>, %kc: tensor<?x?x2x32xbf16>, %lse: tensor<?x?x8xf32>) -> tensor<?x?x8x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse {config = #nsa.config<>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x8xf32> -> tensor<?x?x8x?xf32>
  return %p : tensor<?x?x8x?xf32>
}
}

// -----

// The tiles must fit the target's shared memory: 64 keys x ((32 + 8) +
// (16 + 8)) x 2 bytes = 8192 does not fit 4000 bytes, so the bf16 window
// keeps the CUDA-core kernel.
// CHECK-LABEL: func.func @window_small_smem
// CHECK-NOT:   nvvm.mma.sync
// CHECK:       gpu.launch
// CHECK-NOT:   dynamic_shared_memory_size
// CHECK-NOT:   nvvm.mma.sync
// CHECK:       return
// NOMMA-LABEL: func.func @window_small_smem
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 64, shared_memory = 4000>} {
func.func @window_small_smem(%q: tensor<?x?x8x32xbf16>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x16xbf16>)
    -> (tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x2x16xbf16>
      -> tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x16xbf16>, tensor<?x?x8xf32>
}
}

// -----

// Group sums of the probabilities, G = 4: the same slab kernel; the 4 heads
// of a position are the rows of 4 neighbouring quads, so the probabilities
// (rows past the tile zeroed first) are summed by shuffles over lane
// offsets 4 and 8, and the first quad of each position stores the sums of
// its two rows into the [B, T, H, Nc] output. The CUDA-core kernel runs a
// warp per position and loops over the group's heads.
// CHECK-LABEL: func.func @probs_group_sum_g4
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c5120_i32
// CHECK:         nvvm.mma.sync
// CHECK:         "ex2.approx.ftz.f32 $0, $1;"
// CHECK:         gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK:         gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK-NOT:     gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK:         arith.remui %{{.*}}, %c4
// CHECK:         vector.store %{{.*}}, %{{.*}} : memref<?x?x2x?xf32>, vector<2xf32>
// NOMMA-LABEL: func.func @probs_group_sum_g4
// NOMMA-NOT:   nvvm.mma.sync
// NOMMA:       gpu.launch
// NOMMA:         scf.for
// NOMMA:           scf.for %{{.*}} = %c0{{.*}} to %c4{{.*}} step %c1{{.*}} iter_args
// NOMMA:             gpu.shuffle
// NOMMA:             math.exp
// NOMMA:           memref.store %{{.*}} : memref<?x?x2x?xf32>
module attributes {nsa.target = #nsa.target<block_q = 16>} {
func.func @probs_group_sum_g4(%q: tensor<?x?x8x32xbf16>, %kc: tensor<?x?x2x32xbf16>, %lse: tensor<?x?x8xf32>) -> tensor<?x?x2x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse group_sum {config = #nsa.config<>}
      : tensor<?x?x8x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x8xf32> -> tensor<?x?x2x?xf32>
  return %p : tensor<?x?x2x?xf32>
}
}

// -----

// G = 16: one position per slab. A lane adds its two rows (heads g and
// g + 8), then the quads reduce-scatter the 16 (n-tile, column) sums of a
// 64-key chunk: at offset 4 each lane keeps 8 and sends the other 8, at
// offset 8 it keeps 4 of those, at offset 16 2: 14 shuffles (not 3 for
// each of 16 sums), and every lane stores its n-tile's two columns.
// CHECK-LABEL: func.func @probs_group_sum_g16
// The lane's quad bits (lane bits 2, 3, 4), computed once for the chunks.
// CHECK:         %[[AND0:.*]] = arith.andi %[[LANE:.*]], %c4{{.*}} : index
// CHECK-NEXT:    %[[BIT0:.*]] = arith.cmpi ne, %[[AND0]], %{{.*}} : index
// CHECK:         %[[AND1:.*]] = arith.andi %[[LANE]], %c8{{.*}} : index
// CHECK-NEXT:    %[[BIT1:.*]] = arith.cmpi ne, %[[AND1]], %{{.*}} : index
// CHECK:         %[[AND2:.*]] = arith.andi %[[LANE]], %c16{{.*}} : index
// CHECK-NEXT:    %[[BIT2:.*]] = arith.cmpi ne, %[[AND2]], %{{.*}} : index
// CHECK:         nvvm.mma.sync
// p = exp2(s - lse), in both branches of the chunk's mask test: a chunk
// every row sees entirely has no -inf score or lse to test for; the other
// chunks zero the masked keys. Rows past the tile are whole positions whose
// sums are never stored: no zeroing.
// CHECK:         %[[P:.*]]:32 = scf.if %{{.*}} -> (f32,
// CHECK-NOT:       arith.cmpf
// CHECK-NOT:       arith.select
// CHECK:           "ex2.approx.ftz.f32 $0, $1;"
// CHECK-NOT:       arith.cmpf
// CHECK-NOT:       arith.select
// CHECK:         } else {
// CHECK:           "ex2.approx.ftz.f32 $0, $1;"
// CHECK:           %[[MASKED:.*]] = arith.cmpf oeq
// CHECK:           arith.select %[[MASKED]], %{{.*}}, %{{.*}} : f32
// CHECK-NOT:     gpu.shuffle
// CHECK:         %[[LOW:.*]] = arith.addf %[[P]]#0, %[[P]]#2 : f32
// The lane whose quad bit is set sends the lower half (from the first sum)
// and keeps the upper.
// CHECK:         %[[SEND:.*]] = arith.select %[[BIT0]], %[[LOW]], %[[HIGH:[^ ]*]] : f32
// CHECK-NEXT:    %[[KEEP:.*]] = arith.select %[[BIT0]], %[[HIGH]], %[[LOW]] : f32
// CHECK:         %[[RECV:.*]], %{{.*}} = gpu.shuffle  xor %[[SEND]], %c4_i32
// CHECK-NEXT:    arith.addf %[[KEEP]], %[[RECV]] : f32
// CHECK-COUNT-7: gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK-COUNT-4: gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK-COUNT-2: gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK-NOT:     gpu.shuffle
// CHECK:         scf.yield %{{[^,]*}}, %{{[^,]*}} : f32, f32
// The lane's first sum: 8 * bit0 + 4 * bit1 + 2 * bit2 of its quad; its
// column pair is stored where both columns exist, else the first alone.
// CHECK:         arith.select %[[BIT0]], %c8{{.*}}, %c0{{.*}} : index
// CHECK:         arith.select %[[BIT1]], %c4{{.*}}, %c0{{.*}} : index
// CHECK:         arith.select %[[BIT2]], %c2{{.*}}, %c0{{.*}} : index
// CHECK:         scf.if
// CHECK:           %[[NEXT:.*]] = arith.addi %[[COL:.*]], %c1{{.*}} : index
// CHECK:           arith.cmpi ult, %[[NEXT]], %{{.*}} : index
// CHECK:           vector.store %{{.*}}, %{{.*}} : memref<?x?x1x?xf32>, vector<2xf32>
// CHECK:           arith.cmpi ult, %[[COL]], %{{.*}} : index
// CHECK:           memref.store %{{.*}} : memref<?x?x1x?xf32>
// CHECK-NOT:     vector.store
// CHECK:         return
// NOMMA-LABEL: func.func @probs_group_sum_g16
module attributes {nsa.target = #nsa.target<block_q = 16>} {
func.func @probs_group_sum_g16(%q: tensor<?x?x16x32xbf16>, %kc: tensor<?x?x1x32xbf16>, %lse: tensor<?x?x16xf32>) -> tensor<?x?x1x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse group_sum {config = #nsa.config<>}
      : tensor<?x?x16x32xbf16>, tensor<?x?x1x32xbf16>, tensor<?x?x16xf32> -> tensor<?x?x1x?xf32>
  return %p : tensor<?x?x1x?xf32>
}
}

// -----

// The probability kernels take wgmma too (mma = auto on sm_90a): with
// Dk = 128 the CTA stages its 64 query rows once and S = Q Kc^T is 8
// m64n64k16 steps with both operands in shared memory (64 x 128 x 2 query
// + 64 x 128 x 2 key tile + 1008 bytes of alignment slack); the
// accumulators come out in mma.sync's C layout, so the exp2, the G = 16
// reduce-scatter and the stores are those of the mma.sync kernel.
// CHECK-LABEL: func.func @probs_group_sum_g16_wgmma
// CHECK:       gpu.launch {{.*}} dynamic_shared_memory_size %c33776_i32
// CHECK-NEXT:    nsa.min_ctas_per_sm 4
// CHECK:         memref.view {{.*}} to memref<128x64xbf16, #gpu.address_space<workgroup>>
// CHECK:         nvvm.cp.async.wait.group 0
// CHECK-NEXT:    nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// Each row's -lse in the log2 domain, the addend of p = exp2(fma(s,
// scale, -lse * log2 e)).
// CHECK:         %[[NEGLOG2E:.*]] = arith.constant -1.44269502 : f32
// CHECK-NEXT:    %[[LSE:.*]] = memref.load
// CHECK-NEXT:    %[[NEGLSE:.*]] = arith.mulf %[[LSE]], %[[NEGLOG2E]] : f32
// CHECK:         scf.for
// CHECK-NOT:       nvgpu.ldmatrix
// CHECK-NOT:       nvvm.mma.sync
// CHECK:           nvvm.fence.proxy
// CHECK-NEXT:      gpu.barrier
// CHECK:           "wgmma.fence.sync.aligned;"
// CHECK-COUNT-8:   wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// CHECK-NOT:       wgmma.mma_async
// CHECK:           "wgmma.commit_group.sync.aligned;\0Awgmma.wait_group.sync.aligned 0;"
// CHECK:           %[[ARG:.*]] = math.fma %{{.*}}, %{{.*}}, %[[NEGLSE]] : f32
// CHECK-NEXT:      llvm.inline_asm asm_dialect = att "ex2.approx.ftz.f32 $0, $1;", "=f,f" %[[ARG]] : (f32) -> f32
// CHECK-COUNT-8:   gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK-COUNT-4:   gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK-COUNT-2:   gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK-NOT:       gpu.shuffle
// CHECK:           vector.store %{{.*}}, %{{.*}} : memref<?x?x1x?xf32>, vector<2xf32>
// CHECK-NOT:     nvgpu.ldmatrix
// CHECK-NOT:     nvvm.mma.sync
// CHECK:         return
module attributes {nsa.target = #nsa.target<block_q = 16>} {
func.func @probs_group_sum_g16_wgmma(%q: tensor<?x?x16x128xbf16>, %kc: tensor<?x?x1x128xbf16>, %lse: tensor<?x?x16xf32>) -> tensor<?x?x1x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse group_sum {config = #nsa.config<>}
      : tensor<?x?x16x128xbf16>, tensor<?x?x1x128xbf16>, tensor<?x?x16xf32> -> tensor<?x?x1x?xf32>
  return %p : tensor<?x?x1x?xf32>
}
}

// -----

// G = 16 with one position per tile: one slab, fewer than the CTA's warps,
// so warp-private 32-key chunks (4 n-tiles): the reduce-scatter halves 8
// sums to 4, 2 and 1 (4 + 2 + 1 shuffles) and each lane stores one column.
// CHECK-LABEL: func.func @probs_group_sum_g16_private
// CHECK-COUNT-4: gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK-COUNT-2: gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK-COUNT-1: gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK-NOT:     gpu.shuffle
// CHECK:         scf.yield %{{[^,]*}} : f32
// CHECK:         memref.store %{{.*}} : memref<?x?x1x?xf32>
// CHECK-NOT:     vector.store
// CHECK:         return
module attributes {nsa.target = #nsa.target<block_q = 1>} {
func.func @probs_group_sum_g16_private(%q: tensor<?x?x16x32xbf16>, %kc: tensor<?x?x1x32xbf16>, %lse: tensor<?x?x16xf32>) -> tensor<?x?x1x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse group_sum {config = #nsa.config<>}
      : tensor<?x?x16x32xbf16>, tensor<?x?x1x32xbf16>, tensor<?x?x16xf32> -> tensor<?x?x1x?xf32>
  return %p : tensor<?x?x1x?xf32>
}
}

// -----

// G = 3 does not divide the 16 rows of a slab: the CUDA-core kernel.
// CHECK-LABEL: func.func @probs_group_sum_g3
// CHECK-NOT:   nvvm.mma.sync
// CHECK:       gpu.launch
// CHECK:         scf.for %{{.*}} = %c0{{.*}} to %c3{{.*}} step %c1{{.*}} iter_args
// CHECK-NOT:   nvvm.mma.sync
// CHECK:       return
// NOMMA-LABEL: func.func @probs_group_sum_g3
module attributes {nsa.target = #nsa.target<block_q = 16>} {
func.func @probs_group_sum_g3(%q: tensor<?x?x6x32xbf16>, %kc: tensor<?x?x2x32xbf16>, %lse: tensor<?x?x6xf32>) -> tensor<?x?x2x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse group_sum {config = #nsa.config<>}
      : tensor<?x?x6x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x6xf32> -> tensor<?x?x2x?xf32>
  return %p : tensor<?x?x2x?xf32>
}
}
