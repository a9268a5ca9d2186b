//===- BlockMath.cpp - NSA block counts, visibility and index maps --------===//

#include "nsa/Support/BlockMath.h"

#include <algorithm>

namespace nsa {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t numCompressedBlocks(int64_t seqLen, int64_t blockLen, int64_t stride) {
  if (seqLen < blockLen)
    return 0;
  return (seqLen - blockLen) / stride + 1;
}

int64_t numVisibleCompressedBlocks(int64_t pos, int64_t blockLen,
                                   int64_t stride) {
  // Block i is visible iff i*stride + blockLen - 1 <= pos, which is the
  // block count of a sequence of pos + 1 tokens.
  return numCompressedBlocks(pos + 1, blockLen, stride);
}

bool isCompressedBlockVisible(int64_t pos, int64_t block, int64_t blockLen,
                              int64_t stride) {
  return block >= 0 && block * stride + blockLen - 1 <= pos;
}

int64_t numSelectionBlocks(int64_t seqLen, int64_t slcBlockLen) {
  return ceilDiv(seqLen, slcBlockLen);
}

int64_t numVisibleSelectionBlocks(int64_t pos, int64_t slcBlockLen) {
  return pos / slcBlockLen + 1;
}

int64_t overlapTokens(int64_t cmpBlock, int64_t slcBlock, int64_t blockLen,
                      int64_t stride, int64_t slcBlockLen) {
  int64_t begin = std::max(cmpBlock * stride, slcBlock * slcBlockLen);
  int64_t end =
      std::min(cmpBlock * stride + blockLen, (slcBlock + 1) * slcBlockLen);
  return std::max<int64_t>(0, end - begin);
}

bool selectionBlocksAreCompressedBlocks(int64_t blockLen, int64_t stride,
                                        int64_t slcBlockLen) {
  return blockLen == stride && stride == slcBlockLen;
}

BlockRange compressedBlocksOverlapping(int64_t slcBlock, int64_t blockLen,
                                       int64_t stride, int64_t slcBlockLen) {
  // Block i overlaps iff i*stride < (j+1)*l' and i*stride + blockLen > j*l'.
  int64_t slcBegin = slcBlock * slcBlockLen;
  int64_t slcEnd = slcBegin + slcBlockLen;
  int64_t first = std::max<int64_t>(
      0, slcBegin - blockLen < 0 ? 0 : (slcBegin - blockLen) / stride + 1);
  int64_t last = ceilDiv(slcEnd, stride);
  return {first, std::max(first, last)};
}

std::vector<ScoreTap> selectionScoreTaps(int64_t blockLen, int64_t stride,
                                         int64_t slcBlockLen) {
  // Read the taps off selection block l / d, whose first overlapping
  // compressed block, (l / d) * (l' / d - 1) + 1, is past 0.
  int64_t probe = blockLen / stride;
  int64_t blocksPerSlc = slcBlockLen / stride;
  BlockRange range =
      compressedBlocksOverlapping(probe, blockLen, stride, slcBlockLen);
  std::vector<ScoreTap> taps;
  for (int64_t i = range.first; i < range.last; ++i)
    if (int64_t tokens = overlapTokens(i, probe, blockLen, stride, slcBlockLen))
      taps.push_back({i - probe * blocksPerSlc, tokens});
  return taps;
}

int64_t windowStart(int64_t pos, int64_t window) {
  return std::max<int64_t>(0, pos - window + 1);
}

int64_t kvHeadOf(int64_t queryHead, int64_t groupSize) {
  return queryHead / groupSize;
}

} // namespace nsa
