// RUN: nsa-opt %s --nsa-to-nvvm -split-input-file | FileCheck %s
// RUN: nsa-opt %s --nsa-to-nvvm=chip=sm_80 -split-input-file | FileCheck %s --check-prefix=SM80
// RUN: not nsa-opt %s --nsa-to-nvvm=chip=sm_70 -split-input-file 2>&1 | FileCheck %s --check-prefix=BADCHIP

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
// CHECK:       func.func @layer_bf16

// SM80: #nvvm.target<chip = "sm_80"
// BADCHIP: chip "sm_70" is not one of sm_80, sm_86, sm_89, sm_90, sm_90a
// BADCHIP-NOT: see current operation

func.func @layer(%q: tensor<?x?x8x64xf32> {nsa.name = "q"}, %k: tensor<?x?x2x64xf32>,
                 %v: tensor<?x?x2x64xf32>, %g: tensor<?x?x8x3xf32>)
    -> (tensor<?x?x8x64xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %o, %l1, %l2, %l3 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<?x?x8x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x8x3xf32>)
      -> (tensor<?x?x8x64xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  return %o, %l1, %l2, %l3
      : tensor<?x?x8x64xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// bf16: the tile kernels of the three branches and of the probabilities
// reach NVVM as tensor-core code for sm_90a and sm_80 alike: cp.async
// copies into shared memory, ldmatrix, mma.sync m16n8k16 with bf16
// operands and f32 accumulators.
// RUN: nsa-opt %s --nsa-to-nvvm -split-input-file | FileCheck %s --check-prefix=MMA
// RUN: nsa-opt %s --nsa-to-nvvm=chip=sm_80 -split-input-file | FileCheck %s --check-prefix=MMA
// MMA-LABEL: func.func @layer_bf16
// MMA:       gpu.module @layer_bf16_kernel
// MMA:         nvvm.cp.async.shared.global
// MMA:         nvvm.cp.async.commit.group
// MMA:         nvvm.cp.async.wait.group 1
// MMA:         nvvm.ldmatrix
// MMA:         nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// The output pairs reach LLVM as whole, aligned 4-byte stores into shared
// memory (with the element's 2-byte alignment LLVM would split each into
// two), and the rows leave it as aligned 16-byte pieces.
// MMA:         llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<2xbf16>, !llvm.ptr<3>
// MMA:         llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr{{$}}

func.func @layer_bf16(%q: tensor<?x?x16x64xbf16> {nsa.name = "q"}, %k: tensor<?x?x1x64xbf16>,
                      %v: tensor<?x?x1x64xbf16>, %g: tensor<?x?x16x3xbf16>)
    -> (tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) {
  %o, %l1, %l2, %l3 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<?x?x16x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x16x3xbf16>)
      -> (tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>)
  return %o, %l1, %l2, %l3
      : tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>
}

// -----

// The CTA-shared online-softmax kernels (compressed and window attention)
// ask for #nsa.target's min_ctas_per_sm (default 3) resident CTAs per SM,
// the probability kernel for probs_min_ctas_per_sm (default 4):
// nvvm.minctasm on those three outlined kernels only (not the selected
// kernel or the CUDA-core f32 kernels); 0 leaves it to ptxas.
// RUN: nsa-opt %s --nsa-to-nvvm -split-input-file | FileCheck %s --check-prefix=OCC
// OCC-LABEL: func.func @layer(
// OCC-NOT:   nvvm.minctasm
// OCC-LABEL: func.func @layer_bf16(
// OCC:       nvvm.minctasm = 3 : i32
// OCC:       nvvm.minctasm = 4 : i32
// OCC:       nvvm.minctasm = 3 : i32
// OCC-NOT:   nvvm.minctasm
// OCC-LABEL: func.func @layer_bf16_no_hint(
// OCC-NOT:   nvvm.minctasm
// OCC-NOT:   nsa.min_ctas_per_sm
// The two counts are separate: only the probability kernel's is set here.
// OCC-LABEL: func.func @layer_bf16_probs_hint_only(
// OCC:       nvvm.minctasm = 2 : i32
// OCC-NOT:   nvvm.minctasm
module attributes {nsa.target = #nsa.target<min_ctas_per_sm = 0, probs_min_ctas_per_sm = 0>} {
func.func @layer_bf16_no_hint(%q: tensor<?x?x16x64xbf16> {nsa.name = "q"}, %k: tensor<?x?x1x64xbf16>,
                              %v: tensor<?x?x1x64xbf16>, %g: tensor<?x?x16x3xbf16>)
    -> (tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) {
  %o, %l1, %l2, %l3 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<?x?x16x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x16x3xbf16>)
      -> (tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>)
  return %o, %l1, %l2, %l3
      : tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>
}
}

// -----

module attributes {nsa.target = #nsa.target<min_ctas_per_sm = 0, probs_min_ctas_per_sm = 2>} {
func.func @layer_bf16_probs_hint_only(%q: tensor<?x?x16x64xbf16> {nsa.name = "q"}, %k: tensor<?x?x1x64xbf16>,
                              %v: tensor<?x?x1x64xbf16>, %g: tensor<?x?x16x3xbf16>)
    -> (tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) {
  %o, %l1, %l2, %l3 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<?x?x16x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x16x3xbf16>)
      -> (tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>)
  return %o, %l1, %l2, %l3
      : tensor<?x?x16x64xbf16>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>
}
}
