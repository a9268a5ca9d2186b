// REQUIRES: ptxas
// RUN: rm -rf %t.nsab
// RUN: nsa-opt %s --nsa-to-nvvm --nsa-export-bundle=dir=%t.nsab -o /dev/null
// RUN: FileCheck %s --input-file=%t.nsab/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file=%t.nsab/kernels.ptx
// RUN: test -s %t.nsab/kernels.cubin
// With ptx=false there is no kernels.ptx and the manifest names only the cubin.
// RUN: rm -rf %t.noptx
// RUN: nsa-opt %s --nsa-to-nvvm --nsa-export-bundle="dir=%t.noptx ptx=false" -o /dev/null
// RUN: test -s %t.noptx/kernels.cubin
// RUN: not test -e %t.noptx/kernels.ptx
// RUN: grep -q '"cubin": "kernels.cubin"' %t.noptx/manifest.json
// RUN: not grep -q '"ptx"' %t.noptx/manifest.json

// The window branch as a bundle: inputs and outputs with their symbolic
// shapes, one launch of the tensor-core tile kernel: one warp per (tile,
// 16-row slab), B * ceil(T / 64) * H tiles of 64 positions x 4 heads = 16
// slabs, 4 warps per block sharing 64 keys x (136 + 136) x 2 bytes of
// dynamic shared memory.

// CHECK:      "chip": "sm_90a"
// CHECK:      "format": "nsa-bundle"
// CHECK:      "function": "window"
// CHECK:      "inputs": [
// CHECK:          "dtype": "bf16",
// CHECK-NEXT:     "name": "q",
// CHECK-NEXT:     "shape": [
// CHECK-NEXT:       "B",
// CHECK-NEXT:       "T",
// CHECK-NEXT:       8,
// CHECK-NEXT:       128
// CHECK:      "launches": [
// CHECK:          "args": [
// CHECK:              "kind": "memref",
// CHECK-NEXT:         "tensor": "q"
// CHECK:          "block": [
// CHECK-NEXT:       128,
// CHECK-NEXT:       1,
// CHECK-NEXT:       1
// CHECK:          "grid": [
// CHECK-NEXT:       "(((B * (T ceildiv 64)) * 32) ceildiv 4)",
// CHECK-NEXT:       1,
// CHECK-NEXT:       1
// CHECK:          "kernel": "window_kernel"
// wgmma (the sm_90a default): the query tile, 64 x 128 x 2 bytes, one K/V
// stage, 64 x (128 + 128) x 2, and 1008 bytes to align them to 1024.
// CHECK:          "shared_memory_bytes": 50160
// CHECK:      "outputs": [
// CHECK:          "dtype": "bf16",
// CHECK-NEXT:     "name": "out0",
// CHECK:          "dtype": "f32",
// CHECK-NEXT:     "name": "out1",
// CHECK:      "version": 1

// PTX: .target sm_90a
// PTX: .visible .entry window_kernel(
// The kernel body's blocks are laid out in any order. S = Q K^T with both
// operands in shared memory, O += P V with P in registers and V transposed.
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: fence.proxy.async.shared::cta
// PTX-DAG: wgmma.fence.sync.aligned
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// PTX-DAG: wgmma.wait_group.sync.aligned 0
// PTX-DAG: shfl.sync.bfly.b32
// PTX-NOT: ldmatrix
// PTX-NOT: mma.sync.aligned

func.func @window(%q: tensor<?x?x8x128xbf16> {nsa.name = "q"}, %k: tensor<?x?x2x128xbf16> {nsa.name = "k"},
                  %v: tensor<?x?x2x128xbf16> {nsa.name = "v"})
    -> (tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>) {
  %o, %lse = nsa.window %q, %k, %v {config = #nsa.config<>}
      : tensor<?x?x8x128xbf16>, tensor<?x?x2x128xbf16>, tensor<?x?x2x128xbf16>
      -> tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
  return %o, %lse : tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
}
