//===- nsa-bundle.cpp - inspect, plan and run kernel bundles --------------===//
//
//   nsa-bundle info <dir>                      the manifest, summarized
//   nsa-bundle plan <dir> B=2 T=100            shapes, scratch and launches
//                                              for these symbol values (no GPU)
//   nsa-bundle run  <dir> B=2 T=100 [options]  run on random inputs (GPU)
//       --iters N   time N runs after one warm-up run (CUDA events)
//       --ptx       load kernels.ptx even if the cubin loads
//       --sync      synchronize after each launch (names a faulting kernel)
//
// `run` fills float inputs with uniform values in [-1, 1) (fixed seed),
// integer inputs with zeros, outputs with NaN bytes, and prints per output
// the number of non-finite elements and the mean absolute value.
//
//===----------------------------------------------------------------------===//

#include "nsa/Runtime/Manifest.h"
#include "nsa/Runtime/Plan.h"

#ifdef NSA_RUNTIME_HAVE_CUDA
#include "nsa/Runtime/Runtime.h"
#include <cuda.h>
#endif

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace nsa::runtime;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: nsa-bundle info <dir>\n"
               "       nsa-bundle plan <dir> SYMBOL=VALUE...\n"
               "       nsa-bundle run <dir> SYMBOL=VALUE... [--iters N] "
               "[--ptx] [--sync]\n");
  return 2;
}

const char *argKindName(ArgSpec::Kind kind) {
  switch (kind) {
  case ArgSpec::Kind::Memref:
    return "memref";
  case ArgSpec::Kind::Index:
    return "index";
  case ArgSpec::Kind::F32:
    return "f32";
  }
  return "?";
}

void printTensors(const char *title, const std::vector<TensorSpec> &specs) {
  std::printf("%s:\n", title);
  for (const TensorSpec &spec : specs)
    std::printf("  %-12s %-5s %s\n", spec.name.c_str(), dtypeName(spec.dtype),
                spec.describeShape().c_str());
}

int info(const Manifest &m) {
  std::printf("function: %s\nchip: %s\ncubin: %s\nptx: %s\n",
              m.function.c_str(), m.chip.c_str(), m.cubin.c_str(),
              m.ptx.c_str());
  std::printf("symbols:");
  for (const SymbolSource &s : m.symbols) {
    if (s.input >= 0)
      std::printf(" %s (from %s dim %d)", s.name.c_str(),
                  m.inputs[s.input].name.c_str(), s.dim);
    else
      std::printf(" %s (unused)", s.name.c_str());
  }
  std::printf("\n");
  printTensors("inputs", m.inputs);
  printTensors("outputs", m.outputs);
  printTensors("buffers", m.buffers);
  std::printf("launches:\n");
  for (size_t l = 0; l < m.launches.size(); ++l) {
    const LaunchSpec &launch = m.launches[l];
    std::printf("  %zu %s grid [%s, %s, %s] block [%s, %s, %s] smem %lld\n", l,
                launch.kernel.c_str(), launch.grid[0].text().c_str(),
                launch.grid[1].text().c_str(), launch.grid[2].text().c_str(),
                launch.block[0].text().c_str(), launch.block[1].text().c_str(),
                launch.block[2].text().c_str(),
                static_cast<long long>(launch.sharedMemoryBytes));
    for (const ArgSpec &arg : launch.args) {
      std::printf("      %-6s ", argKindName(arg.kind));
      if (arg.kind == ArgSpec::Kind::Memref)
        std::printf("%s\n", m.tensor(arg.tensor).name.c_str());
      else if (arg.kind == ArgSpec::Kind::Index)
        std::printf("%s\n", arg.value.text().c_str());
      else
        std::printf("%g\n", static_cast<double>(arg.f32));
    }
  }
  return 0;
}

/// Input shapes from SYMBOL=VALUE arguments.
bool inputShapes(const Manifest &m, const std::vector<std::string> &assignments,
                 std::vector<std::vector<int64_t>> &shapes,
                 std::string &error) {
  SymbolBindings bindings;
  for (const SymbolSource &s : m.symbols) {
    bindings.names.push_back(s.name);
    bindings.values.push_back(0);
    bindings.bound.push_back(false);
  }
  for (const std::string &a : assignments) {
    size_t eq = a.find('=');
    if (eq == std::string::npos) {
      error = "expected SYMBOL=VALUE, got '" + a + "'";
      return false;
    }
    std::string name = a.substr(0, eq);
    char *end = nullptr;
    long long value = std::strtoll(a.c_str() + eq + 1, &end, 10);
    if (eq + 1 == a.size() || *end != '\0' || value < 0) {
      error = "bad value in '" + a + "' (expected a non-negative integer)";
      return false;
    }
    bool known = false;
    for (const SymbolSource &s : m.symbols)
      known |= s.name == name;
    if (!known) {
      error = "the bundle has no symbol '" + name + "'";
      return false;
    }
    bindings.set(name, value);
  }
  shapes.clear();
  for (const TensorSpec &spec : m.inputs) {
    std::vector<int64_t> shape;
    for (const SizeExpr &extent : spec.shape) {
      int64_t value;
      if (!extent.evaluate(bindings, value, error)) {
        error = "input '" + spec.name + "': " + error;
        return false;
      }
      shape.push_back(value);
    }
    shapes.push_back(std::move(shape));
  }
  return true;
}

std::vector<TensorRef> refsFor(const std::vector<TensorSpec> &specs,
                               const std::vector<std::vector<int64_t>> &shapes,
                               const std::vector<void *> &data) {
  std::vector<TensorRef> refs(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    refs[i].data = data[i];
    refs[i].dtype = specs[i].dtype;
    refs[i].rank = specs[i].rank();
    refs[i].shape = shapes[i].data();
  }
  return refs;
}

int plan(const Manifest &m, const std::vector<std::string> &assignments) {
  std::string error;
  std::vector<std::vector<int64_t>> in, out;
  if (!inputShapes(m, assignments, in, error)) {
    std::fprintf(stderr, "nsa-bundle: %s\n", error.c_str());
    return 1;
  }
  std::vector<void *> inData, outData;
  // Fake, distinct, well-aligned addresses: the plan never dereferences them.
  uintptr_t next = 0x100000000ull;
  for (size_t i = 0; i < m.inputs.size(); ++i, next += 0x100000000ull)
    inData.push_back(reinterpret_cast<void *>(next));
  std::vector<TensorRef> inRefs = refsFor(m.inputs, in, inData);
  if (!inferOutputShapes(m, inRefs.data(), inRefs.size(), out, error)) {
    std::fprintf(stderr, "nsa-bundle: %s\n", error.c_str());
    return 1;
  }
  for (size_t j = 0; j < m.outputs.size(); ++j, next += 0x100000000ull)
    outData.push_back(reinterpret_cast<void *>(next));
  std::vector<TensorRef> outRefs = refsFor(m.outputs, out, outData);
  Plan p;
  if (!makePlan(m, inRefs.data(), inRefs.size(), outRefs.data(), outRefs.size(),
                p, error)) {
    std::fprintf(stderr, "nsa-bundle: %s\n", error.c_str());
    return 1;
  }
  std::printf("symbols: %s\n", describeBindings(m, p.symbols).c_str());
  for (int id = 0; id < m.numTensors(); ++id) {
    const TensorSpec &spec = m.tensor(id);
    std::printf("%-6s %-12s %-5s %s", roleName(spec.role), spec.name.c_str(),
                dtypeName(spec.dtype), formatShape(p.shapes[id]).c_str());
    if (spec.role == TensorRole::Buffer)
      std::printf("  at scratch + %llu",
                  static_cast<unsigned long long>(p.bufferOffsets[spec.index]));
    std::printf("\n");
  }
  std::printf("scratch: %llu bytes\n",
              static_cast<unsigned long long>(p.scratchBytes));
  for (const PlannedLaunch &launch : p.launches) {
    std::printf("launch %zu %s grid [%u, %u, %u] block [%u, %u, %u] smem %u "
                "params %zu%s\n",
                launch.launch, m.launches[launch.launch].kernel.c_str(),
                launch.grid[0], launch.grid[1], launch.grid[2], launch.block[0],
                launch.block[1], launch.block[2], launch.sharedMemoryBytes,
                launch.params.size(),
                launch.skipped ? " (skipped: zero grid extent)" : "");
  }
  return 0;
}

#ifdef NSA_RUNTIME_HAVE_CUDA

uint16_t toBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7fff + ((bits >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t toF16(float f) {
  // Values here are in [-1, 1): normal or subnormal halves, no overflow.
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  float a = std::fabs(f);
  if (a < 6.103515625e-05f) // subnormal half
    return sign |
           static_cast<uint16_t>(std::lrint(a / 5.9604644775390625e-08f));
  int exponent;
  float mantissa = std::frexp(a, &exponent); // a = m * 2^e, m in [0.5, 1)
  long m = std::lrint((mantissa * 2 - 1) * 1024);
  int e = exponent - 1 + 15;
  if (m == 1024) {
    m = 0;
    ++e;
  }
  return sign | static_cast<uint16_t>((e << 10) | m);
}

float fromBF16(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float fromF16(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0    ? std::ldexp(static_cast<float>(m), -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : std::ldexp(static_cast<float>(m + 1024), e - 25);
  return (h & 0x8000) ? -v : v;
}

bool cudaOk(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return true;
  const char *name = nullptr;
  cuGetErrorName(r, &name);
  std::fprintf(stderr, "nsa-bundle: %s failed: %s\n", what,
               name ? name : "unknown error");
  return false;
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t e : shape)
    n *= e;
  return n;
}

int run(const std::string &dir, const std::vector<std::string> &assignments,
        int iters, bool ptx, bool sync) {
  LoadOptions options;
  options.preferPtx = ptx;
  options.syncAfterEachLaunch = sync;
  Error error;
  std::unique_ptr<Bundle> bundle = Bundle::load(dir, error, options);
  if (!bundle) {
    std::fprintf(stderr, "nsa-bundle: %s\n", error.message.c_str());
    return 1;
  }
  std::printf("%s\n", bundle->loadNote().c_str());
  const Manifest &m = bundle->manifest();
  std::string message;
  std::vector<std::vector<int64_t>> in, out;
  if (!inputShapes(m, assignments, in, message)) {
    std::fprintf(stderr, "nsa-bundle: %s\n", message.c_str());
    return 1;
  }
  std::vector<void *> none(m.inputs.size(), nullptr);
  std::vector<TensorRef> probe = refsFor(m.inputs, in, none);
  if (!bundle->outputShapes(probe.data(), probe.size(), out, error)) {
    std::fprintf(stderr, "nsa-bundle: %s\n", error.message.c_str());
    return 1;
  }

  // The bundle's context is current only inside its calls: use the primary
  // context of device 0 here too (what Bundle::load picked, with no context).
  CUdevice device;
  CUcontext context;
  if (!cudaOk(cuDeviceGet(&device, 0), "cuDeviceGet") ||
      !cudaOk(cuDevicePrimaryCtxRetain(&context, device),
              "cuDevicePrimaryCtxRetain") ||
      !cudaOk(cuCtxSetCurrent(context), "cuCtxSetCurrent"))
    return 1;

  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<CUdeviceptr> inPtr(m.inputs.size()), outPtr(m.outputs.size());
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    int64_t n = numElements(in[i]);
    size_t bytes = static_cast<size_t>(n * dtypeSize(m.inputs[i].dtype));
    std::vector<unsigned char> host(bytes, 0);
    for (int64_t e = 0; e < n; ++e) {
      float v = uniform(rng);
      switch (m.inputs[i].dtype) {
      case DType::F32:
        std::memcpy(&host[e * 4], &v, 4);
        break;
      case DType::BF16: {
        uint16_t h = toBF16(v);
        std::memcpy(&host[e * 2], &h, 2);
        break;
      }
      case DType::F16: {
        uint16_t h = toF16(v);
        std::memcpy(&host[e * 2], &h, 2);
        break;
      }
      default:
        break; // integers: zeros
      }
    }
    if (bytes &&
        (!cudaOk(cuMemAlloc(&inPtr[i], bytes), "cuMemAlloc") ||
         !cudaOk(cuMemcpyHtoD(inPtr[i], host.data(), bytes), "cuMemcpyHtoD")))
      return 1;
  }
  for (size_t j = 0; j < m.outputs.size(); ++j) {
    size_t bytes = static_cast<size_t>(numElements(out[j]) *
                                       dtypeSize(m.outputs[j].dtype));
    if (bytes && (!cudaOk(cuMemAlloc(&outPtr[j], bytes), "cuMemAlloc") ||
                  !cudaOk(cuMemsetD8(outPtr[j], 0xff, bytes), "cuMemsetD8")))
      return 1;
  }
  std::vector<void *> inData, outData;
  for (CUdeviceptr p : inPtr)
    inData.push_back(reinterpret_cast<void *>(p));
  for (CUdeviceptr p : outPtr)
    outData.push_back(reinterpret_cast<void *>(p));
  std::vector<TensorRef> inRefs = refsFor(m.inputs, in, inData);
  std::vector<TensorRef> outRefs = refsFor(m.outputs, out, outData);

  CUstream stream;
  if (!cudaOk(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING),
              "cuStreamCreate"))
    return 1;
  auto runOnce = [&]() {
    if (!bundle->run(inRefs.data(), inRefs.size(), outRefs.data(),
                     outRefs.size(), reinterpret_cast<CUstream_st *>(stream),
                     error)) {
      std::fprintf(stderr, "nsa-bundle: %s\n", error.message.c_str());
      return false;
    }
    return true;
  };
  if (!runOnce() || !cudaOk(cuStreamSynchronize(stream), "the first run"))
    return 1;
  std::printf("ran %zu launches (%zu skipped), scratch %llu bytes\n",
              bundle->lastRunLaunches(), bundle->lastRunSkipped(),
              static_cast<unsigned long long>(bundle->scratchBytes()));

  for (size_t j = 0; j < m.outputs.size(); ++j) {
    int64_t n = numElements(out[j]);
    size_t bytes = static_cast<size_t>(n * dtypeSize(m.outputs[j].dtype));
    std::vector<unsigned char> host(bytes);
    if (bytes &&
        !cudaOk(cuMemcpyDtoH(host.data(), outPtr[j], bytes), "cuMemcpyDtoH"))
      return 1;
    int64_t bad = 0;
    double sum = 0;
    for (int64_t e = 0; e < n; ++e) {
      double v = 0;
      switch (m.outputs[j].dtype) {
      case DType::F32: {
        float f;
        std::memcpy(&f, &host[e * 4], 4);
        v = f;
        break;
      }
      case DType::BF16: {
        uint16_t h;
        std::memcpy(&h, &host[e * 2], 2);
        v = fromBF16(h);
        break;
      }
      case DType::F16: {
        uint16_t h;
        std::memcpy(&h, &host[e * 2], 2);
        v = fromF16(h);
        break;
      }
      case DType::I32: {
        int32_t x;
        std::memcpy(&x, &host[e * 4], 4);
        v = x;
        break;
      }
      case DType::I64: {
        int64_t x;
        std::memcpy(&x, &host[e * 8], 8);
        v = static_cast<double>(x);
        break;
      }
      }
      if (!std::isfinite(v))
        ++bad;
      else
        sum += std::fabs(v);
    }
    std::printf("output %-12s %s: %lld non-finite of %lld, mean |x| %.6g\n",
                m.outputs[j].name.c_str(), formatShape(out[j]).c_str(),
                static_cast<long long>(bad), static_cast<long long>(n),
                n > bad ? sum / static_cast<double>(n - bad) : 0.0);
  }

  if (iters > 0) {
    CUevent start, stop;
    if (!cudaOk(cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate") ||
        !cudaOk(cuEventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate") ||
        !cudaOk(cuEventRecord(start, stream), "cuEventRecord"))
      return 1;
    for (int i = 0; i < iters; ++i)
      if (!runOnce())
        return 1;
    float ms = 0;
    if (!cudaOk(cuEventRecord(stop, stream), "cuEventRecord") ||
        !cudaOk(cuEventSynchronize(stop), "cuEventSynchronize") ||
        !cudaOk(cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime"))
      return 1;
    std::printf("%d runs: %.4f ms per run\n", iters, ms / iters);
  }
  return 0;
}

#endif // NSA_RUNTIME_HAVE_CUDA

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  std::string command = argv[1], dir = argv[2];
  std::vector<std::string> assignments;
  int iters = 0;
  bool ptx = false, sync = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc)
      iters = std::atoi(argv[++i]);
    else if (a == "--ptx")
      ptx = true;
    else if (a == "--sync")
      sync = true;
    else if (!a.empty() && a[0] == '-')
      return usage();
    else
      assignments.push_back(a);
  }
  if (command == "run") {
#ifdef NSA_RUNTIME_HAVE_CUDA
    return run(dir, assignments, iters, ptx, sync);
#else
    std::fprintf(stderr, "nsa-bundle: built without CUDA; 'run' is not "
                         "available\n");
    return 1;
#endif
  }
  Manifest m;
  std::string error;
  if (!Manifest::load(dir, m, error)) {
    std::fprintf(stderr, "nsa-bundle: %s\n", error.c_str());
    return 1;
  }
  if (command == "info")
    return info(m);
  if (command == "plan")
    return plan(m, assignments);
  return usage();
}
