//===- JsonTest.cpp - the runtime's JSON reader ---------------------------===//

#include "nsa/Runtime/Json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

using nsa::runtime::json::parse;
using nsa::runtime::json::Value;

namespace {

Value parseOk(const std::string &text) {
  Value value;
  std::string error;
  EXPECT_TRUE(parse(text, value, error)) << text << ": " << error;
  return value;
}

std::string parseError(const std::string &text) {
  Value value;
  std::string error;
  EXPECT_FALSE(parse(text, value, error)) << "accepted: " << text;
  return error;
}

TEST(RuntimeJson, Scalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk(" true ").asBool());
  EXPECT_FALSE(parseOk("false").asBool());
  EXPECT_EQ(parseOk("\"hi\"").asString(), "hi");
  Value n = parseOk("42");
  EXPECT_TRUE(n.isInteger());
  EXPECT_EQ(n.asInteger(), 42);
  EXPECT_EQ(parseOk("-0").asInteger(), 0);
  EXPECT_EQ(parseOk("-17").asInteger(), -17);
}

TEST(RuntimeJson, Numbers) {
  Value d = parseOk("2.5");
  EXPECT_TRUE(d.isNumber());
  EXPECT_FALSE(d.isInteger());
  EXPECT_DOUBLE_EQ(d.asDouble(), 2.5);
  EXPECT_DOUBLE_EQ(parseOk("-1.25e2").asDouble(), -125.0);
  EXPECT_DOUBLE_EQ(parseOk("1E-2").asDouble(), 0.01);
  EXPECT_FALSE(parseOk("1e2").isInteger()); // written with an exponent
  EXPECT_EQ(parseOk("9223372036854775807").asInteger(), INT64_MAX);
  EXPECT_EQ(parseOk("-9223372036854775808").asInteger(), INT64_MIN);
  Value big = parseOk("9223372036854775808"); // does not fit: a double
  EXPECT_FALSE(big.isInteger());
  EXPECT_DOUBLE_EQ(big.asDouble(), 9223372036854775808.0);
  EXPECT_NE(parseError("1e999").find("out of range"), std::string::npos);
}

TEST(RuntimeJson, Containers) {
  Value v = parseOk(R"({"a": [1, "two", {"b": null}], "c": {}, "d": []})");
  ASSERT_TRUE(v.isObject());
  ASSERT_EQ(v.asObject().size(), 3u);
  EXPECT_EQ(v.asObject()[0].first, "a"); // document order
  const Value *a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->asArray().size(), 3u);
  EXPECT_EQ(a->asArray()[0].asInteger(), 1);
  EXPECT_EQ(a->asArray()[1].asString(), "two");
  EXPECT_TRUE(a->asArray()[2].find("b")->isNull());
  EXPECT_TRUE(v.find("c")->isObject());
  EXPECT_TRUE(v.find("d")->asArray().empty());
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_EQ(a->find("x"), nullptr); // not an object
}

TEST(RuntimeJson, StringEscapes) {
  EXPECT_EQ(parseOk(R"("a\"b\\c\/d\b\f\n\r\t")").asString(),
            "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(parseOk(R"("\u0041\u00e9\u20ac")").asString(),
            "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(parseOk(R"("\ud83d\ude00")").asString(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(parseOk("\"\xc3\xa9\"").asString(), "\xc3\xa9"); // raw UTF-8
}

TEST(RuntimeJson, Errors) {
  EXPECT_NE(parseError("").find("expected a JSON value, found end of input"),
            std::string::npos);
  EXPECT_NE(parseError("[1, 2,]").find("expected a JSON value"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"a" 1})").find("expected ':'"), std::string::npos);
  EXPECT_NE(parseError(R"({"a": 1,})").find("expected a string key"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"a": 1 "b": 2})").find("expected ',' or '}'"),
            std::string::npos);
  EXPECT_NE(parseError("[1 2]").find("expected ',' or ']'"), std::string::npos);
  EXPECT_NE(parseError("\"abc").find("unterminated string"), std::string::npos);
  EXPECT_NE(parseError("\"a\tb\"").find("control character"),
            std::string::npos);
  EXPECT_NE(parseError(R"("\x")").find("invalid escape"), std::string::npos);
  EXPECT_NE(parseError(R"("\u12g4")").find("hex digit"), std::string::npos);
  EXPECT_NE(parseError(R"("\ud83d")").find("surrogate"), std::string::npos);
  EXPECT_NE(parseError(R"("\ude00")").find("unpaired low surrogate"),
            std::string::npos);
  EXPECT_NE(parseError("012").find("leading zeros"), std::string::npos);
  EXPECT_NE(parseError("1.").find("digit after '.'"), std::string::npos);
  EXPECT_NE(parseError("1e").find("exponent"), std::string::npos);
  EXPECT_NE(parseError("-").find("expected a digit"), std::string::npos);
  EXPECT_NE(parseError("NaN").find("expected a JSON value"), std::string::npos);
  EXPECT_NE(parseError("truex").find("expected a JSON value"),
            std::string::npos);
  EXPECT_NE(parseError("{} {}").find("after the JSON value"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"a": 1, "a": 2})").find("duplicate key \"a\""),
            std::string::npos);
  EXPECT_NE(parseError(std::string("[1,\x01]")).find("byte 0x01"),
            std::string::npos);
}

TEST(RuntimeJson, ErrorsNameLineAndColumn) {
  std::string error = parseError("{\n  \"a\": [1,\n    2,,\n  ]\n}");
  EXPECT_EQ(error.rfind("JSON line 3, column 7: ", 0), 0u) << error;
}

TEST(RuntimeJson, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  EXPECT_NE(parseError(deep).find("nesting deeper than 256"),
            std::string::npos);
  std::string ok(200, '[');
  ok += std::string(200, ']');
  parseOk(ok);
}

TEST(RuntimeJson, TruncatedInputsNeverCrash) {
  const std::string text =
      R"({"format": "nsa-bundle", "v": [1, -2.5e3, true, null, "\u00e9"]})";
  parseOk(text);
  for (size_t n = 0; n < text.size(); ++n)
    parseError(text.substr(0, n));
}

} // namespace
