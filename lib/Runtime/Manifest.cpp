//===- Manifest.cpp - the manifest of a kernel bundle ---------------------===//

#include "nsa/Runtime/Manifest.h"

#include "nsa/Runtime/Json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace nsa::runtime {

//===----------------------------------------------------------------------===//
// DTypes and small helpers
//===----------------------------------------------------------------------===//

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  }
  return nullptr;
}

int64_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I64:
    return 8;
  }
  return 0;
}

bool parseDType(std::string_view name, DType &out) {
  for (int i = 0; i <= 4; ++i) {
    DType dtype = static_cast<DType>(i);
    if (name == dtypeName(dtype)) {
      out = dtype;
      return true;
    }
  }
  return false;
}

bool isValidDType(int value) { return value >= 0 && value <= 4; }

const char *roleName(TensorRole role) {
  switch (role) {
  case TensorRole::Input:
    return "input";
  case TensorRole::Output:
    return "output";
  case TensorRole::Buffer:
    return "buffer";
  }
  return "tensor";
}

std::string TensorSpec::describeShape() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += shape[i].text();
  }
  return s + "]";
}

const TensorSpec &Manifest::tensor(int id) const {
  size_t i = static_cast<size_t>(id);
  if (i < inputs.size())
    return inputs[i];
  i -= inputs.size();
  if (i < outputs.size())
    return outputs[i];
  return buffers[i - outputs.size()];
}

int Manifest::findTensor(std::string_view name) const {
  for (int id = 0; id < numTensors(); ++id)
    if (tensor(id).name == name)
      return id;
  return -1;
}

std::string Manifest::describeLaunch(size_t index) const {
  std::string s = "launch " + std::to_string(index);
  if (index < launches.size())
    s += " (kernel '" + launches[index].kernel + "')";
  return s;
}

bool readFile(const std::string &path, std::string &out, std::string &error) {
  FILE *file = std::fopen(path.c_str(), "rb");
  if (!file) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::string contents;
  char chunk[1 << 16];
  while (true) {
    size_t n = std::fread(chunk, 1, sizeof(chunk), file);
    contents.append(chunk, n);
    if (n < sizeof(chunk))
      break;
  }
  bool bad = std::ferror(file) != 0;
  int savedErrno = errno;
  std::fclose(file);
  if (bad) {
    error = "cannot read '" + path + "': " + std::strerror(savedErrno);
    return false;
  }
  out = std::move(contents);
  return true;
}

std::string joinPath(const std::string &dir, const std::string &name) {
  if (!name.empty() && name[0] == '/')
    return name;
  if (dir.empty())
    return name;
  if (dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

//===----------------------------------------------------------------------===//
// Parsing and validation
//===----------------------------------------------------------------------===//

namespace {

using json::Value;

class ManifestReader {
public:
  ManifestReader(Manifest &m, std::string &error) : m(m), error(error) {}

  bool read(const Value &root) {
    if (!root.isObject())
      return fail("the manifest must be a JSON object, found " +
                  std::string(root.kindName()));
    if (!checkVersion(root))
      return false;
    if (!optionalString(root, "function", "function", m.function) ||
        !optionalString(root, "chip", "chip", m.chip) ||
        !optionalString(root, "cubin", "cubin", m.cubin) ||
        !optionalString(root, "ptx", "ptx", m.ptx))
      return false;
    if (m.cubin.empty() && m.ptx.empty())
      return fail("the manifest names neither a \"cubin\" nor a \"ptx\" file");
    if (!readSymbols(root))
      return false;
    if (!readTensors(root, "inputs", TensorRole::Input, m.inputs, true) ||
        !readTensors(root, "outputs", TensorRole::Output, m.outputs, true) ||
        !readTensors(root, "buffers", TensorRole::Buffer, m.buffers, false))
      return false;
    if (!readLaunches(root))
      return false;
    return bindSymbolSources();
  }

private:
  Manifest &m;
  std::string &error;
  // For every used symbol, where it is first used (for messages).
  std::vector<std::pair<std::string, std::string>> uses;

  bool fail(const std::string &message) {
    error = message;
    return false;
  }

  static std::string quote(const std::string &s) { return "'" + s + "'"; }

  bool checkVersion(const Value &root) {
    const Value *format = root.find("format");
    const Value *version = root.find("version");
    std::string formatText = !format ? "(missing)"
                             : format->isString()
                                 ? quote(format->asString())
                                 : std::string("(") + format->kindName() + ")";
    std::string versionText;
    if (!version)
      versionText = "(missing)";
    else if (version->isInteger())
      versionText = std::to_string(version->asInteger());
    else
      versionText = std::string("(") + version->kindName() + ")";
    bool ok = format && format->isString() &&
              format->asString() == "nsa-bundle" && version &&
              version->isInteger() &&
              version->asInteger() == kBundleFormatVersion;
    if (ok)
      return true;
    return fail("unsupported bundle: format " + formatText + " version " +
                versionText +
                "; this runtime reads format 'nsa-bundle' "
                "version " +
                std::to_string(kBundleFormatVersion));
  }

  bool optionalString(const Value &object, const char *key,
                      const std::string &where, std::string &out) {
    const Value *value = object.find(key);
    if (!value)
      return true;
    if (!value->isString())
      return fail(where + " must be a string, found " + value->kindName());
    out = value->asString();
    return true;
  }

  bool readSymbols(const Value &root) {
    const Value *symbols = root.find("symbols");
    if (!symbols)
      return true;
    if (!symbols->isArray())
      return fail("symbols must be an array of names, found " +
                  std::string(symbols->kindName()));
    for (size_t i = 0; i < symbols->asArray().size(); ++i) {
      const Value &entry = symbols->asArray()[i];
      std::string where = "symbols[" + std::to_string(i) + "]";
      if (!entry.isString())
        return fail(where + " must be a string, found " + entry.kindName());
      const std::string &name = entry.asString();
      if (!isValidSymbolName(name))
        return fail(where + ": " + quote(name) +
                    " is not a valid symbol name (an identifier other than "
                    "floordiv, ceildiv, mod, max, min)");
      if (isDeclared(name))
        return fail(where + ": symbol " + quote(name) + " is declared twice");
      SymbolSource source;
      source.name = name;
      m.symbols.push_back(source);
    }
    return true;
  }

  bool isDeclared(const std::string &name) const {
    for (const SymbolSource &symbol : m.symbols)
      if (symbol.name == name)
        return true;
    return false;
  }

  std::string declaredList() const {
    if (m.symbols.empty())
      return "none";
    std::string s;
    for (const SymbolSource &symbol : m.symbols)
      s += (s.empty() ? "" : ", ") + symbol.name;
    return s;
  }

  /// Reads a size expression: a non-negative integer (if `nonNegative`),
  /// any integer, or an expression string. Checks its symbols.
  bool readExpr(const Value &value, const std::string &where, SizeExpr &out,
                bool nonNegative) {
    if (value.isInteger()) {
      if (nonNegative && value.asInteger() < 0)
        return fail(where + " is " + std::to_string(value.asInteger()) +
                    "; it must not be negative");
      out = SizeExpr::constant(value.asInteger());
      return true;
    }
    if (value.isNumber())
      return fail(where +
                  " must be an integer or a size expression, found "
                  "the number " +
                  std::to_string(value.asDouble()));
    if (!value.isString())
      return fail(where +
                  " must be an integer or a size expression string, "
                  "found " +
                  value.kindName());
    std::string parseError;
    if (!SizeExpr::parse(value.asString(), out, parseError))
      return fail(where + ": " + parseError);
    for (const std::string &symbol : out.symbols()) {
      if (!isDeclared(symbol))
        return fail(where + ": unknown symbol " + quote(symbol) +
                    " in size expression " + quote(out.text()) +
                    " (declared symbols: " + declaredList() + ")");
      bool recorded = false;
      for (const auto &use : uses)
        recorded |= use.first == symbol;
      if (!recorded)
        uses.emplace_back(symbol, where);
    }
    return true;
  }

  bool readTensors(const Value &root, const char *key, TensorRole role,
                   std::vector<TensorSpec> &out, bool required) {
    const Value *list = root.find(key);
    if (!list) {
      if (required)
        return fail(std::string("the manifest has no \"") + key + "\" array");
      return true;
    }
    if (!list->isArray())
      return fail(std::string(key) + " must be an array, found " +
                  list->kindName());
    for (size_t i = 0; i < list->asArray().size(); ++i) {
      const Value &entry = list->asArray()[i];
      std::string where = std::string(key) + "[" + std::to_string(i) + "]";
      if (!entry.isObject())
        return fail(where + " must be an object, found " + entry.kindName());
      TensorSpec spec;
      spec.role = role;
      spec.index = static_cast<int>(i);
      const Value *name = entry.find("name");
      if (!name || !name->isString() || name->asString().empty())
        return fail(where + " needs a non-empty string \"name\"");
      spec.name = name->asString();
      where += " (" + quote(spec.name) + ")";
      // `out` is one of m's lists, so this covers the tensors read so far.
      if (m.findTensor(spec.name) >= 0)
        return fail(where + ": the tensor name " + quote(spec.name) +
                    " is used twice (inputs, outputs and buffers share one "
                    "namespace)");
      const Value *dtype = entry.find("dtype");
      if (!dtype || !dtype->isString())
        return fail(where + " needs a string \"dtype\"");
      if (!parseDType(dtype->asString(), spec.dtype))
        return fail(where + ": unknown dtype " + quote(dtype->asString()) +
                    " (expected f32, f16, bf16, i32 or i64)");
      const Value *shape = entry.find("shape");
      if (!shape || !shape->isArray())
        return fail(where + " needs a \"shape\" array");
      if (shape->asArray().size() > static_cast<size_t>(kMaxRank))
        return fail(
            where + " has rank " + std::to_string(shape->asArray().size()) +
            "; the runtime supports at most rank " + std::to_string(kMaxRank));
      for (size_t d = 0; d < shape->asArray().size(); ++d) {
        SizeExpr extent;
        if (!readExpr(shape->asArray()[d],
                      where + " shape[" + std::to_string(d) + "]", extent,
                      true))
          return false;
        spec.shape.push_back(std::move(extent));
      }
      out.push_back(std::move(spec));
    }
    return true;
  }

  bool readLaunches(const Value &root) {
    const Value *list = root.find("launches");
    if (!list)
      return fail("the manifest has no \"launches\" array");
    if (!list->isArray())
      return fail("launches must be an array, found " +
                  std::string(list->kindName()));
    for (size_t i = 0; i < list->asArray().size(); ++i) {
      const Value &entry = list->asArray()[i];
      std::string where = "launches[" + std::to_string(i) + "]";
      if (!entry.isObject())
        return fail(where + " must be an object, found " + entry.kindName());
      LaunchSpec launch;
      const Value *kernel = entry.find("kernel");
      if (!kernel || !kernel->isString() || kernel->asString().empty())
        return fail(where + " needs a non-empty string \"kernel\"");
      launch.kernel = kernel->asString();
      where += " (kernel " + quote(launch.kernel) + ")";

      for (const char *key : {"grid", "block"}) {
        const Value *dims = entry.find(key);
        if (!dims || !dims->isArray())
          return fail(where + " needs a \"" + key + "\" array of 3 extents");
        if (dims->asArray().size() != 3)
          return fail(where + ": " + key + " has " +
                      std::to_string(dims->asArray().size()) +
                      " extents, expected 3");
        SizeExpr *target =
            std::strcmp(key, "grid") == 0 ? launch.grid : launch.block;
        for (size_t d = 0; d < 3; ++d)
          if (!readExpr(dims->asArray()[d],
                        where + " " + key + "[" + std::to_string(d) + "]",
                        target[d], true))
            return false;
      }

      if (const Value *shared = entry.find("shared_memory_bytes")) {
        if (!shared->isInteger() || shared->asInteger() < 0 ||
            shared->asInteger() > std::numeric_limits<uint32_t>::max())
          return fail(where + ": shared_memory_bytes must be a non-negative "
                              "32-bit integer");
        launch.sharedMemoryBytes = shared->asInteger();
      }

      const Value *args = entry.find("args");
      if (!args || !args->isArray())
        return fail(where + " needs an \"args\" array");
      for (size_t a = 0; a < args->asArray().size(); ++a) {
        ArgSpec arg;
        if (!readArg(args->asArray()[a],
                     where + " args[" + std::to_string(a) + "]", arg))
          return false;
        launch.args.push_back(std::move(arg));
      }
      m.launches.push_back(std::move(launch));
    }
    return true;
  }

  bool readArg(const Value &entry, const std::string &where, ArgSpec &arg) {
    if (!entry.isObject())
      return fail(where + " must be an object, found " + entry.kindName());
    const Value *kind = entry.find("kind");
    if (!kind || !kind->isString())
      return fail(where + " needs a string \"kind\"");
    const std::string &k = kind->asString();
    if (k == "memref") {
      arg.kind = ArgSpec::Kind::Memref;
      const Value *tensor = entry.find("tensor");
      if (!tensor || !tensor->isString())
        return fail(where + " (memref) needs a string \"tensor\"");
      arg.tensor = m.findTensor(tensor->asString());
      if (arg.tensor < 0)
        return fail(where + ": unknown tensor " + quote(tensor->asString()) +
                    " (not an input, output or buffer of the manifest)");
      return true;
    }
    if (k == "index") {
      arg.kind = ArgSpec::Kind::Index;
      const Value *value = entry.find("value");
      if (!value)
        return fail(where + " (index) needs a \"value\"");
      return readExpr(*value, where + " value", arg.value, false);
    }
    if (k == "f32") {
      arg.kind = ArgSpec::Kind::F32;
      const Value *value = entry.find("value");
      if (!value || !value->isNumber())
        return fail(where + " (f32) needs a number \"value\"");
      double d = value->isInteger() ? static_cast<double>(value->asInteger())
                                    : value->asDouble();
      if (!(std::fabs(d) <= std::numeric_limits<float>::max()))
        return fail(where + ": f32 value " + std::to_string(d) +
                    " does not fit in a float");
      arg.f32 = static_cast<float>(d);
      return true;
    }
    return fail(where + ": unknown arg kind " + quote(k) +
                " (expected memref, index or f32)");
  }

  bool bindSymbolSources() {
    for (SymbolSource &symbol : m.symbols) {
      for (size_t i = 0; i < m.inputs.size() && symbol.input < 0; ++i) {
        const TensorSpec &input = m.inputs[i];
        for (int d = 0; d < input.rank(); ++d) {
          std::string name;
          if (input.shape[d].isSymbol(&name) && name == symbol.name) {
            symbol.input = static_cast<int>(i);
            symbol.dim = d;
            break;
          }
        }
      }
      if (symbol.input >= 0)
        continue;
      for (const auto &use : uses)
        if (use.first == symbol.name)
          return fail("symbol " + quote(symbol.name) + " is used (" +
                      use.second +
                      ") but no input's shape has it as a plain "
                      "extent, so the runtime cannot bind it");
    }
    return true;
  }
};

} // namespace

bool Manifest::parse(std::string_view text, Manifest &out, std::string &error) {
  Value root;
  std::string jsonError;
  if (!json::parse(text, root, jsonError)) {
    error = "manifest: " + jsonError;
    return false;
  }
  Manifest result;
  std::string message;
  ManifestReader reader(result, message);
  if (!reader.read(root)) {
    error = "manifest: " + message;
    return false;
  }
  out = std::move(result);
  return true;
}

bool Manifest::load(const std::string &dir, Manifest &out, std::string &error) {
  std::string path = joinPath(dir, "manifest.json");
  std::string text;
  if (!readFile(path, text, error))
    return false;
  if (!parse(text, out, error)) {
    // "manifest: ..." -> "<path>: ..."
    error = path + error.substr(std::strlen("manifest"));
    return false;
  }
  return true;
}

} // namespace nsa::runtime
