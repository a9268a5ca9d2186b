//===- Json.h - a small JSON reader for bundle manifests --------*- C++ -*-===//
//
// A self-contained JSON (RFC 8259) parser: no third-party code, no
// exceptions, no locale dependence. It reads the manifests of
// docs/bundle-format.md; anything it rejects gets a message with the line
// and column.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_RUNTIME_JSON_H
#define NSA_RUNTIME_JSON_H

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nsa::runtime::json {

class Value {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Value() = default;

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  /// A number written without fraction or exponent that fits in int64.
  bool isInteger() const { return kind_ == Kind::Number && integral_; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }

  bool asBool() const { return bool_; }
  double asDouble() const { return number_; }
  int64_t asInteger() const { return integer_; }
  const std::string &asString() const { return string_; }
  const std::vector<Value> &asArray() const { return array_; }
  /// Members in document order (keys are unique).
  const std::vector<std::pair<std::string, Value>> &asObject() const {
    return object_;
  }

  /// The member `key` of an object, or null if absent or not an object.
  const Value *find(std::string_view key) const;

  /// "null", "a boolean", "a number", "a string", "an array", "an object".
  static const char *kindName(Kind kind);
  const char *kindName() const { return kindName(kind_); }

  static Value makeNull() { return Value(); }
  static Value makeBool(bool value);
  static Value makeNumber(double value);
  static Value makeInteger(int64_t value);
  static Value makeString(std::string value);
  static Value makeArray(std::vector<Value> elements);
  static Value makeObject(std::vector<std::pair<std::string, Value>> members);

private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool integral_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
};

/// Parses `text` (one JSON value, optionally surrounded by whitespace).
/// On failure returns false and sets `error` to a message with the line and
/// column ("line 3, column 7: expected ',' or '}' in an object").
/// Duplicate keys, nesting deeper than 256 levels, and invalid UTF-16
/// escapes are errors.
bool parse(std::string_view text, Value &out, std::string &error);

} // namespace nsa::runtime::json

#endif // NSA_RUNTIME_JSON_H
