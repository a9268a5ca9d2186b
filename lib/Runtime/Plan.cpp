//===- Plan.cpp - checking tensors and planning a bundle run --------------===//

#include "nsa/Runtime/Plan.h"

#include <cstdio>
#include <cstring>
#include <limits>

namespace nsa::runtime {

namespace {

std::string quote(const std::string &s) { return "'" + s + "'"; }

std::string describeTensor(const TensorSpec &spec) {
  return std::string(roleName(spec.role)) + " " + quote(spec.name) +
         " (index " + std::to_string(spec.index) + ")";
}

std::string hexAddress(const void *p) {
  char buffer[32];
  std::snprintf(
      buffer, sizeof(buffer), "0x%llx",
      static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(p)));
  return buffer;
}

std::string nameList(const std::vector<TensorSpec> &specs) {
  std::string s;
  for (const TensorSpec &spec : specs)
    s += (s.empty() ? "" : ", ") + spec.name;
  return s;
}

std::string countOf(size_t n, const char *noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

SymbolBindings emptyBindings(const Manifest &manifest) {
  SymbolBindings bindings;
  for (const SymbolSource &symbol : manifest.symbols) {
    bindings.names.push_back(symbol.name);
    bindings.values.push_back(0);
    bindings.bound.push_back(false);
  }
  return bindings;
}

/// Checks a caller tensor's dtype and rank against `spec`.
bool checkHeader(const TensorSpec &spec, const TensorRef &t,
                 std::string &error) {
  // Messages only: not built on the per-run success path.
  auto prefix = [&] { return describeTensor(spec); };
  if (!isValidDType(static_cast<int>(t.dtype))) {
    error = prefix() + ": invalid dtype value " +
            std::to_string(static_cast<int>(t.dtype)) +
            " (the bundle expects " + dtypeName(spec.dtype) + ")";
    return false;
  }
  if (t.dtype != spec.dtype) {
    error = prefix() + ": dtype is " + dtypeName(t.dtype) +
            " but the bundle expects " + dtypeName(spec.dtype);
    return false;
  }
  if (t.rank < 0 || t.rank > kMaxRank) {
    error = prefix() + ": rank " + std::to_string(t.rank) +
            " is out of range (0 to " + std::to_string(kMaxRank) + ")";
    return false;
  }
  if (t.rank != spec.rank()) {
    error = prefix() + ": rank is " + std::to_string(t.rank) +
            " but the bundle expects rank " + std::to_string(spec.rank()) +
            " " + spec.describeShape();
    return false;
  }
  if (t.rank > 0 && !t.shape) {
    error = prefix() + ": the shape pointer is null";
    return false;
  }
  for (int d = 0; d < t.rank; ++d)
    if (t.shape[d] < 0) {
      error = prefix() + ": dim " + std::to_string(d) + " is " +
              std::to_string(t.shape[d]) + "; extents must not be negative";
      return false;
    }
  return true;
}

/// Compares a caller's extent with the manifest's expression.
bool checkExtent(const Manifest &manifest, const TensorSpec &spec, int dim,
                 int64_t actual, const SymbolBindings &bindings,
                 std::string &error) {
  const SizeExpr &expected = spec.shape[dim];
  auto prefix = [&] {
    return describeTensor(spec) + ": dim " + std::to_string(dim);
  };
  int64_t value;
  std::string evalError;
  if (!expected.evaluate(bindings, value, evalError)) {
    error = prefix() + ": " + evalError;
    return false;
  }
  if (actual == value)
    return true;
  std::string symbol;
  int64_t constant;
  if (expected.isSymbol(&symbol)) {
    std::string source;
    for (const SymbolSource &s : manifest.symbols)
      if (s.name == symbol && s.input >= 0)
        source = " from " + quote(manifest.inputs[s.input].name);
    error = prefix() + " is " + std::to_string(actual) + " but " + symbol +
            " = " + std::to_string(value) + source;
  } else if (expected.isConstant(&constant)) {
    error = prefix() + " is " + std::to_string(actual) +
            " but the bundle expects " + std::to_string(value);
  } else {
    error = prefix() + " is " + std::to_string(actual) + " but " +
            quote(expected.text()) + " = " + std::to_string(value) + " (" +
            describeBindings(manifest, bindings) + ")";
  }
  return false;
}

/// Evaluates the extents of a tensor of the manifest.
bool evaluateShape(const Manifest &manifest, const TensorSpec &spec,
                   const SymbolBindings &bindings, std::vector<int64_t> &out,
                   std::string &error) {
  out.clear();
  for (int d = 0; d < spec.rank(); ++d) {
    int64_t value;
    std::string evalError;
    if (!spec.shape[d].evaluate(bindings, value, evalError)) {
      error = describeTensor(spec) + ": dim " + std::to_string(d) + ": " +
              evalError;
      return false;
    }
    if (value < 0) {
      error = describeTensor(spec) + ": dim " + std::to_string(d) + " " +
              quote(spec.shape[d].text()) + " evaluates to " +
              std::to_string(value) + " (" +
              describeBindings(manifest, bindings) + ")";
      return false;
    }
    out.push_back(value);
  }
  return true;
}

/// Elements and bytes of a tensor of `shape`; false on overflow.
bool sizeInBytes(const std::vector<int64_t> &shape, DType dtype,
                 int64_t &elements, int64_t &bytes) {
  int64_t n = 1;
  for (int64_t extent : shape)
    if (__builtin_mul_overflow(n, extent, &n))
      return false;
  elements = n;
  return !__builtin_mul_overflow(n, dtypeSize(dtype), &bytes);
}

/// Checks a caller tensor's pointer and strides; returns its byte size.
bool checkStorage(const TensorSpec &spec, const TensorRef &t,
                  const std::vector<int64_t> &shape, int64_t &bytes,
                  std::string &error) {
  auto prefix = [&] { return describeTensor(spec); };
  int64_t elements;
  if (!sizeInBytes(shape, spec.dtype, elements, bytes)) {
    error =
        prefix() + ": its size " + formatShape(shape) + " overflows 64 bits";
    return false;
  }
  if (elements == 0)
    return true; // nothing is read or written: any pointer and strides
  if (!t.data) {
    error = prefix() + ": the data pointer is null";
    return false;
  }
  uintptr_t address = reinterpret_cast<uintptr_t>(t.data);
  if (address % kDataAlignment != 0) {
    error = prefix() + ": the data pointer " + hexAddress(t.data) +
            " is not " + std::to_string(kDataAlignment) +
            "-byte aligned (the kernels move 16-byte vectors)";
    return false;
  }
  if (!t.strides)
    return true;
  std::vector<int64_t> expected = rowMajorStrides(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    // An extent-1 dimension is never stepped over: any stride will do.
    if (shape[d] != 1 && t.strides[d] != expected[d]) {
      error = prefix() + ": not contiguous: strides " +
              formatShape(t.strides, shape.size()) + " but a row-major " +
              formatShape(shape) + " tensor has strides " +
              formatShape(expected) + " (in elements)";
      return false;
    }
  }
  return true;
}

uint64_t alignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

} // namespace

std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    strides[d] = stride;
    // Wraps only for shapes whose size already overflowed (rejected first).
    stride = static_cast<int64_t>(static_cast<uint64_t>(stride) *
                                  static_cast<uint64_t>(shape[d]));
  }
  return strides;
}

std::string formatShape(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string describeBindings(const Manifest &manifest,
                             const SymbolBindings &bindings) {
  std::string s;
  for (const SymbolSource &symbol : manifest.symbols) {
    const int64_t *value = bindings.lookup(symbol.name);
    if (!value)
      continue;
    if (!s.empty())
      s += ", ";
    s += symbol.name + " = " + std::to_string(*value);
    if (symbol.input >= 0 &&
        static_cast<size_t>(symbol.input) < manifest.inputs.size())
      s += " from " + quote(manifest.inputs[symbol.input].name);
  }
  return s.empty() ? "no symbols" : s;
}

bool bindInputs(const Manifest &manifest, const TensorRef *inputs,
                size_t numInputs, SymbolBindings &bindings,
                std::string &error) {
  if (numInputs != manifest.inputs.size()) {
    error = "expected " + countOf(manifest.inputs.size(), "input") + " (" +
            nameList(manifest.inputs) + "), got " + std::to_string(numInputs);
    return false;
  }
  if (numInputs > 0 && !inputs) {
    error = "the inputs array is null";
    return false;
  }
  bindings = emptyBindings(manifest);
  for (size_t i = 0; i < numInputs; ++i)
    if (!checkHeader(manifest.inputs[i], inputs[i], error))
      return false;
  for (const SymbolSource &symbol : manifest.symbols)
    if (symbol.input >= 0)
      bindings.set(symbol.name, inputs[symbol.input].shape[symbol.dim]);
  for (size_t i = 0; i < numInputs; ++i) {
    const TensorSpec &spec = manifest.inputs[i];
    for (int d = 0; d < spec.rank(); ++d)
      if (!checkExtent(manifest, spec, d, inputs[i].shape[d], bindings, error))
        return false;
  }
  return true;
}

bool inferOutputShapes(const Manifest &manifest, const TensorRef *inputs,
                       size_t numInputs,
                       std::vector<std::vector<int64_t>> &shapes,
                       std::string &error) {
  SymbolBindings bindings;
  if (!bindInputs(manifest, inputs, numInputs, bindings, error))
    return false;
  std::vector<std::vector<int64_t>> result(manifest.outputs.size());
  for (size_t j = 0; j < manifest.outputs.size(); ++j)
    if (!evaluateShape(manifest, manifest.outputs[j], bindings, result[j],
                       error))
      return false;
  shapes = std::move(result);
  return true;
}

bool makePlan(const Manifest &manifest, const TensorRef *inputs,
              size_t numInputs, const TensorRef *outputs, size_t numOutputs,
              Plan &plan, std::string &error) {
  Plan result;
  if (!bindInputs(manifest, inputs, numInputs, result.symbols, error))
    return false;
  if (numOutputs != manifest.outputs.size()) {
    error = "expected " + countOf(manifest.outputs.size(), "output") + " (" +
            nameList(manifest.outputs) + "), got " + std::to_string(numOutputs);
    return false;
  }
  if (numOutputs > 0 && !outputs) {
    error = "the outputs array is null";
    return false;
  }

  const size_t numIn = manifest.inputs.size();
  const size_t numOut = manifest.outputs.size();
  result.shapes.resize(manifest.numTensors());
  std::vector<int64_t> bytes(numIn + numOut, 0);
  std::vector<const void *> data(numIn + numOut, nullptr);

  for (size_t i = 0; i < numIn; ++i) {
    const TensorRef &t = inputs[i];
    result.shapes[i].assign(t.shape, t.shape + t.rank);
    data[i] = t.data;
    if (!checkStorage(manifest.inputs[i], t, result.shapes[i], bytes[i], error))
      return false;
  }
  for (size_t j = 0; j < numOut; ++j) {
    const TensorSpec &spec = manifest.outputs[j];
    const TensorRef &t = outputs[j];
    if (!checkHeader(spec, t, error))
      return false;
    for (int d = 0; d < spec.rank(); ++d)
      if (!checkExtent(manifest, spec, d, t.shape[d], result.symbols, error))
        return false;
    std::vector<int64_t> &shape = result.shapes[numIn + j];
    shape.assign(t.shape, t.shape + t.rank);
    data[numIn + j] = t.data;
    if (!checkStorage(spec, t, shape, bytes[numIn + j], error))
      return false;
  }
  // Kernels write the outputs: none may share memory with another tensor.
  for (size_t j = numIn; j < numIn + numOut; ++j) {
    uintptr_t a = reinterpret_cast<uintptr_t>(data[j]);
    for (size_t k = 0; k < numIn + numOut; ++k) {
      if (k == j || bytes[j] == 0 || bytes[k] == 0)
        continue;
      uintptr_t b = reinterpret_cast<uintptr_t>(data[k]);
      if (a < b + static_cast<uintptr_t>(bytes[k]) &&
          b < a + static_cast<uintptr_t>(bytes[j])) {
        error = describeTensor(manifest.tensor(static_cast<int>(j))) +
                " overlaps " +
                describeTensor(manifest.tensor(static_cast<int>(k))) +
                "; outputs must not share memory with other tensors";
        return false;
      }
    }
  }

  // Scratch buffers, each at a multiple of kScratchAlignment.
  uint64_t total = 0;
  for (size_t b = 0; b < manifest.buffers.size(); ++b) {
    const TensorSpec &spec = manifest.buffers[b];
    std::vector<int64_t> &shape = result.shapes[numIn + numOut + b];
    if (!evaluateShape(manifest, spec, result.symbols, shape, error))
      return false;
    int64_t elements, size;
    if (!sizeInBytes(shape, spec.dtype, elements, size) ||
        static_cast<uint64_t>(size) >
            std::numeric_limits<uint64_t>::max() / 2 - total) {
      error = describeTensor(spec) + ": its size " + formatShape(shape) +
              " overflows 64 bits";
      return false;
    }
    uint64_t offset = alignUp(total, kScratchAlignment);
    result.bufferOffsets.push_back(offset);
    total = offset + static_cast<uint64_t>(size);
  }
  result.scratchBytes = total == 0 ? 0 : alignUp(total, kScratchAlignment);

  // Launches.
  static const int64_t kMaxGrid[3] = {2147483647, 65535, 65535};
  static const int64_t kMaxBlock[3] = {1024, 1024, 64};
  static const char *const kAxis[3] = {"x", "y", "z"};
  for (size_t l = 0; l < manifest.launches.size(); ++l) {
    const LaunchSpec &spec = manifest.launches[l];
    auto where = [&] { return manifest.describeLaunch(l); };
    PlannedLaunch launch;
    launch.launch = l;
    int64_t threads = 1;
    for (int d = 0; d < 3; ++d) {
      int64_t grid, block;
      std::string evalError;
      if (!spec.grid[d].evaluate(result.symbols, grid, evalError)) {
        error = where() + ": grid " + kAxis[d] + ": " + evalError;
        return false;
      }
      if (!spec.block[d].evaluate(result.symbols, block, evalError)) {
        error = where() + ": block " + kAxis[d] + ": " + evalError;
        return false;
      }
      if (grid < 0 || grid > kMaxGrid[d]) {
        error = where() + ": grid " + kAxis[d] + " " +
                quote(spec.grid[d].text()) + " = " + std::to_string(grid) +
                " is outside [0, " + std::to_string(kMaxGrid[d]) + "] (" +
                describeBindings(manifest, result.symbols) + ")";
        return false;
      }
      if (block < 1 || block > kMaxBlock[d]) {
        error = where() + ": block " + kAxis[d] + " " +
                quote(spec.block[d].text()) + " = " + std::to_string(block) +
                " is outside [1, " + std::to_string(kMaxBlock[d]) + "] (" +
                describeBindings(manifest, result.symbols) + ")";
        return false;
      }
      launch.grid[d] = static_cast<uint32_t>(grid);
      launch.block[d] = static_cast<uint32_t>(block);
      threads *= block;
      if (grid == 0)
        launch.skipped = true;
    }
    if (threads > 1024) {
      error = where() + ": a block of " + std::to_string(launch.block[0]) +
              " x " + std::to_string(launch.block[1]) + " x " +
              std::to_string(launch.block[2]) + " = " +
              std::to_string(threads) + " threads exceeds 1024";
      return false;
    }
    launch.sharedMemoryBytes = static_cast<uint32_t>(spec.sharedMemoryBytes);

    if (!launch.skipped) {
      for (size_t a = 0; a < spec.args.size(); ++a) {
        const ArgSpec &arg = spec.args[a];
        switch (arg.kind) {
        case ArgSpec::Kind::Memref: {
          int id = arg.tensor;
          const std::vector<int64_t> &shape = result.shapes[id];
          KernelParam pointer;
          if (static_cast<size_t>(id) < numIn + numOut) {
            pointer.bits =
                static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data[id]));
          } else {
            pointer.bits = result.bufferOffsets[id - numIn - numOut];
            pointer.scratchRelative = true;
          }
          launch.params.push_back(pointer); // allocated pointer
          launch.params.push_back(pointer); // aligned pointer
          launch.params.push_back(KernelParam{0, 8, false}); // offset
          for (int64_t extent : shape)
            launch.params.push_back(
                KernelParam{static_cast<uint64_t>(extent), 8, false});
          for (int64_t stride : rowMajorStrides(shape))
            launch.params.push_back(
                KernelParam{static_cast<uint64_t>(stride), 8, false});
          break;
        }
        case ArgSpec::Kind::Index: {
          int64_t value;
          std::string evalError;
          if (!arg.value.evaluate(result.symbols, value, evalError)) {
            error = where() + ": arg " + std::to_string(a) + ": " + evalError;
            return false;
          }
          launch.params.push_back(
              KernelParam{static_cast<uint64_t>(value), 8, false});
          break;
        }
        case ArgSpec::Kind::F32: {
          uint32_t bits;
          std::memcpy(&bits, &arg.f32, sizeof(bits));
          launch.params.push_back(KernelParam{bits, 4, false});
          break;
        }
        }
      }
    }
    result.launches.push_back(std::move(launch));
  }
  plan = std::move(result);
  return true;
}

} // namespace nsa::runtime
