// RUN: nsa-opt %s --nsa-attach-nvvm-target -split-input-file -verify-diagnostics | FileCheck %s

// Every gpu.module gets the #nvvm.target of the module's #nsa.target chip;
// each nsa.min_ctas_per_sm in an outlined kernel becomes its nvvm.minctasm
// (the largest of several) and is erased.
// CHECK:       gpu.module @kernels [#nvvm.target<chip = "sm_80", features = "+ptx80">]
// CHECK:         gpu.func @hinted() kernel attributes {nvvm.minctasm = 3 : i32}
// CHECK-NOT:       nsa.min_ctas_per_sm
// CHECK:         gpu.func @two_hints() kernel attributes {nvvm.minctasm = 4 : i32}
// CHECK-NOT:       nsa.min_ctas_per_sm
// CHECK:         gpu.func @plain() kernel {
module attributes {gpu.container_module, nsa.target = #nsa.target<chip = "sm_80", shared_memory = 166912>} {
  gpu.module @kernels {
    gpu.func @hinted() kernel {
      nsa.min_ctas_per_sm 3
      gpu.return
    }
    gpu.func @two_hints() kernel {
      nsa.min_ctas_per_sm 2
      nsa.min_ctas_per_sm 4
      gpu.return
    }
    gpu.func @plain() kernel {
      gpu.return
    }
  }
}

// -----

// A hint still in a gpu.launch (not outlined) cannot become a kernel
// attribute.
func.func @not_outlined(%n: index) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1)
      threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    // expected-error @+1 {{'nsa.min_ctas_per_sm' op must be in an outlined gpu.func by now (run gpu-kernel-outlining first)}}
    nsa.min_ctas_per_sm 3
    gpu.terminator
  }
  return
}
