//===- SizeExpr.cpp - size expressions of kernel bundles ------------------===//

#include "nsa/Runtime/SizeExpr.h"

#include <limits>

namespace nsa::runtime {

//===----------------------------------------------------------------------===//
// Bindings and arithmetic
//===----------------------------------------------------------------------===//

const int64_t *SymbolBindings::lookup(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name)
      return bound[i] ? &values[i] : nullptr;
  return nullptr;
}

void SymbolBindings::set(std::string_view name, int64_t value) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) {
      values[i] = value;
      bound[i] = true;
      return;
    }
  names.emplace_back(name);
  values.push_back(value);
  bound.push_back(true);
}

std::string SymbolBindings::describe() const {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!bound[i])
      continue;
    if (!s.empty())
      s += ", ";
    s += names[i] + " = " + std::to_string(values[i]);
  }
  return s;
}

bool floorDiv(int64_t a, int64_t b, int64_t &out) {
  if (b == 0 || (a == std::numeric_limits<int64_t>::min() && b == -1))
    return false;
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0)))
    --q;
  out = q;
  return true;
}

bool ceilDiv(int64_t a, int64_t b, int64_t &out) {
  if (b == 0 || (a == std::numeric_limits<int64_t>::min() && b == -1))
    return false;
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) == (b < 0)))
    ++q;
  out = q;
  return true;
}

bool euclidMod(int64_t a, int64_t b, int64_t &out) {
  if (b == 0)
    return false;
  if (b == -1 || b == 1) { // also avoids INT64_MIN % -1
    out = 0;
    return true;
  }
  int64_t r = a % b;
  if (r < 0)
    r = b < 0 ? r - b : r + b;
  out = r;
  return true;
}

bool isReservedWord(std::string_view word) {
  return word == "floordiv" || word == "ceildiv" || word == "mod" ||
         word == "max" || word == "min";
}

static bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool isIdentChar(char c) {
  return isIdentStart(c) || (c >= '0' && c <= '9');
}

bool isValidSymbolName(std::string_view name) {
  if (name.empty() || !isIdentStart(name[0]))
    return false;
  for (char c : name)
    if (!isIdentChar(c))
      return false;
  return !isReservedWord(name);
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

class SizeExprParser {
public:
  SizeExprParser(std::string_view text, SizeExpr &expr, std::string &error)
      : text(text), expr(expr), error(error) {}

  bool parse() {
    next();
    int32_t root;
    if (!parseExpr(root, 0))
      return false;
    if (tok.kind != Tok::End)
      return fail("expected an operator or the end of the expression");
    return true;
  }

private:
  enum class Tok {
    End,
    Int,
    Ident,
    Plus,
    Minus,
    Star,
    LParen,
    RParen,
    Comma,
    Bad
  };
  struct Token {
    Tok kind = Tok::End;
    size_t pos = 0;
    std::string_view spelling;
    int64_t value = 0;
    bool overflow = false;
  };
  using Op = SizeExpr::Op;
  static constexpr int kMaxDepth = 200;

  std::string_view text;
  SizeExpr &expr;
  std::string &error;
  size_t pos = 0;
  Token tok;

  void next() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
    tok = Token();
    tok.pos = pos;
    if (pos >= text.size()) {
      tok.kind = Tok::End;
      return;
    }
    char c = text[pos];
    if (c >= '0' && c <= '9') {
      size_t start = pos;
      int64_t value = 0;
      bool overflow = false;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        int digit = text[pos] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10)
          overflow = true;
        else
          value = value * 10 + digit;
        ++pos;
      }
      tok.kind = Tok::Int;
      tok.value = value;
      tok.overflow = overflow;
      tok.spelling = text.substr(start, pos - start);
      return;
    }
    if (isIdentStart(c)) {
      size_t start = pos;
      while (pos < text.size() && isIdentChar(text[pos]))
        ++pos;
      tok.kind = Tok::Ident;
      tok.spelling = text.substr(start, pos - start);
      return;
    }
    tok.spelling = text.substr(pos, 1);
    ++pos;
    switch (c) {
    case '+':
      tok.kind = Tok::Plus;
      return;
    case '-':
      tok.kind = Tok::Minus;
      return;
    case '*':
      tok.kind = Tok::Star;
      return;
    case '(':
      tok.kind = Tok::LParen;
      return;
    case ')':
      tok.kind = Tok::RParen;
      return;
    case ',':
      tok.kind = Tok::Comma;
      return;
    default:
      tok.kind = Tok::Bad;
      return;
    }
  }

  std::string describeToken() const {
    if (tok.kind == Tok::End)
      return "end of expression";
    if (tok.kind == Tok::Bad) {
      unsigned char c = static_cast<unsigned char>(tok.spelling[0]);
      if (c < 0x20 || c >= 0x7f) {
        static const char digits[] = "0123456789abcdef";
        return std::string("byte 0x") + digits[c >> 4] + digits[c & 15];
      }
    }
    return "'" + std::string(tok.spelling) + "'";
  }

  bool fail(const std::string &what) {
    error = "size expression '" + std::string(text) + "': " + what +
            " at column " + std::to_string(tok.pos + 1) + " (found " +
            describeToken() + ")";
    return false;
  }

  int32_t add(Op op, int32_t lhs = -1, int32_t rhs = -1) {
    SizeExpr::Node node;
    node.op = op;
    node.lhs = lhs;
    node.rhs = rhs;
    expr.nodes_.push_back(std::move(node));
    return static_cast<int32_t>(expr.nodes_.size() - 1);
  }

  bool isWord(std::string_view word) const {
    return tok.kind == Tok::Ident && tok.spelling == word;
  }

  bool parseExpr(int32_t &out, int depth) {
    if (depth > kMaxDepth)
      return fail("expression nested more than " + std::to_string(kMaxDepth) +
                  " levels deep");
    int32_t lhs;
    if (!parseTerm(lhs, depth))
      return false;
    while (tok.kind == Tok::Plus || tok.kind == Tok::Minus) {
      Op op = tok.kind == Tok::Plus ? Op::Add : Op::Sub;
      next();
      int32_t rhs;
      if (!parseTerm(rhs, depth))
        return false;
      lhs = add(op, lhs, rhs);
    }
    out = lhs;
    return true;
  }

  bool parseTerm(int32_t &out, int depth) {
    int32_t lhs;
    if (!parseFactor(lhs, depth))
      return false;
    while (true) {
      Op op;
      if (tok.kind == Tok::Star)
        op = Op::Mul;
      else if (isWord("floordiv"))
        op = Op::FloorDiv;
      else if (isWord("ceildiv"))
        op = Op::CeilDiv;
      else if (isWord("mod"))
        op = Op::Mod;
      else
        break;
      next();
      int32_t rhs;
      if (!parseFactor(rhs, depth))
        return false;
      lhs = add(op, lhs, rhs);
    }
    out = lhs;
    return true;
  }

  bool expect(Tok kind, const char *spelling) {
    if (tok.kind != kind)
      return fail(std::string("expected '") + spelling + "'");
    next();
    return true;
  }

  bool parseFactor(int32_t &out, int depth) {
    if (depth > kMaxDepth)
      return fail("expression nested more than " + std::to_string(kMaxDepth) +
                  " levels deep");
    switch (tok.kind) {
    case Tok::Int: {
      if (tok.overflow)
        return fail("integer literal does not fit in 64 bits");
      out = add(Op::Constant);
      expr.nodes_[out].value = tok.value;
      next();
      return true;
    }
    case Tok::Minus: {
      next();
      int32_t operand;
      if (!parseFactor(operand, depth + 1))
        return false;
      out = add(Op::Neg, operand);
      return true;
    }
    case Tok::LParen: {
      next();
      int32_t inner;
      if (!parseExpr(inner, depth + 1))
        return false;
      if (!expect(Tok::RParen, ")"))
        return false;
      out = inner;
      return true;
    }
    case Tok::Ident: {
      if (isWord("max") || isWord("min")) {
        Op op = isWord("max") ? Op::Max : Op::Min;
        next();
        if (!expect(Tok::LParen, "("))
          return false;
        int32_t lhs, rhs;
        if (!parseExpr(lhs, depth + 1))
          return false;
        if (!expect(Tok::Comma, ","))
          return false;
        if (!parseExpr(rhs, depth + 1))
          return false;
        if (!expect(Tok::RParen, ")"))
          return false;
        out = add(op, lhs, rhs);
        return true;
      }
      if (isReservedWord(tok.spelling))
        return fail("expected a number, a symbol, '(', '-', 'max' or 'min'");
      out = add(Op::Symbol);
      expr.nodes_[out].symbol = std::string(tok.spelling);
      next();
      return true;
    }
    default:
      return fail("expected a number, a symbol, '(', '-', 'max' or 'min'");
    }
  }
};

bool SizeExpr::parse(std::string_view text, SizeExpr &out, std::string &error) {
  SizeExpr result;
  result.text_ = std::string(text);
  SizeExprParser parser(text, result, error);
  if (!parser.parse())
    return false;
  out = std::move(result);
  return true;
}

SizeExpr SizeExpr::constant(int64_t value) {
  SizeExpr result;
  result.text_ = std::to_string(value);
  Node node;
  node.op = Op::Constant;
  node.value = value;
  result.nodes_.push_back(std::move(node));
  return result;
}

bool SizeExpr::isSymbol(std::string *name) const {
  if (nodes_.size() != 1 || nodes_[0].op != Op::Symbol)
    return false;
  if (name)
    *name = nodes_[0].symbol;
  return true;
}

bool SizeExpr::isConstant(int64_t *value) const {
  if (nodes_.empty())
    return false;
  for (const Node &node : nodes_)
    if (node.op == Op::Symbol)
      return false;
  if (value) {
    std::string ignored;
    if (!evaluate(SymbolBindings(), *value, ignored))
      return false;
  }
  return true;
}

std::vector<std::string> SizeExpr::symbols() const {
  std::vector<std::string> result;
  for (const Node &node : nodes_) {
    if (node.op != Op::Symbol)
      continue;
    bool seen = false;
    for (const std::string &name : result)
      seen |= name == node.symbol;
    if (!seen)
      result.push_back(node.symbol);
  }
  return result;
}

bool SizeExpr::evaluate(const SymbolBindings &bindings, int64_t &out,
                        std::string &error) const {
  auto fail = [&](const std::string &what) {
    error = "size expression '" + text_ + "': " + what;
    std::string context = bindings.describe();
    if (!context.empty())
      error += " (with " + context + ")";
    return false;
  };
  if (nodes_.empty())
    return fail("empty expression");
  std::vector<int64_t> values(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node &node = nodes_[i];
    int64_t a = node.lhs >= 0 ? values[node.lhs] : 0;
    int64_t b = node.rhs >= 0 ? values[node.rhs] : 0;
    int64_t r = 0;
    switch (node.op) {
    case Op::Constant:
      r = node.value;
      break;
    case Op::Symbol: {
      const int64_t *value = bindings.lookup(node.symbol);
      if (!value)
        return fail("symbol '" + node.symbol + "' is not bound");
      r = *value;
      break;
    }
    case Op::Neg:
      if (__builtin_sub_overflow(int64_t(0), a, &r))
        return fail("integer overflow in unary '-'");
      break;
    case Op::Add:
      if (__builtin_add_overflow(a, b, &r))
        return fail("integer overflow in '+'");
      break;
    case Op::Sub:
      if (__builtin_sub_overflow(a, b, &r))
        return fail("integer overflow in '-'");
      break;
    case Op::Mul:
      if (__builtin_mul_overflow(a, b, &r))
        return fail("integer overflow in '*'");
      break;
    case Op::FloorDiv:
      if (b == 0)
        return fail("division by zero in 'floordiv'");
      if (!floorDiv(a, b, r))
        return fail("integer overflow in 'floordiv'");
      break;
    case Op::CeilDiv:
      if (b == 0)
        return fail("division by zero in 'ceildiv'");
      if (!ceilDiv(a, b, r))
        return fail("integer overflow in 'ceildiv'");
      break;
    case Op::Mod:
      if (!euclidMod(a, b, r))
        return fail("division by zero in 'mod'");
      break;
    case Op::Max:
      r = a > b ? a : b;
      break;
    case Op::Min:
      r = a < b ? a : b;
      break;
    }
    values[i] = r;
  }
  out = values.back();
  return true;
}

} // namespace nsa::runtime
