// RUN: nsa-opt %s --nsa-to-nvvm | FileCheck %s
// RUN: nsa-opt %s --nsa-to-nvvm=chip=sm_80 | FileCheck %s --check-prefix=SM80
// RUN: not nsa-opt %s --nsa-to-nvvm=chip=sm_70 2>&1 | FileCheck %s --check-prefix=BADCHIP

// The whole NSA layer lowers to one gpu.module of NVVM kernels and a host
// function on memrefs that allocates the scratch buffers and launches the
// kernels in order: compression, compressed attention (tile kernel),
// probabilities, selection scores, top-n, selected and window attention
// (tile kernels), combine.

// CHECK:       func.func @layer(%{{.*}}: memref<?x?x8x64xf32> {nsa.name = "q"}
// CHECK-NOT:   nsa.
// CHECK:       memref.alloc
// CHECK:       gpu.launch_func @layer_kernel::@layer_kernel
// The compressed tile kernel: 128 threads.
// CHECK:       gpu.launch_func @layer_kernel::@layer_kernel_{{[0-9]+}} blocks in (%{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c128
// CHECK:       return
// CHECK:       gpu.module @layer_kernel [#nvvm.target<chip = "sm_90a", features = "+ptx80">]
// CHECK:         llvm.func @layer_kernel(
// CHECK-SAME:    gpu.kernel
// The online softmax: exp through libdevice, the q.k reduction through
// warp shuffles.
// CHECK:         nvvm.shfl.sync bfly
// CHECK:         llvm.call @__nv_expf
// CHECK-NOT:     gpu.module

// SM80: #nvvm.target<chip = "sm_80"
// BADCHIP: chip "sm_70" is not one of sm_80, sm_86, sm_89, sm_90, sm_90a

func.func @layer(%q: tensor<?x?x8x64xf32> {nsa.name = "q"}, %k: tensor<?x?x2x64xf32>,
                 %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x8x3xf32>)
    -> (tensor<?x?x8x64xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %o, %l1, %l2, %l3 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<?x?x8x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x8x3xf32>)
      -> (tensor<?x?x8x64xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  return %o, %l1, %l2, %l3
      : tensor<?x?x8x64xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}
