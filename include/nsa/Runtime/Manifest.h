//===- Manifest.h - the manifest of a kernel bundle -------------*- C++ -*-===//
//
// manifest.json of docs/bundle-format.md, parsed and validated. Pure C++:
// no CUDA, no LLVM. Every check that does not need the inputs happens here,
// so a bad bundle is refused at load time with a message naming the entry.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_RUNTIME_MANIFEST_H
#define NSA_RUNTIME_MANIFEST_H

#include "nsa/Runtime/SizeExpr.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nsa::runtime {

/// Element types. The numbering is the C API's nsa_dtype.
enum class DType : int { F32 = 0, F16 = 1, BF16 = 2, I32 = 3, I64 = 4 };

/// "f32", "f16", "bf16", "i32", "i64"; nullptr for an out-of-range value.
const char *dtypeName(DType dtype);
/// Bytes per element; 0 for an out-of-range value.
int64_t dtypeSize(DType dtype);
/// Parses a manifest dtype name; false if unknown.
bool parseDType(std::string_view name, DType &out);
/// True if `value` is one of the enumerators.
bool isValidDType(int value);

/// The largest tensor rank the runtime accepts (the C API's NSA_MAX_RANK).
constexpr int kMaxRank = 8;
/// The manifest format version this runtime reads.
constexpr int kBundleFormatVersion = 1;

enum class TensorRole { Input, Output, Buffer };
/// "input", "output", "buffer".
const char *roleName(TensorRole role);

struct TensorSpec {
  std::string name;
  TensorRole role = TensorRole::Input;
  /// Position among the tensors of its role.
  int index = 0;
  DType dtype = DType::F32;
  /// One size expression per dimension (plain integers become constants).
  std::vector<SizeExpr> shape;

  int rank() const { return static_cast<int>(shape.size()); }
  /// "[B, T, 64, 128]".
  std::string describeShape() const;
};

struct ArgSpec {
  enum class Kind { Memref, Index, F32 };
  Kind kind = Kind::Index;
  /// Memref: the tensor, as an index into Manifest::tensors().
  int tensor = -1;
  /// Index: the value.
  SizeExpr value;
  /// F32: the value.
  float f32 = 0;
};

struct LaunchSpec {
  std::string kernel;
  SizeExpr grid[3];
  SizeExpr block[3];
  int64_t sharedMemoryBytes = 0;
  std::vector<ArgSpec> args;
};

/// Where a symbol gets its value: extent `dim` of input `input`.
struct SymbolSource {
  std::string name;
  /// -1 if no input shape names the symbol as a plain extent (allowed only
  /// when no expression uses it).
  int input = -1;
  int dim = -1;
};

class Manifest {
public:
  /// Parses and validates the text of manifest.json. On failure returns
  /// false and sets `error` (prefixed with "manifest: ").
  static bool parse(std::string_view json, Manifest &out, std::string &error);
  /// Reads `<dir>/manifest.json` and parses it; error messages name the
  /// file.
  static bool load(const std::string &dir, Manifest &out, std::string &error);

  std::string function;
  std::string chip;
  /// File names relative to the bundle directory (empty if absent).
  std::string cubin;
  std::string ptx;
  std::vector<SymbolSource> symbols;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<TensorSpec> buffers;
  std::vector<LaunchSpec> launches;

  /// All tensors: inputs, then outputs, then buffers. ArgSpec::tensor
  /// indexes this.
  int numTensors() const {
    return static_cast<int>(inputs.size() + outputs.size() + buffers.size());
  }
  const TensorSpec &tensor(int id) const;
  /// The id of the tensor named `name`, or -1.
  int findTensor(std::string_view name) const;
  /// A launch for messages: "launch 3 (kernel 'nsa_select_0')".
  std::string describeLaunch(size_t index) const;
};

/// Reads a whole file into `out`; false with an error naming the path.
bool readFile(const std::string &path, std::string &out, std::string &error);
/// `dir` joined with `name` (name returned unchanged if absolute).
std::string joinPath(const std::string &dir, const std::string &name);

} // namespace nsa::runtime

#endif // NSA_RUNTIME_MANIFEST_H
