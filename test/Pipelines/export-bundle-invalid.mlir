// RUN: not nsa-opt %s --nsa-export-bundle 2>&1 | FileCheck %s --check-prefix=NODIR
// RUN: nsa-opt %s --nsa-export-bundle=dir=%t.unused -split-input-file -verify-diagnostics

// NODIR: nsa-export-bundle needs dir=<directory>

// expected-error @+1 {{expected one gpu.module (run nsa-merge-gpu-modules), found 0}}
module {
  func.func @f(%a: memref<?x4xf32>) {
    return
  }
}

// -----

module {
  func.func @f(%a: memref<?x4xf32>) {
    %c0 = arith.constant 0 : index
    // expected-error @+1 {{'memref.copy' op on the host is not supported by the bundle exporter}}
    memref.copy %a, %a : memref<?x4xf32> to memref<?x4xf32>
    return
  }
  gpu.module @k {
  }
}

// -----

module {
  // expected-error @+1 {{argument #0 has dynamic dim 2; only dims 0 (B) and 1 (T) may be dynamic}}
  func.func @f(%a: memref<?x?x?xf32>) -> memref<?x?x?xf32> {
    %c2 = arith.constant 2 : index
    %n = memref.dim %a, %c2 : memref<?x?x?xf32>
    %b = memref.alloc(%n, %n, %n) : memref<?x?x?xf32>
    return %b : memref<?x?x?xf32>
  }
  gpu.module @k {
  }
}

// -----

module {
  func.func @f(%a: memref<4xf32>) -> memref<4xf32> {
    // expected-error @+1 {{'func.return' op result #0 must be a buffer the function allocates, returned once}}
    return %a : memref<4xf32>
  }
  gpu.module @k {
  }
}
