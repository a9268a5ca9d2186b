//===- ManifestTest.cpp - manifest loading and validation -----------------===//

#include "nsa/Runtime/Manifest.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace nsa::runtime;

namespace {

// The example of docs/bundle-format.md.
const char *const kExample = R"J({
  "format": "nsa-bundle",
  "version": 1,
  "function": "nsa_forward",
  "chip": "sm_90a",
  "cubin": "kernels.cubin",
  "ptx": "kernels.ptx",
  "symbols": ["B", "T"],
  "inputs": [
    {"name": "q", "dtype": "bf16", "shape": ["B", "T", 64, 128]}
  ],
  "outputs": [
    {"name": "o", "dtype": "bf16", "shape": ["B", "T", 64, 128]}
  ],
  "buffers": [
    {"name": "buf0", "dtype": "f32", "shape": ["B", "max((T - 32) floordiv 16 + 1, 0)", 4, 128]}
  ],
  "launches": [
    {
      "kernel": "nsa_compress_0",
      "grid": ["T ceildiv 64", "B", 4],
      "block": [128, 1, 1],
      "shared_memory_bytes": 0,
      "args": [
        {"kind": "memref", "tensor": "q"},
        {"kind": "memref", "tensor": "buf0"},
        {"kind": "index", "value": "T"}
      ]
    }
  ]
})J";

/// kExample with the first occurrence of `from` replaced by `to`.
std::string edit(const std::string &from, const std::string &to) {
  std::string text = kExample;
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos)
    text.replace(at, from.size(), to);
  return text;
}

std::string error(const std::string &text) {
  Manifest m;
  std::string message;
  EXPECT_FALSE(Manifest::parse(text, m, message)) << "accepted:\n" << text;
  return message;
}

#define EXPECT_HAS(haystack, needle)                                           \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos)             \
      << "message: " << (haystack)

TEST(RuntimeManifest, ParsesACubinOnlyBundle) {
  // nsa-export-bundle ptx=false: no "ptx" key; the cubin alone suffices.
  std::string text = kExample;
  std::string ptxKey = "\"ptx\": \"kernels.ptx\",";
  text.replace(text.find(ptxKey), ptxKey.size(), "");
  Manifest m;
  std::string message;
  ASSERT_TRUE(Manifest::parse(text, m, message)) << message;
  EXPECT_EQ(m.cubin, "kernels.cubin");
  EXPECT_TRUE(m.ptx.empty());
}

TEST(RuntimeManifest, ParsesTheDocumentedExample) {
  Manifest m;
  std::string message;
  ASSERT_TRUE(Manifest::parse(kExample, m, message)) << message;
  EXPECT_EQ(m.function, "nsa_forward");
  EXPECT_EQ(m.chip, "sm_90a");
  EXPECT_EQ(m.cubin, "kernels.cubin");
  EXPECT_EQ(m.ptx, "kernels.ptx");
  ASSERT_EQ(m.symbols.size(), 2u);
  EXPECT_EQ(m.symbols[0].name, "B");
  EXPECT_EQ(m.symbols[0].input, 0);
  EXPECT_EQ(m.symbols[0].dim, 0);
  EXPECT_EQ(m.symbols[1].name, "T");
  EXPECT_EQ(m.symbols[1].dim, 1);
  ASSERT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].dtype, DType::BF16);
  EXPECT_EQ(m.inputs[0].describeShape(), "[B, T, 64, 128]");
  EXPECT_EQ(m.outputs[0].role, TensorRole::Output);
  ASSERT_EQ(m.buffers.size(), 1u);
  EXPECT_EQ(m.buffers[0].shape[1].text(), "max((T - 32) floordiv 16 + 1, 0)");
  EXPECT_EQ(m.numTensors(), 3);
  EXPECT_EQ(m.findTensor("buf0"), 2);
  EXPECT_EQ(m.findTensor("nope"), -1);
  ASSERT_EQ(m.launches.size(), 1u);
  const LaunchSpec &l = m.launches[0];
  EXPECT_EQ(l.kernel, "nsa_compress_0");
  EXPECT_EQ(l.grid[0].text(), "T ceildiv 64");
  EXPECT_EQ(l.grid[2].text(), "4");
  EXPECT_EQ(l.block[0].text(), "128");
  ASSERT_EQ(l.args.size(), 3u);
  EXPECT_EQ(l.args[0].kind, ArgSpec::Kind::Memref);
  EXPECT_EQ(l.args[0].tensor, 0);
  EXPECT_EQ(l.args[1].tensor, 2);
  EXPECT_EQ(l.args[2].kind, ArgSpec::Kind::Index);
  EXPECT_EQ(l.args[2].value.text(), "T");
  EXPECT_EQ(m.describeLaunch(0), "launch 0 (kernel 'nsa_compress_0')");
}

TEST(RuntimeManifest, OptionalPartsAndExtraKeys) {
  Manifest m;
  std::string message;
  // No buffers, no chip or function, an unknown key, integer index value,
  // f32 args, a PTX-only bundle, a declared but unused symbol.
  const char *text = R"({"format": "nsa-bundle", "version": 1,
    "ptx": "k.ptx", "symbols": ["N", "UNUSED"], "future_key": [1, 2],
    "inputs": [{"name": "x", "dtype": "i64", "shape": ["N"]}],
    "outputs": [{"name": "y", "dtype": "f16", "shape": []}],
    "launches": [{"kernel": "k", "grid": [1, 1, 1], "block": ["N", 1, 1],
      "args": [{"kind": "index", "value": 7}, {"kind": "f32", "value": 0.125},
               {"kind": "f32", "value": -3}]}]})";
  ASSERT_TRUE(Manifest::parse(text, m, message)) << message;
  EXPECT_TRUE(m.cubin.empty());
  EXPECT_TRUE(m.buffers.empty());
  EXPECT_EQ(m.symbols[1].input, -1);
  EXPECT_EQ(m.outputs[0].rank(), 0);
  EXPECT_EQ(m.launches[0].sharedMemoryBytes, 0);
  EXPECT_EQ(m.launches[0].args[0].value.text(), "7");
  EXPECT_EQ(m.launches[0].args[1].f32, 0.125f);
  EXPECT_EQ(m.launches[0].args[2].f32, -3.0f);
}

TEST(RuntimeManifest, FormatAndVersion) {
  std::string e = error(edit("\"nsa-bundle\"", "\"nsa-bndl\""));
  EXPECT_EQ(e, "manifest: unsupported bundle: format 'nsa-bndl' version 1; "
               "this runtime reads format 'nsa-bundle' version 1");
  e = error(edit("\"version\": 1", "\"version\": 2"));
  EXPECT_EQ(e, "manifest: unsupported bundle: format 'nsa-bundle' version 2; "
               "this runtime reads format 'nsa-bundle' version 1");
  EXPECT_HAS(error(edit("\"version\": 1,", "")), "version (missing)");
  EXPECT_HAS(error(edit("\"version\": 1", "\"version\": \"1\"")),
             "version (a string)");
  EXPECT_HAS(error(edit("\"format\": \"nsa-bundle\",", "")),
             "format (missing)");
  EXPECT_HAS(error("[]"), "must be a JSON object");
}

TEST(RuntimeManifest, JsonErrors) {
  EXPECT_HAS(error("{\"format\": }"), "manifest: JSON line 1, column 12");
  EXPECT_HAS(error(""), "manifest: JSON line 1, column 1");
}

TEST(RuntimeManifest, TensorErrors) {
  EXPECT_EQ(error(edit("\"dtype\": \"bf16\"", "\"dtype\": \"f8\"")),
            "manifest: inputs[0] ('q'): unknown dtype 'f8' (expected f32, "
            "f16, bf16, i32 or i64)");
  EXPECT_HAS(error(edit("\"name\": \"o\"", "\"name\": \"q\"")),
             "outputs[0] ('q'): the tensor name 'q' is used twice");
  EXPECT_HAS(error(edit("\"name\": \"buf0\"", "\"name\": \"o\"")),
             "used twice");
  EXPECT_HAS(error(edit("\"name\": \"q\", ", "")),
             "inputs[0] needs a non-empty string \"name\"");
  EXPECT_HAS(error(edit("\"name\": \"q\"", "\"name\": \"\"")),
             "non-empty string \"name\"");
  EXPECT_HAS(error(edit("\"dtype\": \"bf16\", ", "")),
             "inputs[0] ('q') needs a string \"dtype\"");
  EXPECT_HAS(
      error(edit("\"shape\": [\"B\", \"T\", 64, 128]}", "\"shape\": \"B\"}")),
      "inputs[0] ('q') needs a \"shape\" array");
  EXPECT_EQ(
      error(edit("[\"B\", \"T\", 64, 128]", "[\"B\", \"T ceildiv\", 64, 128]")),
      "manifest: inputs[0] ('q') shape[1]: size expression 'T "
      "ceildiv': expected a number, a symbol, '(', '-', 'max' or 'min' "
      "at column 10 (found end of expression)");
  EXPECT_HAS(error(edit("\"T\", 64, 128]", "\"T\", -64, 128]")),
             "inputs[0] ('q') shape[2] is -64; it must not be negative");
  EXPECT_HAS(error(edit("\"T\", 64, 128]", "\"T\", 64.5, 128]")),
             "shape[2] must be an integer or a size expression, found the "
             "number 64.5");
  EXPECT_HAS(error(edit("\"T\", 64, 128]", "\"T\", null, 128]")), "found null");
  EXPECT_HAS(error(edit("[\"B\", \"T\", 64, 128]",
                        "[1, 1, 1, 1, 1, 1, 1, 1, 1, \"B\", \"T\"]")),
             "inputs[0] ('q') has rank 11; the runtime supports at most "
             "rank 8");
  EXPECT_HAS(error(edit("\"inputs\"", "\"inputz\"")),
             "the manifest has no \"inputs\" array");
  std::string text = kExample;
  size_t from = text.find("\"buffers\": [");
  size_t to = text.find("\"launches\"");
  text.replace(from, to - from, "\"buffers\": {},\n  ");
  EXPECT_HAS(error(text), "buffers must be an array, found an object");
}

TEST(RuntimeManifest, SymbolErrors) {
  EXPECT_EQ(
      error(edit("\"grid\": [\"T ceildiv 64\"", "\"grid\": [\"X ceildiv 64\"")),
      "manifest: launches[0] (kernel 'nsa_compress_0') grid[0]: unknown "
      "symbol 'X' in size expression 'X ceildiv 64' (declared "
      "symbols: B, T)");
  EXPECT_HAS(error(edit("[\"B\", \"T\"]", "[\"B\", \"T\", \"B\"]")),
             "symbols[2]: symbol 'B' is declared twice");
  EXPECT_HAS(error(edit("[\"B\", \"T\"]", "[\"B\", \"max\"]")),
             "symbols[1]: 'max' is not a valid symbol name");
  EXPECT_HAS(error(edit("[\"B\", \"T\"]", "[\"B\", 7]")),
             "symbols[1] must be a string");
  // T only in an expression of an input: nothing binds it.
  EXPECT_EQ(
      error(edit("[\"B\", \"T\", 64, 128]", "[\"B\", \"T + 0\", 64, 128]")),
      "manifest: symbol 'T' is used (inputs[0] ('q') shape[1]) but no "
      "input's shape has it as a plain extent, so the runtime cannot bind "
      "it");
  // A symbol used only by an output.
  std::string text = edit("[\"B\", \"T\", 64, 128]", "[\"B\", 7, 64, 128]");
  EXPECT_HAS(error(text), "symbol 'T' is used (outputs[0] ('o') shape[1])");
}

TEST(RuntimeManifest, LaunchErrors) {
  EXPECT_EQ(error(edit("\"grid\": [\"T ceildiv 64\", \"B\", 4]",
                       "\"grid\": [\"T ceildiv 64\", \"B\"]")),
            "manifest: launches[0] (kernel 'nsa_compress_0'): grid has 2 "
            "extents, expected 3");
  EXPECT_HAS(error(edit("\"block\": [128, 1, 1]", "\"block\": [128, 1, 1, 1]")),
             "block has 4 extents, expected 3");
  EXPECT_HAS(error(edit("\"block\": [128, 1, 1]", "\"block\": 128")),
             "needs a \"block\" array of 3 extents");
  EXPECT_HAS(error(edit("\"block\": [128, 1, 1]", "\"block\": [128, -1, 1]")),
             "block[1] is -1; it must not be negative");
  EXPECT_HAS(error(edit("\"kernel\": \"nsa_compress_0\"", "\"kernel\": 3")),
             "launches[0] needs a non-empty string \"kernel\"");
  EXPECT_HAS(
      error(edit("\"shared_memory_bytes\": 0", "\"shared_memory_bytes\": -1")),
      "shared_memory_bytes must be a non-negative 32-bit integer");
  EXPECT_HAS(error(edit("\"shared_memory_bytes\": 0",
                        "\"shared_memory_bytes\": 4294967296")),
             "shared_memory_bytes must be a non-negative 32-bit integer");
  EXPECT_EQ(error(edit("\"tensor\": \"buf0\"", "\"tensor\": \"buf9\"")),
            "manifest: launches[0] (kernel 'nsa_compress_0') args[1]: unknown "
            "tensor 'buf9' (not an input, output or buffer of the manifest)");
  EXPECT_EQ(error(edit("\"kind\": \"index\"", "\"kind\": \"ptr\"")),
            "manifest: launches[0] (kernel 'nsa_compress_0') args[2]: unknown "
            "arg kind 'ptr' (expected memref, index or f32)");
  EXPECT_HAS(error(edit("{\"kind\": \"index\", \"value\": \"T\"}",
                        "{\"kind\": \"index\"}")),
             "args[2] (index) needs a \"value\"");
  EXPECT_HAS(error(edit("{\"kind\": \"index\", \"value\": \"T\"}",
                        "{\"kind\": \"f32\", \"value\": \"T\"}")),
             "args[2] (f32) needs a number \"value\"");
  EXPECT_HAS(error(edit("{\"kind\": \"index\", \"value\": \"T\"}",
                        "{\"kind\": \"f32\", \"value\": 1e300}")),
             "does not fit in a float");
  EXPECT_HAS(error(edit("{\"kind\": \"memref\", \"tensor\": \"q\"}",
                        "{\"kind\": \"memref\"}")),
             "args[0] (memref) needs a string \"tensor\"");
  EXPECT_HAS(error(edit("{\"kind\": \"memref\", \"tensor\": \"q\"}", "7")),
             "args[0] must be an object, found a number");
  EXPECT_HAS(error(edit("\"value\": \"T\"", "\"value\": \"T +\"")),
             "args[2] value: size expression 'T +'");
  EXPECT_HAS(error(edit("\"args\": [", "\"argz\": [")),
             "needs an \"args\" array");
  std::string noFiles = edit("\"cubin\": \"kernels.cubin\",", "");
  noFiles.replace(noFiles.find("\"ptx\": \"kernels.ptx\","),
                  std::string("\"ptx\": \"kernels.ptx\",").size(), "");
  EXPECT_HAS(error(noFiles), "names neither a \"cubin\" nor a \"ptx\" file");
  EXPECT_HAS(error(edit("\"chip\": \"sm_90a\"", "\"chip\": 90")),
             "chip must be a string, found a number");
}

TEST(RuntimeManifest, TruncatedOrCorruptedTextNeverCrashes) {
  std::string text = kExample;
  for (size_t n = 0; n < text.size(); n += 7) {
    Manifest m;
    std::string message;
    EXPECT_FALSE(Manifest::parse(text.substr(0, n), m, message));
    EXPECT_FALSE(message.empty());
  }
  // Replace each character in turn by a troublesome one: must not crash.
  for (size_t i = 0; i < text.size(); i += 3) {
    for (char c : {'"', '}', '0', '-', 'x', '\\'}) {
      std::string broken = text;
      broken[i] = c;
      Manifest m;
      std::string message;
      if (!Manifest::parse(broken, m, message)) {
        EXPECT_FALSE(message.empty());
      }
    }
  }
}

class TempDir {
public:
  TempDir() {
    char pattern[] = "/tmp/nsa-manifest-test-XXXXXX";
    const char *made = mkdtemp(pattern);
    path = made ? made : "";
  }
  ~TempDir() {
    std::remove((path + "/manifest.json").c_str());
    rmdir(path.c_str());
  }
  void write(const std::string &text) {
    FILE *f = std::fopen((path + "/manifest.json").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  std::string path;
};

TEST(RuntimeManifest, LoadFromDirectory) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  dir.write(kExample);
  Manifest m;
  std::string message;
  ASSERT_TRUE(Manifest::load(dir.path, m, message)) << message;
  EXPECT_EQ(m.function, "nsa_forward");
  ASSERT_TRUE(Manifest::load(dir.path + "/", m, message)) << message;

  dir.write(edit("\"version\": 1", "\"version\": 3"));
  EXPECT_FALSE(Manifest::load(dir.path, m, message));
  EXPECT_EQ(message, dir.path + "/manifest.json: unsupported bundle: format "
                                "'nsa-bundle' version 3; this runtime reads "
                                "format 'nsa-bundle' version 1");

  EXPECT_FALSE(Manifest::load(dir.path + "/missing", m, message));
  EXPECT_EQ(message, "cannot open '" + dir.path +
                         "/missing/manifest.json': No such file or directory");
}

TEST(RuntimeManifest, Helpers) {
  EXPECT_EQ(joinPath("a/b", "c"), "a/b/c");
  EXPECT_EQ(joinPath("a/b/", "c"), "a/b/c");
  EXPECT_EQ(joinPath("a", "/abs"), "/abs");
  EXPECT_EQ(joinPath("", "c"), "c");
  DType d;
  EXPECT_TRUE(parseDType("bf16", d));
  EXPECT_EQ(d, DType::BF16);
  EXPECT_FALSE(parseDType("BF16", d));
  EXPECT_EQ(dtypeSize(DType::I64), 8);
  EXPECT_EQ(dtypeSize(DType::F16), 2);
  EXPECT_EQ(dtypeName(static_cast<DType>(9)), nullptr);
  EXPECT_TRUE(isValidDType(4));
  EXPECT_FALSE(isValidDType(5));
  EXPECT_FALSE(isValidDType(-1));
}

} // namespace
