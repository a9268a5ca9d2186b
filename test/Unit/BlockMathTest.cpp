//===- BlockMathTest.cpp - Block counts, visibility, index maps -----------===//
//
// Each helper is checked against a brute-force count over token positions,
// for every block configuration in a small grid and awkward lengths.
//
//===----------------------------------------------------------------------===//

#include "nsa/Support/BlockMath.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

using namespace nsa;

namespace {

struct BlockConfig {
  int64_t blockLen, stride, slcBlockLen;
};

// The paper's config, fla's l = d = l' = 64, and small odd ones.
const std::vector<BlockConfig> kConfigs = {
    {32, 16, 64}, {64, 64, 64}, {8, 4, 16}, {4, 2, 2}, {6, 3, 9}, {1, 1, 1}};
const std::vector<int64_t> kSeqLens = {0, 1, 2, 7, 17, 31, 32, 33, 63, 64,
                                       65, 100, 300, 1025};

int64_t bruteCompressedBlocks(int64_t seqLen, const BlockConfig &c) {
  int64_t count = 0;
  for (int64_t i = 0; i * c.stride + c.blockLen <= seqLen; ++i)
    ++count;
  return count;
}

TEST(BlockMath, CompressedBlockCount) {
  for (const BlockConfig &c : kConfigs)
    for (int64_t seqLen : kSeqLens)
      EXPECT_EQ(numCompressedBlocks(seqLen, c.blockLen, c.stride),
                bruteCompressedBlocks(seqLen, c))
          << "T=" << seqLen << " l=" << c.blockLen << " d=" << c.stride;
}

TEST(BlockMath, PaperConfigBlockCounts) {
  // Nc = floor((T - l) / d) + 1 for T >= l; T = 65536 gives 4095 blocks.
  EXPECT_EQ(numCompressedBlocks(65536, 32, 16), 4095);
  EXPECT_EQ(numCompressedBlocks(31, 32, 16), 0);
  EXPECT_EQ(numCompressedBlocks(32, 32, 16), 1);
  EXPECT_EQ(numSelectionBlocks(65536, 64), 1024);
  EXPECT_EQ(numSelectionBlocks(65537, 64), 1025);
  EXPECT_EQ(numSelectionBlocks(0, 64), 0);
}

TEST(BlockMath, CompressedVisibility) {
  for (const BlockConfig &c : kConfigs) {
    for (int64_t pos = 0; pos < 200; ++pos) {
      int64_t visible = 0;
      for (int64_t i = 0; i < 200; ++i) {
        // Block i ends at token i*d + l - 1; the query sees it iff that
        // token is at or before the query.
        bool expected = i * c.stride + c.blockLen - 1 <= pos;
        EXPECT_EQ(isCompressedBlockVisible(pos, i, c.blockLen, c.stride),
                  expected);
        visible += expected;
      }
      EXPECT_EQ(numVisibleCompressedBlocks(pos, c.blockLen, c.stride),
                visible)
          << "t=" << pos;
    }
  }
  EXPECT_FALSE(isCompressedBlockVisible(100, -1, 32, 16));
}

TEST(BlockMath, SelectionVisibility) {
  for (int64_t slc : {1, 2, 16, 64})
    for (int64_t pos = 0; pos < 300; ++pos) {
      int64_t visible = 0;
      for (int64_t j = 0; j * slc <= pos; ++j)
        ++visible;
      EXPECT_EQ(numVisibleSelectionBlocks(pos, slc), visible);
    }
}

TEST(BlockMath, OverlapMatchesTokenCount) {
  for (const BlockConfig &c : kConfigs) {
    for (int64_t j = 0; j < 12; ++j) {
      BlockRange range =
          compressedBlocksOverlapping(j, c.blockLen, c.stride, c.slcBlockLen);
      for (int64_t i = 0; i < 60; ++i) {
        int64_t tokens = 0;
        for (int64_t s = i * c.stride; s < i * c.stride + c.blockLen; ++s)
          tokens += s >= j * c.slcBlockLen && s < (j + 1) * c.slcBlockLen;
        EXPECT_EQ(overlapTokens(i, j, c.blockLen, c.stride, c.slcBlockLen),
                  tokens);
        bool inRange = i >= range.first && i < range.last;
        EXPECT_EQ(inRange, tokens > 0)
            << "i=" << i << " j=" << j << " l=" << c.blockLen;
      }
    }
  }
}

TEST(BlockMath, SelectionBlocksAreCompressedBlocksExactlyWhenWeightsAreDiagonal) {
  EXPECT_TRUE(selectionBlocksAreCompressedBlocks(64, 64, 64));
  EXPECT_FALSE(selectionBlocksAreCompressedBlocks(32, 16, 64));
  EXPECT_FALSE(selectionBlocksAreCompressedBlocks(64, 64, 32));
  EXPECT_FALSE(selectionBlocksAreCompressedBlocks(64, 32, 32));
  // Where it holds, Eq. 9's weight is 1 on block j and 0 elsewhere.
  for (int64_t j = 0; j < 6; ++j)
    for (int64_t i = 0; i < 8; ++i)
      EXPECT_EQ(overlapTokens(i, j, 16, 16, 16) / 16, i == j ? 1 : 0);
}

TEST(BlockMath, PaperEquationNineWeights) {
  // With l=32, d=16, l'=64 the weights (in units of d) on compressed blocks
  // 4j-1 .. 4j+3 are 1, 2, 2, 2, 1.
  const int64_t j = 3;
  std::vector<int64_t> weights;
  for (int64_t i = 4 * j - 1; i <= 4 * j + 3; ++i)
    weights.push_back(overlapTokens(i, j, 32, 16, 64) / 16);
  EXPECT_EQ(weights, (std::vector<int64_t>{1, 2, 2, 2, 1}));
  BlockRange range = compressedBlocksOverlapping(j, 32, 16, 64);
  EXPECT_EQ(range.first, 4 * j - 1);
  EXPECT_EQ(range.last, 4 * j + 4);
}

TEST(BlockMath, ScoreTapsAreEveryBlocksOverlaps) {
  // For every config the verifier accepts (the stride divides l and l'),
  // the taps placed at block j * (l' / d) give exactly the compressed
  // blocks that overlap selection block j, with their token counts, in
  // ascending order; those before block 0 are dropped.
  for (int64_t d = 1; d <= 5; ++d)
    for (int64_t lOverD = 1; lOverD <= 6; ++lOverD)
      for (int64_t slcOverD = 1; slcOverD <= 6; ++slcOverD) {
        int64_t l = lOverD * d, slc = slcOverD * d;
        std::vector<ScoreTap> taps = selectionScoreTaps(l, d, slc);
        EXPECT_EQ(static_cast<int64_t>(taps.size()), lOverD + slcOverD - 1);
        for (int64_t j = 0; j < 10; ++j) {
          std::vector<std::pair<int64_t, int64_t>> expected, fromTaps;
          for (int64_t i = 0; i < 120; ++i)
            if (int64_t tokens = overlapTokens(i, j, l, d, slc))
              expected.push_back({i, tokens});
          for (const ScoreTap &tap : taps)
            if (int64_t i = j * slcOverD + tap.offset; i >= 0)
              fromTaps.push_back({i, tap.tokens});
          EXPECT_EQ(fromTaps, expected)
              << "l=" << l << " d=" << d << " l'=" << slc << " j=" << j;
        }
      }
  // The paper's config: blocks 4j - 1 .. 4j + 3, weights 1, 2, 2, 2, 1.
  std::vector<ScoreTap> paper = selectionScoreTaps(32, 16, 64);
  ASSERT_EQ(paper.size(), 5u);
  for (size_t t = 0; t < paper.size(); ++t) {
    EXPECT_EQ(paper[t].offset, static_cast<int64_t>(t) - 1);
    EXPECT_EQ(paper[t].tokens / 16, (t == 0 || t == 4) ? 1 : 2);
  }
}

TEST(BlockMath, WindowStartAndHeads) {
  EXPECT_EQ(windowStart(0, 512), 0);
  EXPECT_EQ(windowStart(511, 512), 0);
  EXPECT_EQ(windowStart(512, 512), 1);
  EXPECT_EQ(windowStart(10, 1), 10);
  for (int64_t group : {1, 4, 16})
    for (int64_t hq = 0; hq < 64; ++hq)
      EXPECT_EQ(kvHeadOf(hq, group), hq / group);
  EXPECT_EQ(ceilDiv(0, 64), 0);
  EXPECT_EQ(ceilDiv(65, 64), 2);
}

} // namespace
