//===- BlockMath.h - NSA block counts, visibility and index maps -*- C++ -*-===//
//
// The integer arithmetic of the NSA semantics (docs/nsa-semantics.md), with
// 0-based positions. It depends on nothing of LLVM or MLIR so that the
// compiler, the runtime and the tests share one definition.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_SUPPORT_BLOCKMATH_H
#define NSA_SUPPORT_BLOCKMATH_H

#include <cstdint>
#include <vector>

namespace nsa {

/// Number of compressed blocks of `blockLen` tokens at stride `stride` that
/// fit in `seqLen` tokens: block i covers [i*stride, i*stride + blockLen).
int64_t numCompressedBlocks(int64_t seqLen, int64_t blockLen, int64_t stride);

/// Number of compressed blocks that end at or before position `pos`, i.e.
/// that a query at `pos` sees; they are blocks 0 .. result-1.
int64_t numVisibleCompressedBlocks(int64_t pos, int64_t blockLen,
                                   int64_t stride);

/// Whether a query at `pos` sees compressed block `block`.
bool isCompressedBlockVisible(int64_t pos, int64_t block, int64_t blockLen,
                              int64_t stride);

/// Number of selection blocks of `slcBlockLen` tokens covering `seqLen`
/// tokens (the last one may be partial).
int64_t numSelectionBlocks(int64_t seqLen, int64_t slcBlockLen);

/// Number of selection blocks a query at `pos` sees (j*slcBlockLen <= pos).
int64_t numVisibleSelectionBlocks(int64_t pos, int64_t slcBlockLen);

/// Tokens shared by compressed block `cmpBlock` and selection block
/// `slcBlock`: |[i*d, i*d + l) ∩ [j*l', (j+1)*l')|. The selection score
/// weight of Eq. 9 is this divided by the stride.
int64_t overlapTokens(int64_t cmpBlock, int64_t slcBlock, int64_t blockLen,
                      int64_t stride, int64_t slcBlockLen);

/// Whether selection block j is exactly compressed block j (l = d = l'), so
/// the overlap weights of Eq. 9 are [i == j] and the selection scores are
/// the compressed probabilities themselves.
bool selectionBlocksAreCompressedBlocks(int64_t blockLen, int64_t stride,
                                        int64_t slcBlockLen);

/// The half-open range [first, last) of compressed blocks that overlap
/// selection block `slcBlock` (possibly empty, never negative).
struct BlockRange {
  int64_t first;
  int64_t last;
};
BlockRange compressedBlocksOverlapping(int64_t slcBlock, int64_t blockLen,
                                       int64_t stride, int64_t slcBlockLen);

/// One term of a selection score: compressed block j * (l' / d) + offset
/// contributes `tokens` / d times its probability to selection block j.
struct ScoreTap {
  int64_t offset;
  int64_t tokens;
};

/// Eq. 9's non-zero terms, in ascending order of the compressed block. The
/// stride divides l and l' (ConfigAttr's verifier), so the overlap of
/// compressed block j * (l' / d) + o with selection block j depends on o
/// alone: the same taps serve every selection block (blocks before 0 or
/// past the last compressed block are absent, not zero-weighted).
std::vector<ScoreTap> selectionScoreTaps(int64_t blockLen, int64_t stride,
                                         int64_t slcBlockLen);

/// First key position of the sliding window of a query at `pos`.
int64_t windowStart(int64_t pos, int64_t window);

/// KV head read by query head `queryHead` when `groupSize` query heads share
/// one KV head.
int64_t kvHeadOf(int64_t queryHead, int64_t groupSize);

/// Ceiling division of non-negative `a` by positive `b`.
int64_t ceilDiv(int64_t a, int64_t b);

} // namespace nsa

#endif // NSA_SUPPORT_BLOCKMATH_H
