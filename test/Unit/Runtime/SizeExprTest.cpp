//===- SizeExprTest.cpp - size expressions of kernel bundles --------------===//

#include "nsa/Runtime/SizeExpr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

using namespace nsa::runtime;

namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

SymbolBindings bind(int64_t B, int64_t T) {
  SymbolBindings b;
  b.set("B", B);
  b.set("T", T);
  return b;
}

int64_t eval(const std::string &text, const SymbolBindings &bindings) {
  SizeExpr expr;
  std::string error;
  EXPECT_TRUE(SizeExpr::parse(text, expr, error)) << error;
  int64_t value = 0;
  EXPECT_TRUE(expr.evaluate(bindings, value, error)) << error;
  return value;
}

int64_t eval(const std::string &text, int64_t T = 100) {
  return eval(text, bind(2, T));
}

std::string parseError(const std::string &text) {
  SizeExpr expr;
  std::string error;
  EXPECT_FALSE(SizeExpr::parse(text, expr, error)) << "accepted: " << text;
  return error;
}

std::string evalError(const std::string &text, const SymbolBindings &b) {
  SizeExpr expr;
  std::string error;
  EXPECT_TRUE(SizeExpr::parse(text, expr, error)) << error;
  int64_t value = 0;
  EXPECT_FALSE(expr.evaluate(b, value, error)) << text << " = " << value;
  return error;
}

TEST(RuntimeSizeExpr, RoundingHelpers) {
  int64_t r;
  // floordiv rounds toward negative infinity.
  ASSERT_TRUE(floorDiv(7, 2, r));
  EXPECT_EQ(r, 3);
  ASSERT_TRUE(floorDiv(-7, 2, r));
  EXPECT_EQ(r, -4);
  ASSERT_TRUE(floorDiv(7, -2, r));
  EXPECT_EQ(r, -4);
  ASSERT_TRUE(floorDiv(-7, -2, r));
  EXPECT_EQ(r, 3);
  ASSERT_TRUE(floorDiv(-8, 2, r));
  EXPECT_EQ(r, -4);
  ASSERT_TRUE(floorDiv(0, -5, r));
  EXPECT_EQ(r, 0);
  ASSERT_TRUE(floorDiv(kMin, 1, r));
  EXPECT_EQ(r, kMin);
  EXPECT_FALSE(floorDiv(1, 0, r));
  EXPECT_FALSE(floorDiv(kMin, -1, r));
  // ceildiv rounds toward positive infinity.
  ASSERT_TRUE(ceilDiv(7, 2, r));
  EXPECT_EQ(r, 4);
  ASSERT_TRUE(ceilDiv(-7, 2, r));
  EXPECT_EQ(r, -3);
  ASSERT_TRUE(ceilDiv(7, -2, r));
  EXPECT_EQ(r, -3);
  ASSERT_TRUE(ceilDiv(-7, -2, r));
  EXPECT_EQ(r, 4);
  ASSERT_TRUE(ceilDiv(8, 2, r));
  EXPECT_EQ(r, 4);
  ASSERT_TRUE(ceilDiv(kMax, 2, r));
  EXPECT_EQ(r, kMax / 2 + 1);
  EXPECT_FALSE(ceilDiv(1, 0, r));
  EXPECT_FALSE(ceilDiv(kMin, -1, r));
  // mod is never negative.
  ASSERT_TRUE(euclidMod(7, 3, r));
  EXPECT_EQ(r, 1);
  ASSERT_TRUE(euclidMod(-7, 3, r));
  EXPECT_EQ(r, 2);
  ASSERT_TRUE(euclidMod(7, -3, r));
  EXPECT_EQ(r, 1);
  ASSERT_TRUE(euclidMod(-7, -3, r));
  EXPECT_EQ(r, 2);
  ASSERT_TRUE(euclidMod(-6, 3, r));
  EXPECT_EQ(r, 0);
  ASSERT_TRUE(euclidMod(kMin, -1, r));
  EXPECT_EQ(r, 0);
  ASSERT_TRUE(euclidMod(kMin, 7, r));
  EXPECT_EQ(r, 6);
  ASSERT_TRUE(euclidMod(kMin, kMax, r));
  EXPECT_EQ(r, kMax - 1);
  EXPECT_FALSE(euclidMod(1, 0, r));
}

TEST(RuntimeSizeExpr, RoundingMatchesMathForSmallValues) {
  for (int64_t a = -40; a <= 40; ++a)
    for (int64_t b = -9; b <= 9; ++b) {
      if (b == 0)
        continue;
      double q = static_cast<double>(a) / static_cast<double>(b);
      int64_t f, c, m;
      ASSERT_TRUE(floorDiv(a, b, f));
      ASSERT_TRUE(ceilDiv(a, b, c));
      ASSERT_TRUE(euclidMod(a, b, m));
      EXPECT_EQ(f, static_cast<int64_t>(std::floor(q))) << a << "/" << b;
      EXPECT_EQ(c, static_cast<int64_t>(std::ceil(q))) << a << "/" << b;
      int64_t absB = b < 0 ? -b : b;
      EXPECT_GE(m, 0);
      EXPECT_LT(m, absB);
      EXPECT_EQ(((a - m) % absB), 0) << a << " mod " << b;
      if (b > 0) { // MLIR's affine identity for positive divisors
        EXPECT_EQ(m, a - f * b);
      }
    }
}

TEST(RuntimeSizeExpr, Grammar) {
  EXPECT_EQ(eval("42"), 42);
  EXPECT_EQ(eval("T"), 100);
  EXPECT_EQ(eval("B*T"), 200);
  EXPECT_EQ(eval("2 + 3 * 4"), 14);
  EXPECT_EQ(eval("(2 + 3) * 4"), 20);
  EXPECT_EQ(eval("10 - 3 - 2"), 5);         // left-associative
  EXPECT_EQ(eval("T floordiv 16 * 2"), 12); // (T floordiv 16) * 2
  EXPECT_EQ(eval("T * 2 floordiv 3"), 66);  // (T * 2) floordiv 3
  EXPECT_EQ(eval("T mod 7 + 1"), 3);
  EXPECT_EQ(eval("T ceildiv 64"), 2);
  EXPECT_EQ(eval("T floordiv 64"), 1);
  EXPECT_EQ(eval("-T"), -100);
  EXPECT_EQ(eval("- -T"), 100);
  EXPECT_EQ(eval("-T floordiv 3"), -34); // unary minus binds tighter
  EXPECT_EQ(eval("-(T floordiv 3)"), -33);
  EXPECT_EQ(eval("2 - -3"), 5);
  EXPECT_EQ(eval("max(T, 7)"), 100);
  EXPECT_EQ(eval("min(T, 7)"), 7);
  EXPECT_EQ(eval("max(min(T, 50), min(B, 3)) + 1"), 51);
  EXPECT_EQ(eval("  ( ( T ) )\t"), 100);
  EXPECT_EQ(eval("((T - 1) floordiv 64 + 1) * 64"), 128);
}

TEST(RuntimeSizeExpr, CompressedBlockCount) {
  const std::string blocks = "max((T - 32) floordiv 16 + 1, 0)";
  EXPECT_EQ(eval(blocks, 0), 0);
  EXPECT_EQ(eval(blocks, 16), 0); // (-16) floordiv 16 + 1 = 0
  EXPECT_EQ(eval(blocks, 17), 0); // (-15) floordiv 16 + 1 = 0
  EXPECT_EQ(eval(blocks, 31), 0);
  EXPECT_EQ(eval(blocks, 32), 1);
  EXPECT_EQ(eval(blocks, 47), 1);
  EXPECT_EQ(eval(blocks, 48), 2);
  EXPECT_EQ(eval(blocks, 100), 5);
  // With truncating division (T = 17 -> -15 / 16 = 0) it would be 1.
  EXPECT_EQ(eval("(T - 32) floordiv 16 + 1", 17), 0);
  EXPECT_EQ(eval("(T - 32) ceildiv 16", 17), 0);
  EXPECT_EQ(eval("(T - 32) ceildiv 16", 1), -1);
  EXPECT_EQ(eval("(T - 32) mod 16", 17), 1);
}

TEST(RuntimeSizeExpr, Introspection) {
  SizeExpr e;
  std::string error, name;
  ASSERT_TRUE(SizeExpr::parse("T", e, error));
  EXPECT_TRUE(e.isSymbol(&name));
  EXPECT_EQ(name, "T");
  EXPECT_FALSE(e.isConstant());
  ASSERT_TRUE(SizeExpr::parse("(T)", e, error));
  EXPECT_TRUE(e.isSymbol());
  ASSERT_TRUE(SizeExpr::parse("T + 0", e, error));
  EXPECT_FALSE(e.isSymbol());
  ASSERT_TRUE(SizeExpr::parse("max(B, T) * B - T_2", e, error));
  EXPECT_EQ(e.symbols(), (std::vector<std::string>{"B", "T", "T_2"}));
  EXPECT_EQ(e.text(), "max(B, T) * B - T_2");
  ASSERT_TRUE(SizeExpr::parse("4 * (3 + 1)", e, error));
  int64_t value = 0;
  EXPECT_TRUE(e.isConstant(&value));
  EXPECT_EQ(value, 16);
  SizeExpr c = SizeExpr::constant(-5);
  EXPECT_EQ(c.text(), "-5");
  EXPECT_TRUE(c.isConstant(&value));
  EXPECT_EQ(value, -5);
}

TEST(RuntimeSizeExpr, ParseErrorsNameTextAndColumn) {
  EXPECT_EQ(parseError("T ceildiv"),
            "size expression 'T ceildiv': expected a number, a symbol, '(', "
            "'-', 'max' or 'min' at column 10 (found end of expression)");
  EXPECT_EQ(parseError("max(T - 32) floordiv 16"),
            "size expression 'max(T - 32) floordiv 16': expected ',' at "
            "column 11 (found ')')");
  EXPECT_EQ(parseError(""),
            "size expression '': expected a number, a symbol, '(', '-', 'max' "
            "or 'min' at column 1 (found end of expression)");
  EXPECT_NE(parseError("(T + 1").find("expected ')' at column 7"),
            std::string::npos);
  EXPECT_NE(parseError("T + 1)").find("expected an operator or the end of "
                                      "the expression at column 6 (found ')')"),
            std::string::npos);
  EXPECT_NE(parseError("2 +* 3").find("column 4 (found '*')"),
            std::string::npos);
  EXPECT_NE(parseError("T / 2").find("column 3 (found '/')"),
            std::string::npos);
  EXPECT_NE(parseError("T % 2").find("found '%'"), std::string::npos);
  EXPECT_NE(parseError("max T").find("expected '(' at column 5"),
            std::string::npos);
  EXPECT_NE(parseError("max(T, 1, 2)").find("expected ')'"), std::string::npos);
  EXPECT_NE(parseError("T T").find("column 3 (found 'T')"), std::string::npos);
  EXPECT_NE(parseError("2T").find("column 2 (found 'T')"), std::string::npos);
  EXPECT_NE(parseError("floordiv 2").find("column 1 (found 'floordiv')"),
            std::string::npos);
  EXPECT_NE(parseError("T mod").find("end of expression"), std::string::npos);
  EXPECT_NE(parseError("1.5").find("found '.'"), std::string::npos);
  EXPECT_NE(parseError("99999999999999999999").find("does not fit in 64 bits"),
            std::string::npos);
  EXPECT_NE(parseError("T \x01").find("byte 0x01"), std::string::npos);
}

TEST(RuntimeSizeExpr, DeepNestingIsAnErrorNotACrash) {
  std::string deep = std::string(100000, '(') + "T" + std::string(100000, ')');
  EXPECT_NE(parseError(deep).find("nested more than"), std::string::npos);
  std::string minus(100000, '-');
  EXPECT_NE(parseError(minus + "T").find("nested more than"),
            std::string::npos);
  std::string ok = std::string(150, '(') + "T" + std::string(150, ')');
  EXPECT_EQ(eval(ok), 100);
  // Long flat expressions are fine (evaluation is not recursive).
  std::string sum = "T";
  for (int i = 0; i < 20000; ++i)
    sum += " + 1";
  EXPECT_EQ(eval(sum), 20100);
}

TEST(RuntimeSizeExpr, EvaluationErrors) {
  SymbolBindings b = bind(2, 2);
  EXPECT_EQ(evalError("T floordiv (B - 2)", b),
            "size expression 'T floordiv (B - 2)': division by zero in "
            "'floordiv' (with B = 2, T = 2)");
  EXPECT_NE(evalError("T ceildiv (T - 2)", b)
                .find("division by zero in "
                      "'ceildiv'"),
            std::string::npos);
  EXPECT_NE(evalError("T mod 0", b).find("division by zero in 'mod'"),
            std::string::npos);
  EXPECT_EQ(evalError("X + 1", b),
            "size expression 'X + 1': symbol 'X' is not bound (with B = 2, "
            "T = 2)");
  SymbolBindings unbound;
  unbound.names = {"T"};
  unbound.values = {0};
  unbound.bound = {false};
  EXPECT_EQ(evalError("T", unbound),
            "size expression 'T': symbol 'T' is not bound");
  SymbolBindings huge = bind(kMax, kMin);
  EXPECT_NE(evalError("B * 2", huge).find("overflow in '*'"),
            std::string::npos);
  EXPECT_NE(evalError("B + 1", huge).find("overflow in '+'"),
            std::string::npos);
  EXPECT_NE(evalError("T - 1", huge).find("overflow in '-'"),
            std::string::npos);
  EXPECT_NE(evalError("-T", huge).find("overflow in unary '-'"),
            std::string::npos);
  EXPECT_NE(evalError("T floordiv -1", huge).find("overflow in 'floordiv'"),
            std::string::npos);
  EXPECT_NE(evalError("T ceildiv -1", huge).find("overflow in 'ceildiv'"),
            std::string::npos);
  EXPECT_EQ(eval("T mod -1", huge), 0);
  EXPECT_EQ(eval("9223372036854775807"), kMax);
}

TEST(RuntimeSizeExpr, SymbolNames) {
  EXPECT_TRUE(isValidSymbolName("T"));
  EXPECT_TRUE(isValidSymbolName("_seq_len2"));
  EXPECT_FALSE(isValidSymbolName(""));
  EXPECT_FALSE(isValidSymbolName("2T"));
  EXPECT_FALSE(isValidSymbolName("T-1"));
  EXPECT_FALSE(isValidSymbolName("max"));
  EXPECT_FALSE(isValidSymbolName("mod"));
  EXPECT_TRUE(isReservedWord("ceildiv"));
  EXPECT_FALSE(isReservedWord("maximum"));
  EXPECT_EQ(eval("maximum + 1",
                 [] {
                   SymbolBindings b;
                   b.set("maximum", 4);
                   return b;
                 }()),
            5);
}

TEST(RuntimeSizeExpr, BindingsDescribe) {
  SymbolBindings b;
  EXPECT_EQ(b.describe(), "");
  b.set("B", 3);
  b.set("T", 9);
  b.set("B", 4);
  EXPECT_EQ(b.describe(), "B = 4, T = 9");
  EXPECT_EQ(*b.lookup("T"), 9);
  EXPECT_EQ(b.lookup("Q"), nullptr);
}

} // namespace
