#!/usr/bin/env sh
# Builds the C benchmark harness of crd's AVX-512 kernels into $1 (default
# bin/cbench at the repository root), and the bf16 one (bf16bench.c) next to
# it as $1-bf16. Used by `make cbench` and, built but
# not run, by the avx512 package's tests.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../bin/cbench}
mkdir -p "$(dirname "$out")"
${CC:-cc} -O3 -pthread -o "$out" "$here/cbench.c" "$here/../norms.c" "$here/../gram.c" "$here/../sgemm.c" \
	"$here/../../peak/peak.c"
${CC:-cc} -O3 -o "$out-bf16" "$here/bf16bench.c" "$here/../sgemm.c" "$here/../bf16.c"
