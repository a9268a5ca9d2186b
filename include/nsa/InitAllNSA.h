//===- InitAllNSA.h - Register the nsa dialect and passes -------*- C++ -*-===//
//
// What an embedding compiler calls to make the nsa dialect and passes
// available: registerNSADialect(registry) before creating the context, and
// registerNSAPasses() once for textual pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_INITALLNSA_H
#define NSA_INITALLNSA_H

#include "nsa/Dialect/NSA/Transforms/Passes.h"

namespace mlir {
class DialectRegistry;
namespace nsa {

/// Adds the nsa dialect to `registry`.
void registerNSADialect(DialectRegistry &registry);

} // namespace nsa
} // namespace mlir

#endif // NSA_INITALLNSA_H
