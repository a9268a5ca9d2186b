//===- Plan.h - checking tensors and planning a bundle run ------*- C++ -*-===//
//
// Everything a run decides before touching the GPU, as pure C++ (no CUDA):
// binding the symbols from the input shapes, checking every input and output
// against the manifest, evaluating the buffer, grid and scalar expressions,
// laying out the scratch buffers, and packing each launch's kernel
// parameters (memref descriptors, index and f32 values). The CUDA side
// (Runtime.cpp) only allocates the scratch, adds its base address to the
// scratch-relative parameters and launches.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_RUNTIME_PLAN_H
#define NSA_RUNTIME_PLAN_H

#include "nsa/Runtime/Manifest.h"
#include "nsa/Runtime/SizeExpr.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nsa::runtime {

/// A caller's tensor: a device address, a dtype, and a shape and strides
/// (in elements) that stay owned by the caller.
struct TensorRef {
  const void *data = nullptr;
  DType dtype = DType::F32;
  int rank = 0;
  const int64_t *shape = nullptr;
  /// Strides in elements; nullptr means row-major contiguous.
  const int64_t *strides = nullptr;
};

/// Scratch buffers are laid out at multiples of this many bytes.
constexpr uint64_t kScratchAlignment = 256;
/// Every caller tensor's data must be aligned to this many bytes: the
/// tensor-core kernels move 16-byte vectors (cp.async) from row starts.
constexpr uint64_t kDataAlignment = 16;

/// One kernel parameter: its little-endian value and size in bytes (4 or 8).
/// A scratch-relative parameter holds an offset to add to the scratch base.
struct KernelParam {
  uint64_t bits = 0;
  uint8_t size = 8;
  bool scratchRelative = false;
};

struct PlannedLaunch {
  /// Index into Manifest::launches.
  size_t launch = 0;
  uint32_t grid[3] = {0, 0, 0};
  uint32_t block[3] = {0, 0, 0};
  uint32_t sharedMemoryBytes = 0;
  /// True if a grid extent is zero: the launch is not issued.
  bool skipped = false;
  std::vector<KernelParam> params;
};

struct Plan {
  SymbolBindings symbols;
  /// Extents of every tensor, indexed like Manifest::tensor(id).
  std::vector<std::vector<int64_t>> shapes;
  /// Byte offset of each buffer within the scratch allocation.
  std::vector<uint64_t> bufferOffsets;
  /// Bytes of scratch the run needs (0 if no buffer has elements).
  uint64_t scratchBytes = 0;
  std::vector<PlannedLaunch> launches;
};

/// Checks the inputs' count, dtypes, ranks and extents against the manifest
/// and binds the symbols (data pointers and strides are not looked at).
/// Messages name the tensor, e.g.
///   input 'k' (index 1): dim 1 is 100 but T = 77 from 'q'
bool bindInputs(const Manifest &manifest, const TensorRef *inputs,
                size_t numInputs, SymbolBindings &bindings, std::string &error);

/// The output extents for inputs of these shapes (checked as bindInputs
/// does; data pointers and strides are not looked at).
bool inferOutputShapes(const Manifest &manifest, const TensorRef *inputs,
                       size_t numInputs,
                       std::vector<std::vector<int64_t>> &shapes,
                       std::string &error);

/// Checks everything about a run (bindInputs, then the outputs' count,
/// dtypes and shapes, every tensor's data pointer (non-null unless it has no
/// elements, aligned to its element size), row-major contiguity and
/// outputs overlapping other tensors), then evaluates the buffers, grids,
/// blocks and scalar arguments into `plan`.
bool makePlan(const Manifest &manifest, const TensorRef *inputs,
              size_t numInputs, const TensorRef *outputs, size_t numOutputs,
              Plan &plan, std::string &error);

/// Row-major strides (in elements) of `shape`.
std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape);

/// "[2, 100, 64, 128]".
std::string formatShape(const int64_t *shape, size_t rank);
inline std::string formatShape(const std::vector<int64_t> &shape) {
  return formatShape(shape.data(), shape.size());
}

/// The symbols with where they came from: "B = 2 from 'q', T = 77 from 'q'".
std::string describeBindings(const Manifest &manifest,
                             const SymbolBindings &bindings);

} // namespace nsa::runtime

#endif // NSA_RUNTIME_PLAN_H
