//===- Json.cpp - a small JSON reader for bundle manifests ----------------===//

#include "nsa/Runtime/Json.h"

#include <cmath>
#include <locale>
#include <sstream>

namespace nsa::runtime::json {

const Value *Value::find(std::string_view key) const {
  if (kind_ != Kind::Object)
    return nullptr;
  for (const auto &member : object_)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *Value::kindName(Kind kind) {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "a boolean";
  case Kind::Number:
    return "a number";
  case Kind::String:
    return "a string";
  case Kind::Array:
    return "an array";
  case Kind::Object:
    return "an object";
  }
  return "a value";
}

Value Value::makeBool(bool value) {
  Value v;
  v.kind_ = Kind::Bool;
  v.bool_ = value;
  return v;
}

Value Value::makeNumber(double value) {
  Value v;
  v.kind_ = Kind::Number;
  v.number_ = value;
  return v;
}

Value Value::makeInteger(int64_t value) {
  Value v;
  v.kind_ = Kind::Number;
  v.integral_ = true;
  v.integer_ = value;
  v.number_ = static_cast<double>(value);
  return v;
}

Value Value::makeString(std::string value) {
  Value v;
  v.kind_ = Kind::String;
  v.string_ = std::move(value);
  return v;
}

Value Value::makeArray(std::vector<Value> elements) {
  Value v;
  v.kind_ = Kind::Array;
  v.array_ = std::move(elements);
  return v;
}

Value Value::makeObject(std::vector<std::pair<std::string, Value>> members) {
  Value v;
  v.kind_ = Kind::Object;
  v.object_ = std::move(members);
  return v;
}

namespace {

constexpr int kMaxDepth = 256;

class Parser {
public:
  Parser(std::string_view text, std::string &error)
      : text(text), error(error) {}

  bool parseDocument(Value &out) {
    skipSpace();
    if (!parseValue(out, 0))
      return false;
    skipSpace();
    if (pos != text.size())
      return fail("unexpected " + describeHere() + " after the JSON value");
    return true;
  }

private:
  std::string_view text;
  std::string &error;
  size_t pos = 0;

  bool atEnd() const { return pos >= text.size(); }
  char peek() const { return atEnd() ? '\0' : text[pos]; }

  std::string describeHere() const {
    if (atEnd())
      return "end of input";
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c < 0x20 || c >= 0x7f) {
      static const char digits[] = "0123456789abcdef";
      std::string s = "byte 0x";
      s += digits[c >> 4];
      s += digits[c & 15];
      return s;
    }
    return std::string("'") + static_cast<char>(c) + "'";
  }

  bool fail(const std::string &message) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error = "JSON line " + std::to_string(line) + ", column " +
            std::to_string(column) + ": " + message;
    return false;
  }

  void skipSpace() {
    while (!atEnd()) {
      char c = text[pos];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        ++pos;
      else
        break;
    }
  }

  bool consumeWord(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return false;
    size_t end = pos + word.size();
    if (end < text.size()) {
      char c = text[end];
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')
        return false;
    }
    pos = end;
    return true;
  }

  bool parseValue(Value &out, int depth) {
    if (depth > kMaxDepth)
      return fail("nesting deeper than " + std::to_string(kMaxDepth) +
                  " levels");
    char c = peek();
    switch (c) {
    case '{':
      return parseObject(out, depth);
    case '[':
      return parseArray(out, depth);
    case '"': {
      std::string s;
      if (!parseString(s))
        return false;
      out = Value::makeString(std::move(s));
      return true;
    }
    case 't':
      if (consumeWord("true")) {
        out = Value::makeBool(true);
        return true;
      }
      break;
    case 'f':
      if (consumeWord("false")) {
        out = Value::makeBool(false);
        return true;
      }
      break;
    case 'n':
      if (consumeWord("null")) {
        out = Value::makeNull();
        return true;
      }
      break;
    default:
      if (c == '-' || (c >= '0' && c <= '9'))
        return parseNumber(out);
      break;
    }
    return fail("expected a JSON value, found " + describeHere());
  }

  bool parseObject(Value &out, int depth) {
    ++pos; // '{'
    std::vector<std::pair<std::string, Value>> members;
    skipSpace();
    if (peek() == '}') {
      ++pos;
      out = Value::makeObject(std::move(members));
      return true;
    }
    while (true) {
      skipSpace();
      if (peek() != '"')
        return fail("expected a string key in an object, found " +
                    describeHere());
      size_t keyPos = pos;
      std::string key;
      if (!parseString(key))
        return false;
      for (const auto &member : members)
        if (member.first == key) {
          pos = keyPos;
          return fail("duplicate key \"" + key + "\" in an object");
        }
      skipSpace();
      if (peek() != ':')
        return fail("expected ':' after an object key, found " +
                    describeHere());
      ++pos;
      skipSpace();
      Value value;
      if (!parseValue(value, depth + 1))
        return false;
      members.emplace_back(std::move(key), std::move(value));
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() == '}') {
        ++pos;
        out = Value::makeObject(std::move(members));
        return true;
      }
      return fail("expected ',' or '}' in an object, found " + describeHere());
    }
  }

  bool parseArray(Value &out, int depth) {
    ++pos; // '['
    std::vector<Value> elements;
    skipSpace();
    if (peek() == ']') {
      ++pos;
      out = Value::makeArray(std::move(elements));
      return true;
    }
    while (true) {
      skipSpace();
      Value value;
      if (!parseValue(value, depth + 1))
        return false;
      elements.push_back(std::move(value));
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() == ']') {
        ++pos;
        out = Value::makeArray(std::move(elements));
        return true;
      }
      return fail("expected ',' or ']' in an array, found " + describeHere());
    }
  }

  bool parseHex4(uint32_t &code) {
    code = 0;
    for (int i = 0; i < 4; ++i) {
      if (atEnd())
        return fail("unterminated \\u escape");
      char c = text[pos];
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        digit = c - 'A' + 10;
      else
        return fail("expected a hex digit in a \\u escape, found " +
                    describeHere());
      code = code * 16 + digit;
      ++pos;
    }
    return true;
  }

  static void appendUtf8(std::string &s, uint32_t code) {
    if (code < 0x80) {
      s += static_cast<char>(code);
    } else if (code < 0x800) {
      s += static_cast<char>(0xc0 | (code >> 6));
      s += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      s += static_cast<char>(0xe0 | (code >> 12));
      s += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      s += static_cast<char>(0xf0 | (code >> 18));
      s += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      s += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  bool parseString(std::string &out) {
    ++pos; // '"'
    out.clear();
    while (true) {
      if (atEnd())
        return fail("unterminated string");
      char c = text[pos];
      if (c == '"') {
        ++pos;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("unescaped control character (" + describeHere() +
                    ") in a string");
      if (c != '\\') {
        out += c;
        ++pos;
        continue;
      }
      ++pos;
      if (atEnd())
        return fail("unterminated string");
      char e = text[pos++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t code;
        if (!parseHex4(code))
          return false;
        if (code >= 0xd800 && code <= 0xdbff) {
          if (text.substr(pos, 2) != "\\u")
            return fail("a high surrogate \\u escape must be followed by a "
                        "low surrogate");
          pos += 2;
          uint32_t low;
          if (!parseHex4(low))
            return false;
          if (low < 0xdc00 || low > 0xdfff)
            return fail("invalid low surrogate in a \\u escape");
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        } else if (code >= 0xdc00 && code <= 0xdfff) {
          return fail("unpaired low surrogate in a \\u escape");
        }
        appendUtf8(out, code);
        break;
      }
      default:
        --pos;
        return fail("invalid escape '\\" + std::string(1, e) + "' in a string");
      }
    }
  }

  bool parseNumber(Value &out) {
    size_t start = pos;
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos;
    }
    if (!(peek() >= '0' && peek() <= '9'))
      return fail("expected a digit in a number, found " + describeHere());
    if (peek() == '0') {
      ++pos;
      if (peek() >= '0' && peek() <= '9')
        return fail("leading zeros are not allowed in a number");
    } else {
      while (peek() >= '0' && peek() <= '9')
        ++pos;
    }
    size_t intEnd = pos;
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      ++pos;
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("expected a digit after '.' in a number, found " +
                    describeHere());
      while (peek() >= '0' && peek() <= '9')
        ++pos;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos;
      if (peek() == '+' || peek() == '-')
        ++pos;
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("expected a digit in a number's exponent, found " +
                    describeHere());
      while (peek() >= '0' && peek() <= '9')
        ++pos;
    }
    std::string_view literal = text.substr(start, pos - start);

    if (integral) {
      // Accumulate as a negative number so INT64_MIN fits.
      int64_t value = 0;
      bool overflow = false;
      for (size_t i = negative ? start + 1 : start; i < intEnd; ++i) {
        int digit = text[i] - '0';
        if (value < (INT64_MIN + digit) / 10) {
          overflow = true;
          break;
        }
        value = value * 10 - digit;
      }
      if (!overflow && !negative && value == INT64_MIN)
        overflow = true;
      if (!overflow) {
        out = Value::makeInteger(negative ? value : -value);
        return true;
      }
      // Too large for int64: keep it as a floating-point number.
    }

    std::istringstream stream{std::string(literal)};
    stream.imbue(std::locale::classic());
    double value = 0;
    stream >> value;
    if (stream.fail() || !std::isfinite(value)) {
      pos = start;
      return fail("number " + std::string(literal) + " is out of range");
    }
    out = Value::makeNumber(value);
    return true;
  }
};

} // namespace

bool parse(std::string_view text, Value &out, std::string &error) {
  Parser parser(text, error);
  Value result;
  if (!parser.parseDocument(result))
    return false;
  out = std::move(result);
  return true;
}

} // namespace nsa::runtime::json
