#!/usr/bin/env bash
# Prepares the carried copy of fla-org/flash-linear-attention's `fla/` package for
# bench/benchmark.py (the anchor fla.ops.nsa.parallel_nsa). Never committed:
# third_party_carry/ is git-ignored; pass third_party_carry/fla_src in the device
# call's carry list.
#
#   bench/prepare_fla.sh [GIT_DIR] [COMMIT]
#
# GIT_DIR: a clone or bare mirror of the repository (default: the search tool's
# mirror /work/.mirror/fla-org+flash-linear-attention/repo); COMMIT: default HEAD.
#
# The copy is trimmed as ../shared/docs/gpu-workflow.md says: fla/__init__.py and
# fla/ops/__init__.py import every model and op, so they are replaced (fla/__init__.py
# keeps only __version__, which fla/utils/_decorators.py imports; fla/ops/__init__.py
# is empty). No kernel file is changed. `import fla.ops.nsa` then loads only
# fla.utils, fla.ops.utils, fla.ops.attn and fla.ops.nsa (needs torch, triton,
# packaging and einops).
set -euo pipefail
cd "$(dirname "$0")/.."
git_dir=${1:-/work/.mirror/fla-org+flash-linear-attention/repo}
commit=${2:-HEAD}
dest=third_party_carry/fla_src

if ! git check-ignore -q "$dest/fla/__init__.py"; then
  echo "error: $dest is not git-ignored; refusing to put fla's code there" >&2
  exit 1
fi
hash=$(git --git-dir="$git_dir" rev-parse "$commit^{commit}")
version=$(git --git-dir="$git_dir" show "$hash:fla/__init__.py" |
  sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\)["'\''].*/\1/p')
rm -rf "$dest"
mkdir -p "$dest"
git --git-dir="$git_dir" archive "$hash" fla | tar -x -C "$dest"
printf '# Trimmed by bench/prepare_fla.sh: only the version (fla/utils imports it).\n__version__ = "%s"\n' \
  "${version:-unknown}" > "$dest/fla/__init__.py"
: > "$dest/fla/ops/__init__.py"
printf '%s\n' "$hash" > "$dest/FLA_COMMIT"
git --git-dir="$git_dir" log -1 --format='%H %cI %s' "$hash" > "$dest/FLA_COMMIT_INFO"
echo "fla $hash (version ${version:-unknown}) in $dest: $(du -sh "$dest" | cut -f1)"
