#!/usr/bin/env bash
# Two crd builds' `crd predict` in interleaved rounds, with and without --out: each round runs A then B (B then A in
# even rounds), each under /usr/bin/time and with a CPU profile (CRD_CPUPROFILE, stage labels), and the end prints
# the median images/s, CPU seconds and same-round ratios (A / B) of wall and CPU time.
#
#   scripts/predict-ab.sh [--rounds 5] [--dir DIR] A_BINARY B_BINARY MODEL IMAGE...
#
# The profiles are DIR/{a,b}-{plain,out}-ROUND.prof (DIR defaults to a new temporary folder); merge a build's with
#   go tool pprof -tags DIR/b-out-*.prof
# Only same-run ratios mean anything on a shared machine.
set -euo pipefail

rounds=5 dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 4 ]; then
  echo "usage: $0 [--rounds N] [--dir DIR] A_BINARY B_BINARY MODEL IMAGE..." >&2
  exit 2
fi
a=$1 b=$2 model=$3
shift 3
[ -n "$dir" ] || dir=$(mktemp -d)
mkdir -p "$dir"
times="$dir/times.txt"
: > "$times"
for r in $(seq 1 "$rounds"); do
  order="a b"
  [ $((r % 2)) = 0 ] && order="b a"
  for which in $order; do
    bin=$a
    [ "$which" = b ] && bin=$b
    for mode in plain out; do
      out=()
      if [ "$mode" = out ]; then
        rm -rf "$dir/png"
        out=(--out "$dir/png")
      fi
      CRD_CPUPROFILE="$dir/$which-$mode-$r.prof" /usr/bin/time -f "$r $which $mode %e %U %S" -a -o "$times" \
        "$bin" predict -m "$model" --quiet "${out[@]}" "$@" > /dev/null
    done
  done
  echo "[predict-ab] round $r done" >&2
done
rm -rf "$dir/png"
python3 - "$times" "$#" <<'PY'
import statistics as st, sys
d = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 6:
        r, b, m, e, u, s = f
        d.setdefault((b, m), {})[int(r)] = (float(e), float(u) + float(s))
n = int(sys.argv[2])
for m in ("plain", "out"):
    rounds = sorted(set(d[("a", m)]) & set(d[("b", m)]))
    for b in ("a", "b"):
        print(f"{m:5} {b}: {n / st.median(d[(b, m)][r][0] for r in rounds):.2f} images/s, "
              f"{st.median(d[(b, m)][r][1] for r in rounds):.2f} CPU s (medians)")
    wall = [d[("a", m)][r][0] / d[("b", m)][r][0] for r in rounds]
    cpu = [d[("a", m)][r][1] / d[("b", m)][r][1] for r in rounds]
    print(f"{m:5} a/b same-round ratios: wall time {st.median(wall):.3f} {[round(x, 2) for x in wall]}, "
          f"CPU time {st.median(cpu):.3f} {[round(x, 2) for x in cpu]}")
PY
echo "profiles: $dir" >&2
