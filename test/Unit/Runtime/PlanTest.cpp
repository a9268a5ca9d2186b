//===- PlanTest.cpp - checking tensors and planning a run (no GPU) --------===//

#include "nsa/Runtime/Plan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace nsa::runtime;

namespace {

const char *const kManifest = R"J({
  "format": "nsa-bundle", "version": 1, "cubin": "kernels.cubin",
  "symbols": ["B", "T"],
  "inputs": [
    {"name": "q", "dtype": "bf16", "shape": ["B", "T", 64, 128]},
    {"name": "k", "dtype": "bf16", "shape": ["B", "T", 4, 128]},
    {"name": "idx", "dtype": "i32", "shape": ["B", "T ceildiv 64"]}
  ],
  "outputs": [
    {"name": "o", "dtype": "bf16", "shape": ["B", "T", 64, 128]},
    {"name": "lse", "dtype": "f32", "shape": ["B", "T", 64]}
  ],
  "buffers": [
    {"name": "buf0", "dtype": "f32",
     "shape": ["B", "max((T - 32) floordiv 16 + 1, 0)", 4, 128]},
    {"name": "buf1", "dtype": "i32", "shape": ["B", "T", 3]}
  ],
  "launches": [
    {"kernel": "compress",
     "grid": ["max((T - 32) floordiv 16 + 1, 0)", "B", 4],
     "block": [128, 1, 1], "shared_memory_bytes": 0,
     "args": [{"kind": "memref", "tensor": "k"},
              {"kind": "memref", "tensor": "buf0"},
              {"kind": "index", "value": "T"}]},
    {"kernel": "attend", "grid": ["T ceildiv 64", "B", 16],
     "block": [128, 2, 1], "shared_memory_bytes": 98304,
     "args": [{"kind": "memref", "tensor": "q"},
              {"kind": "memref", "tensor": "buf0"},
              {"kind": "memref", "tensor": "buf1"},
              {"kind": "memref", "tensor": "o"},
              {"kind": "memref", "tensor": "lse"},
              {"kind": "f32", "value": 0.088388},
              {"kind": "index", "value": "T mod 64"}]}
  ]
})J";

Manifest load(const std::string &text) {
  Manifest m;
  std::string error;
  EXPECT_TRUE(Manifest::parse(text, m, error)) << error;
  return m;
}

const void *address(uintptr_t a) { return reinterpret_cast<const void *>(a); }

/// Owns shapes and strides for TensorRefs.
struct Tensors {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<int64_t>> strides;
  std::vector<TensorRef> refs;

  void add(const void *data, DType dtype, std::vector<int64_t> shape) {
    shapes.push_back(std::move(shape));
    strides.emplace_back();
    TensorRef ref;
    ref.data = data;
    ref.dtype = dtype;
    refs.push_back(ref);
    relink();
  }
  void setStrides(size_t i, std::vector<int64_t> s) {
    strides[i] = std::move(s);
    relink();
  }
  void setShape(size_t i, std::vector<int64_t> s) {
    shapes[i] = std::move(s);
    relink();
  }
  void relink() {
    for (size_t i = 0; i < refs.size(); ++i) {
      refs[i].rank = static_cast<int>(shapes[i].size());
      refs[i].shape = shapes[i].data();
      refs[i].strides = strides[i].empty() ? nullptr : strides[i].data();
    }
  }
  const TensorRef *data() const { return refs.data(); }
  size_t size() const { return refs.size(); }
};

constexpr uintptr_t kQ = 0x10000000, kK = 0x20000000, kIdx = 0x30000000,
                    kO = 0x40000000, kLse = 0x50000000;

Tensors inputs(int64_t B, int64_t T) {
  Tensors t;
  t.add(address(kQ), DType::BF16, {B, T, 64, 128});
  t.add(address(kK), DType::BF16, {B, T, 4, 128});
  t.add(address(kIdx), DType::I32, {B, (T + 63) / 64});
  return t;
}

Tensors outputs(int64_t B, int64_t T) {
  Tensors t;
  t.add(address(kO), DType::BF16, {B, T, 64, 128});
  t.add(address(kLse), DType::F32, {B, T, 64});
  return t;
}

std::string bindError(const Manifest &m, const Tensors &in) {
  SymbolBindings b;
  std::string error;
  EXPECT_FALSE(bindInputs(m, in.data(), in.size(), b, error));
  return error;
}

std::string planError(const Manifest &m, const Tensors &in,
                      const Tensors &out) {
  Plan plan;
  std::string error;
  EXPECT_FALSE(
      makePlan(m, in.data(), in.size(), out.data(), out.size(), plan, error));
  return error;
}

Plan planOk(const Manifest &m, const Tensors &in, const Tensors &out) {
  Plan plan;
  std::string error;
  EXPECT_TRUE(
      makePlan(m, in.data(), in.size(), out.data(), out.size(), plan, error))
      << error;
  return plan;
}

#define EXPECT_HAS(haystack, needle)                                           \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos)             \
      << "message: " << (haystack)

std::vector<uint64_t> values(const std::vector<KernelParam> &params,
                             size_t from, size_t count) {
  std::vector<uint64_t> v;
  for (size_t i = from; i < from + count && i < params.size(); ++i)
    v.push_back(params[i].bits);
  return v;
}

TEST(RuntimePlan, BindsSymbolsFromTheFirstPlainUse) {
  Manifest m = load(kManifest);
  Tensors in = inputs(2, 100);
  SymbolBindings b;
  std::string error;
  ASSERT_TRUE(bindInputs(m, in.data(), in.size(), b, error)) << error;
  EXPECT_EQ(*b.lookup("B"), 2);
  EXPECT_EQ(*b.lookup("T"), 100);
  EXPECT_EQ(describeBindings(m, b), "B = 2 from 'q', T = 100 from 'q'");
}

TEST(RuntimePlan, InputErrors) {
  Manifest m = load(kManifest);
  Tensors in = inputs(2, 100);
  Tensors two;
  two.add(address(kQ), DType::BF16, {2, 100, 64, 128});
  two.add(address(kK), DType::BF16, {2, 100, 4, 128});
  EXPECT_EQ(bindError(m, two), "expected 3 inputs (q, k, idx), got 2");

  Tensors t = inputs(2, 77);
  t.setShape(1, {2, 100, 4, 128});
  EXPECT_EQ(bindError(m, t), "input 'k' (index 1): dim 1 is 100 but T = 77 "
                             "from 'q'");
  t = inputs(2, 100);
  t.setShape(1, {2, 100, 8, 128});
  EXPECT_EQ(bindError(m, t),
            "input 'k' (index 1): dim 2 is 8 but the bundle expects 4");
  t = inputs(2, 100);
  t.setShape(2, {2, 5});
  EXPECT_EQ(bindError(m, t),
            "input 'idx' (index 2): dim 1 is 5 but 'T ceildiv 64' = 2 "
            "(B = 2 from 'q', T = 100 from 'q')");
  t = inputs(2, 100);
  t.setShape(1, {3, 100, 4, 128});
  EXPECT_EQ(bindError(m, t),
            "input 'k' (index 1): dim 0 is 3 but B = 2 from 'q'");
  t = inputs(2, 100);
  t.refs[1].dtype = DType::F16;
  EXPECT_EQ(bindError(m, t),
            "input 'k' (index 1): dtype is f16 but the bundle expects bf16");
  t = inputs(2, 100);
  t.refs[0].dtype = static_cast<DType>(9);
  EXPECT_EQ(bindError(m, t), "input 'q' (index 0): invalid dtype value 9 (the "
                             "bundle expects bf16)");
  t = inputs(2, 100);
  t.setShape(1, {2, 100, 512});
  EXPECT_EQ(bindError(m, t), "input 'k' (index 1): rank is 3 but the bundle "
                             "expects rank 4 [B, T, 4, 128]");
  t = inputs(2, 100);
  t.refs[0].rank = 9;
  EXPECT_EQ(bindError(m, t),
            "input 'q' (index 0): rank 9 is out of range (0 to 8)");
  t = inputs(2, 100);
  t.refs[0].rank = -1;
  EXPECT_HAS(bindError(m, t), "rank -1 is out of range");
  t = inputs(2, 100);
  t.refs[0].shape = nullptr;
  EXPECT_EQ(bindError(m, t), "input 'q' (index 0): the shape pointer is null");
  t = inputs(2, 100);
  t.setShape(0, {-1, 100, 64, 128});
  EXPECT_EQ(bindError(m, t), "input 'q' (index 0): dim 0 is -1; extents must "
                             "not be negative");
  SymbolBindings b;
  std::string error;
  EXPECT_FALSE(bindInputs(m, nullptr, 3, b, error));
  EXPECT_EQ(error, "the inputs array is null");
}

TEST(RuntimePlan, OutputShapes) {
  Manifest m = load(kManifest);
  Tensors in = inputs(2, 100);
  // Data and strides are not looked at.
  in.refs[0].data = nullptr;
  in.setStrides(1, {0, 0, 0, 0});
  std::vector<std::vector<int64_t>> shapes;
  std::string error;
  ASSERT_TRUE(inferOutputShapes(m, in.data(), in.size(), shapes, error))
      << error;
  ASSERT_EQ(shapes.size(), 2u);
  EXPECT_EQ(shapes[0], (std::vector<int64_t>{2, 100, 64, 128}));
  EXPECT_EQ(shapes[1], (std::vector<int64_t>{2, 100, 64}));

  Tensors bad = inputs(2, 100);
  bad.setShape(2, {2, 3});
  EXPECT_FALSE(inferOutputShapes(m, bad.data(), bad.size(), shapes, error));
  EXPECT_HAS(error, "input 'idx' (index 2): dim 1 is 3");
}

TEST(RuntimePlan, PlansScratchLaunchesAndParameters) {
  Manifest m = load(kManifest);
  Plan plan = planOk(m, inputs(2, 100), outputs(2, 100));

  // buf0: 2 x 5 x 4 x 128 f32 = 20480 bytes; buf1: 2 x 100 x 3 i32 = 2400.
  ASSERT_EQ(plan.bufferOffsets.size(), 2u);
  EXPECT_EQ(plan.bufferOffsets[0], 0u);
  EXPECT_EQ(plan.bufferOffsets[1], 20480u);
  EXPECT_EQ(plan.scratchBytes, 23040u); // 22880 rounded up to 256
  EXPECT_EQ(plan.shapes[5], (std::vector<int64_t>{2, 5, 4, 128}));
  EXPECT_EQ(plan.shapes[6], (std::vector<int64_t>{2, 100, 3}));

  ASSERT_EQ(plan.launches.size(), 2u);
  const PlannedLaunch &c = plan.launches[0];
  EXPECT_FALSE(c.skipped);
  EXPECT_EQ(c.grid[0], 5u);
  EXPECT_EQ(c.grid[1], 2u);
  EXPECT_EQ(c.grid[2], 4u);
  EXPECT_EQ(c.block[0], 128u);
  EXPECT_EQ(c.sharedMemoryBytes, 0u);
  // k: 2 pointers, offset, 4 sizes, 4 strides; buf0: the same; T.
  ASSERT_EQ(c.params.size(), 23u);
  EXPECT_EQ(
      values(c.params, 0, 11),
      (std::vector<uint64_t>{kK, kK, 0, 2, 100, 4, 128, 51200, 512, 128, 1}));
  for (size_t i = 0; i < 11; ++i) {
    EXPECT_EQ(c.params[i].size, 8u);
    EXPECT_FALSE(c.params[i].scratchRelative);
  }
  EXPECT_EQ(values(c.params, 11, 11),
            (std::vector<uint64_t>{0, 0, 0, 2, 5, 4, 128, 2560, 512, 128, 1}));
  EXPECT_TRUE(c.params[11].scratchRelative);
  EXPECT_TRUE(c.params[12].scratchRelative);
  EXPECT_FALSE(c.params[13].scratchRelative); // the offset field
  EXPECT_EQ(c.params[22].bits, 100u);
  EXPECT_EQ(c.params[22].size, 8u);

  const PlannedLaunch &a = plan.launches[1];
  EXPECT_EQ(a.grid[0], 2u);
  EXPECT_EQ(a.grid[1], 2u);
  EXPECT_EQ(a.grid[2], 16u);
  EXPECT_EQ(a.block[1], 2u);
  EXPECT_EQ(a.sharedMemoryBytes, 98304u);
  // q 11, buf0 11, buf1 9, o 11, lse 9, f32, index.
  ASSERT_EQ(a.params.size(), 53u);
  EXPECT_EQ(a.params[22].bits, 20480u); // buf1 at scratch + 20480
  EXPECT_TRUE(a.params[22].scratchRelative);
  EXPECT_EQ(values(a.params, 22, 9),
            (std::vector<uint64_t>{20480, 20480, 0, 2, 100, 3, 300, 3, 1}));
  EXPECT_EQ(values(a.params, 31, 2), (std::vector<uint64_t>{kO, kO}));
  EXPECT_EQ(values(a.params, 42, 9),
            (std::vector<uint64_t>{kLse, kLse, 0, 2, 100, 64, 6400, 64, 1}));
  float scale = 0.088388f;
  uint32_t bits;
  std::memcpy(&bits, &scale, 4);
  EXPECT_EQ(a.params[51].size, 4u);
  EXPECT_EQ(a.params[51].bits, bits);
  EXPECT_EQ(a.params[52].bits, 36u); // 100 mod 64
}

TEST(RuntimePlan, ZeroGridExtentSkipsTheLaunch) {
  Manifest m = load(kManifest);
  Plan plan = planOk(m, inputs(2, 20), outputs(2, 20));
  ASSERT_EQ(plan.launches.size(), 2u);
  EXPECT_TRUE(plan.launches[0].skipped); // no compressed block before T = 32
  EXPECT_EQ(plan.launches[0].grid[0], 0u);
  EXPECT_TRUE(plan.launches[0].params.empty());
  EXPECT_FALSE(plan.launches[1].skipped);
  EXPECT_EQ(plan.shapes[5], (std::vector<int64_t>{2, 0, 4, 128}));
  // buf0 is empty; buf1 still gets an aligned slot.
  EXPECT_EQ(plan.bufferOffsets[1], 0u);
  EXPECT_EQ(plan.scratchBytes, 512u); // 2 x 20 x 3 x 4 = 480
}

TEST(RuntimePlan, EmptyTensorsMayHaveNullPointers) {
  Manifest m = load(kManifest);
  Tensors in = inputs(2, 0), out = outputs(2, 0);
  for (TensorRef &r : in.refs)
    r.data = nullptr;
  for (TensorRef &r : out.refs)
    r.data = nullptr;
  Plan plan = planOk(m, in, out);
  EXPECT_TRUE(plan.launches[0].skipped);
  EXPECT_TRUE(plan.launches[1].skipped);
  EXPECT_EQ(plan.scratchBytes, 0u);
}

TEST(RuntimePlan, OutputErrors) {
  Manifest m = load(kManifest);
  Tensors in = inputs(2, 100);
  Tensors one;
  one.add(address(kO), DType::BF16, {2, 100, 64, 128});
  EXPECT_EQ(planError(m, in, one), "expected 2 outputs (o, lse), got 1");
  Tensors out = outputs(2, 100);
  out.setShape(0, {2, 99, 64, 128});
  EXPECT_EQ(planError(m, in, out),
            "output 'o' (index 0): dim 1 is 99 but T = 100 from 'q'");
  out = outputs(2, 100);
  out.refs[1].dtype = DType::F16;
  EXPECT_EQ(planError(m, in, out),
            "output 'lse' (index 1): dtype is f16 but the bundle expects f32");
  Plan plan;
  std::string error;
  EXPECT_FALSE(makePlan(m, in.data(), in.size(), nullptr, 2, plan, error));
  EXPECT_EQ(error, "the outputs array is null");
}

TEST(RuntimePlan, StorageChecks) {
  Manifest m = load(kManifest);
  Tensors out = outputs(2, 100);

  Tensors in = inputs(2, 100);
  in.refs[0].data = nullptr;
  EXPECT_EQ(planError(m, in, out),
            "input 'q' (index 0): the data pointer is null");

  in = inputs(2, 100);
  in.refs[0].data = address(kQ + 1);
  EXPECT_EQ(planError(m, in, out),
            "input 'q' (index 0): the data pointer 0x10000001 is not 16-byte "
            "aligned (the kernels move 16-byte vectors)");
  // Element-aligned is not enough: cp.async copies 16 bytes.
  in.refs[0].data = address(kQ + 8);
  EXPECT_EQ(planError(m, in, out),
            "input 'q' (index 0): the data pointer 0x10000008 is not 16-byte "
            "aligned (the kernels move 16-byte vectors)");

  in = inputs(2, 100);
  in.setStrides(0, {8192, 128 * 64 * 2, 128, 1});
  EXPECT_EQ(planError(m, in, out),
            "input 'q' (index 0): not contiguous: strides [8192, 16384, 128, "
            "1] but a row-major [2, 100, 64, 128] tensor has strides [819200, "
            "8192, 128, 1] (in elements)");

  in = inputs(2, 100);
  in.setStrides(0, {819200, 8192, 128, 1}); // explicit row-major: fine
  planOk(m, in, out);

  in = inputs(1, 100);
  in.setStrides(0, {12345, 8192, 128, 1}); // extent 1: any stride
  planOk(m, in, outputs(1, 100));

  Tensors badOut = outputs(2, 100);
  badOut.setStrides(1, {6400, 1, 100});
  EXPECT_HAS(planError(m, inputs(2, 100), badOut),
             "output 'lse' (index 1): not contiguous");
}

TEST(RuntimePlan, OutputsMustNotOverlap) {
  Manifest m = load(kManifest);
  Tensors in = inputs(2, 100);
  Tensors out = outputs(2, 100);
  out.refs[0].data = address(kQ);
  EXPECT_EQ(planError(m, in, out),
            "output 'o' (index 0) overlaps input 'q' (index 0); outputs must "
            "not share memory with other tensors");
  out = outputs(2, 100);
  // o is 2 x 100 x 64 x 128 bf16 = 3276800 bytes: lse starts inside it.
  out.refs[1].data = address(kO + 3276800 - 16);
  EXPECT_HAS(planError(m, in, out),
             "output 'o' (index 0) overlaps output 'lse' (index 1)");
  out.refs[1].data = address(kO + 3276800); // right after: fine
  planOk(m, in, out);
  // Inputs may share memory with each other (they are only read).
  in.refs[1].data = address(kQ);
  planOk(m, in, outputs(2, 100));
}

const char *const kSmall = R"({
  "format": "nsa-bundle", "version": 1, "ptx": "k.ptx", "symbols": ["B"],
  "inputs": [{"name": "x", "dtype": "i64", "shape": ["B", "B"]}],
  "outputs": [{"name": "y", "dtype": "f32", "shape": ["OUT"]}],
  "buffers": [{"name": "tmp", "dtype": "f16", "shape": ["BUF"]}],
  "launches": [{"kernel": "k", "grid": ["GX", "GY", 1],
                "block": ["BX", "BY", 1], "args": [ARGS]}]
})";

Manifest small(const std::string &out, const std::string &buf,
               const std::string &gx, const std::string &gy,
               const std::string &bx, const std::string &by,
               const std::string &args = "") {
  std::string text = kSmall;
  auto replace = [&](const std::string &from, const std::string &to) {
    text.replace(text.find(from), from.size(), to);
  };
  replace("OUT", out);
  replace("BUF", buf);
  replace("GX", gx);
  replace("GY", gy);
  replace("BX", bx);
  replace("BY", by);
  replace("ARGS", args);
  return load(text);
}

std::string smallError(const Manifest &m, int64_t B, int64_t outExtent) {
  Tensors in, out;
  in.add(address(0x1000), DType::I64, {B, B});
  out.add(address(0x100000), DType::F32, {outExtent});
  return planError(m, in, out);
}

TEST(RuntimePlan, LaunchLimits) {
  EXPECT_EQ(smallError(small("B", "B", "B", "B * 100000", "32", "1"), 2, 2),
            "launch 0 (kernel 'k'): grid y 'B * 100000' = 200000 is outside "
            "[0, 65535] (B = 2 from 'x')");
  EXPECT_EQ(smallError(small("B", "B", "B - 3", "1", "32", "1"), 2, 2),
            "launch 0 (kernel 'k'): grid x 'B - 3' = -1 is outside [0, "
            "2147483647] (B = 2 from 'x')");
  EXPECT_EQ(smallError(small("B", "B", "1", "1", "B - 2", "1"), 2, 2),
            "launch 0 (kernel 'k'): block x 'B - 2' = 0 is outside [1, 1024] "
            "(B = 2 from 'x')");
  EXPECT_EQ(smallError(small("B", "B", "1", "1", "64", "32"), 2, 2),
            "launch 0 (kernel 'k'): a block of 64 x 32 x 1 = 2048 threads "
            "exceeds 1024");
  EXPECT_EQ(
      smallError(small("B", "B", "1", "B floordiv (B - 2)", "1", "1"), 2, 2),
      "launch 0 (kernel 'k'): grid y: size expression 'B floordiv (B - "
      "2)': division by zero in 'floordiv' (with B = 2)");
  EXPECT_EQ(
      smallError(small("B", "B", "1", "1", "1", "1",
                       R"J({"kind": "index", "value": "B mod (B - 2)"})J"),
                 2, 2),
      "launch 0 (kernel 'k'): arg 0: size expression 'B mod (B - 2)': "
      "division by zero in 'mod' (with B = 2)");
}

TEST(RuntimePlan, NegativeEvaluatedExtents) {
  EXPECT_EQ(smallError(small("B", "B - 5", "1", "1", "1", "1"), 2, 2),
            "buffer 'tmp' (index 0): dim 0 'B - 5' evaluates to -3 (B = 2 "
            "from 'x')");
  Manifest m = small("B - 5", "B", "1", "1", "1", "1");
  Tensors in;
  in.add(address(0x1000), DType::I64, {2, 2});
  std::vector<std::vector<int64_t>> shapes;
  std::string error;
  EXPECT_FALSE(inferOutputShapes(m, in.data(), in.size(), shapes, error));
  EXPECT_EQ(error, "output 'y' (index 0): dim 0 'B - 5' evaluates to -3 (B = "
                   "2 from 'x')");
  // The same symbol twice in one input: both uses must agree.
  Tensors twice;
  twice.add(address(0x1000), DType::I64, {2, 3});
  EXPECT_EQ(bindError(m, twice),
            "input 'x' (index 0): dim 1 is 3 but B = 2 from 'x'");
}

TEST(RuntimePlan, SizeOverflow) {
  Manifest m = small("1", "1", "1", "1", "1", "1");
  Tensors in, out;
  in.add(address(0x1000), DType::I64, {int64_t(1) << 31, int64_t(1) << 31});
  out.add(address(0x100000), DType::F32, {1});
  EXPECT_EQ(planError(m, in, out),
            "input 'x' (index 0): its size [2147483648, 2147483648] overflows "
            "64 bits");
}

TEST(RuntimePlan, RankZeroMemref) {
  Manifest m = load(R"({"format": "nsa-bundle", "version": 1, "ptx": "k",
    "inputs": [{"name": "s", "dtype": "f32", "shape": []}],
    "outputs": [{"name": "t", "dtype": "i32", "shape": [3]}],
    "launches": [{"kernel": "k", "grid": [1, 1, 1], "block": [1, 1, 1],
      "args": [{"kind": "memref", "tensor": "s"},
               {"kind": "memref", "tensor": "t"}]}]})");
  Tensors in, out;
  in.add(address(0x1000), DType::F32, {});
  out.add(address(0x2000), DType::I32, {3});
  Plan plan = planOk(m, in, out);
  EXPECT_EQ(
      values(plan.launches[0].params, 0, 8),
      (std::vector<uint64_t>{0x1000, 0x1000, 0, 0x2000, 0x2000, 0, 3, 1}));
  EXPECT_EQ(plan.scratchBytes, 0u);
}

TEST(RuntimePlan, Helpers) {
  EXPECT_EQ(rowMajorStrides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(rowMajorStrides({}), (std::vector<int64_t>{}));
  EXPECT_EQ(rowMajorStrides({5, 0, 7}), (std::vector<int64_t>{0, 7, 1}));
  EXPECT_EQ(formatShape(std::vector<int64_t>{2, 100}), "[2, 100]");
  EXPECT_EQ(formatShape(std::vector<int64_t>{}), "[]");
}

} // namespace
