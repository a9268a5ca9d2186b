//===- SizeExpr.h - size expressions of kernel bundles ----------*- C++ -*-===//
//
// The integer expressions of docs/bundle-format.md:
//
//   expr   := term (('+' | '-') term)*
//   term   := factor (('*' | 'floordiv' | 'ceildiv' | 'mod') factor)*
//   factor := INT | SYMBOL | '(' expr ')' | '-' factor
//           | 'max' '(' expr ',' expr ')' | 'min' '(' expr ',' expr ')'
//
// with MLIR affine semantics: floordiv rounds toward negative infinity,
// ceildiv toward positive infinity, and `a mod b` is in [0, |b|). Values are
// int64; overflow and division by zero are evaluation errors, never UB.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_RUNTIME_SIZEEXPR_H
#define NSA_RUNTIME_SIZEEXPR_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nsa::runtime {

/// Values bound to the symbols of a bundle, by name.
struct SymbolBindings {
  std::vector<std::string> names;
  std::vector<int64_t> values;
  std::vector<bool> bound;

  const int64_t *lookup(std::string_view name) const;
  void set(std::string_view name, int64_t value);
  /// "B = 2, T = 100" (bound symbols only).
  std::string describe() const;
};

/// The rounding helpers, exposed for tests. Each returns false on division
/// by zero or overflow.
bool floorDiv(int64_t a, int64_t b, int64_t &out);
bool ceilDiv(int64_t a, int64_t b, int64_t &out);
bool euclidMod(int64_t a, int64_t b, int64_t &out);

/// True for the words the grammar reserves: floordiv, ceildiv, mod, max, min.
bool isReservedWord(std::string_view word);
/// True if `name` is an identifier ([A-Za-z_][A-Za-z0-9_]*) and not reserved.
bool isValidSymbolName(std::string_view name);

class SizeExpr {
public:
  SizeExpr() = default;

  /// Parses `text`. On failure returns false and sets `error` to a message
  /// naming the text and the 1-based column, e.g.
  ///   size expression 'T ceildiv': expected a number, a symbol, '(', '-',
  ///   'max' or 'min' at column 10 (end of expression)
  static bool parse(std::string_view text, SizeExpr &out, std::string &error);
  /// An expression that is the integer `value`.
  static SizeExpr constant(int64_t value);

  /// The source text (for constants, the decimal number).
  const std::string &text() const { return text_; }
  bool empty() const { return nodes_.empty(); }

  /// True if the expression is one symbol; its name in `*name` if given.
  bool isSymbol(std::string *name = nullptr) const;
  /// True if the expression uses no symbol; its value in `*value` if it can
  /// be evaluated.
  bool isConstant(int64_t *value = nullptr) const;
  /// The distinct symbols used, in order of first use.
  std::vector<std::string> symbols() const;

  /// Evaluates with `bindings`. On failure (unbound symbol, division by
  /// zero, overflow) returns false and sets `error` to a message naming the
  /// text and the bindings.
  bool evaluate(const SymbolBindings &bindings, int64_t &out,
                std::string &error) const;

private:
  enum class Op : uint8_t {
    Constant,
    Symbol,
    Neg,
    Add,
    Sub,
    Mul,
    FloorDiv,
    CeilDiv,
    Mod,
    Max,
    Min
  };
  struct Node {
    Op op;
    int64_t value = 0;  // Constant
    std::string symbol; // Symbol
    int32_t lhs = -1;   // operands: indices of earlier nodes
    int32_t rhs = -1;
  };
  friend class SizeExprParser;

  std::string text_;
  // Post-order: every node's operands come before it, the root is last.
  std::vector<Node> nodes_;
};

} // namespace nsa::runtime

#endif // NSA_RUNTIME_SIZEEXPR_H
