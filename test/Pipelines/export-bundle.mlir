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
// CHECK:          "shared_memory_bytes": 34816
// CHECK:      "outputs": [
// CHECK:          "dtype": "bf16",
// CHECK-NEXT:     "name": "out0",
// CHECK:          "dtype": "f32",
// CHECK-NEXT:     "name": "out1",
// CHECK:      "version": 1

// PTX: .target sm_90a
// PTX: .visible .entry window_kernel(
// The kernel body's blocks are laid out in any order.
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16

func.func @window(%q: tensor<?x?x8x128xbf16> {nsa.name = "q"}, %k: tensor<?x?x2x128xbf16> {nsa.name = "k"},
                  %v: tensor<?x?x2x128xbf16> {nsa.name = "v"})
    -> (tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>) {
  %o, %lse = nsa.window %q, %k, %v {config = #nsa.config<>}
      : tensor<?x?x8x128xbf16>, tensor<?x?x2x128xbf16>, tensor<?x?x2x128xbf16>
      -> tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
  return %o, %lse : tensor<?x?x8x128xbf16>, tensor<?x?x8xf32>
}
