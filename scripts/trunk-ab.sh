#!/usr/bin/env bash
# Two crd builds' backbone trunks, interleaved in one run: for each pair, `crd bench --trunk` of A and of B (the order
# alternating between pairs) time the same trunk and batch on random weights. Prints, per trunk and batch, the median
# images/s of each and the median over the pairs of B / A, the only figure that means much on a shared machine.
#
#   scripts/trunk-ab.sh [--pairs 9] [--rounds 5] [--trunks "inception_v3 wide_resnet50_2 resnet18"] [--batches "1 8"]
#       [--busy] A B
#
# --busy runs a "busy neighbour" for the whole run: another process keeping one core half busy (50 ms of spinning,
# 50 ms of sleep), which slows whichever of crd's threads shares its core.
set -euo pipefail

pairs=9 rounds=5 busy=0
trunks="inception_v3 wide_resnet50_2 resnet18"
batches="1 8"
usage() { echo "usage: $0 [--pairs N] [--rounds N] [--trunks LIST] [--batches LIST] [--busy] A B" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --trunks) trunks=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --busy) busy=1; shift ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
a=$1 b=$2

if [ "$busy" = 1 ]; then
  python3 -c 'import time
while True:
  t = time.time()
  while time.time() - t < 0.05: pass
  time.sleep(0.05)' &
  neighbour=$!
  trap 'kill "$neighbour"' EXIT
fi

rate() { "$1" bench --trunk --backbone "$2" --batch "$3" --rounds "$rounds" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["median_images_per_s"])'; }

echo "| trunk | batch | neighbour | A images/s | B images/s | B / A |"
echo "|---|---:|---|---:|---:|---:|"
for t in $trunks; do
  for n in $batches; do
    ra=() rb=()
    for ((i = 0; i < pairs; i++)); do
      if ((i % 2 == 0)); then ra+=("$(rate "$a" "$t" "$n")"); rb+=("$(rate "$b" "$t" "$n")")
      else rb+=("$(rate "$b" "$t" "$n")"); ra+=("$(rate "$a" "$t" "$n")"); fi
    done
    python3 - "$t" "$n" "$busy" "${ra[*]}" "${rb[*]}" <<'PY'
import statistics, sys
t, n, busy, ra, rb = sys.argv[1:]
ra, rb = [float(v) for v in ra.split()], [float(v) for v in rb.split()]
ratio = statistics.median(y / x for x, y in zip(ra, rb))
print(f"| {t} | {n} | {'busy' if busy == '1' else 'none'} | {statistics.median(ra):.2f} | {statistics.median(rb):.2f} | {ratio:.3f} |")
PY
  done
done
