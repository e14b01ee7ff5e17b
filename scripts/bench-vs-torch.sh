#!/usr/bin/env bash
# crd's backbone trunks against PyTorch's, interleaved in one run: for each round, each trunk, each batch size and
# each condition, `crd bench --trunk` and then PyTorch (best of its contiguous and channels_last layouts) time the same
# trunk on a random batch with random weights. Conditions: "quiet" (nothing else started) and "busy" (another process
# keeps one core half busy: 50 ms of spinning, 50 ms of sleep, started before the pair and stopped after it). Prints
# a ratio table (crd / PyTorch images/s, medians over the rounds) with the same-run float64 FMA peak of the cores
# (BenchmarkPeak64, before and after the rounds), and the same as JSON. A tool, not a test: it installs Debian's
# python3-torch and python3-torchvision when missing.
#
#   scripts/bench-vs-torch.sh [--rounds 5] [--threads 2] [--passes 3] [--trunks "inception_v3 wide_resnet50_2 resnet18"]
#       [--batches "1 8"] [--conditions "quiet busy"] [--json FILE]
#
# Only same-run ratios mean anything on a shared machine. The OpenBLAS variables are left as they are; unset
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this one command if you want them out of the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 threads=2 passes=3 json=""
trunks="inception_v3 wide_resnet50_2 resnet18"
batches="1 8"
conditions="quiet busy"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    --trunks) trunks=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --conditions) conditions=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--threads N] [--passes N] [--trunks LIST] [--batches LIST] [--conditions "quiet busy"] [--json FILE]" >&2; exit 2 ;;
  esac
done
log() { printf '[bench-vs-torch] %s\n' "$*" >&2; }
. scripts/lib.sh

py=/usr/bin/python3
if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
  apt_install python3-torch python3-torchvision || exit 1
fi

work=$(mktemp -d)
neighbour=""
stop_neighbour() { if [ -n "$neighbour" ]; then kill "$neighbour" 2>/dev/null || true; wait "$neighbour" 2>/dev/null || true; neighbour=""; fi; }
trap 'stop_neighbour; rm -rf "$work"' EXIT
go build -o "$work/crd" ./cmd/crd

# One PyTorch measurement: trunk, batch, passes -> {"images_per_s": best layout's median over the passes}.
cat >"$work/torch_trunk.py" <<'PY'
import json, statistics, sys, time
import torch, torchvision

name, batch, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(1)
if name == "inception_v3":
    m = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
    # crd's trunk ends at Keras mixed5, torchvision's Mixed_6c.
    trunk = torch.nn.Sequential(m.Conv2d_1a_3x3, m.Conv2d_2a_3x3, m.Conv2d_2b_3x3, m.maxpool1, m.Conv2d_3b_1x1,
                                m.Conv2d_4a_3x3, m.maxpool2, m.Mixed_5b, m.Mixed_5c, m.Mixed_5d, m.Mixed_6a,
                                m.Mixed_6b, m.Mixed_6c)
    size = 299
else:
    m = getattr(torchvision.models, name)(weights=None)
    # crd's ResNet trunks end at layer3.
    trunk = torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3)
    size = 224
trunk = trunk.eval()
best = 0.0
for layout in (torch.contiguous_format, torch.channels_last):
    net = trunk.to(memory_format=layout)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=layout)
    rates = []
    with torch.no_grad():
        net(x)  # warm up
        for _ in range(passes):
            t0 = time.perf_counter()
            net(x)
            rates.append(batch / (time.perf_counter() - t0))
    best = max(best, statistics.median(rates))
print(json.dumps({"images_per_s": best, "torch": torch.__version__}))
PY

# The table and JSON from the collected measurements (one JSON object per line).
cat >"$work/table.py" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = []
for r in rows:
    k = (r["trunk"], r["batch"], r["condition"])
    if k not in keys:
        keys.append(k)
out = {"cpu": sys.argv[2], "date": sys.argv[3], "threads": int(sys.argv[4]), "torch": rows[0].get("torch", ""),
       "peak64_gflops": [float(v) for v in sys.argv[5:7] if v], "results": []}
peak = " and ".join(f"{v:.0f}" for v in out["peak64_gflops"]) or "not measured"
print(f"{out['date']}, {out['cpu']}, {out['threads']} threads, PyTorch {out['torch']} (best of contiguous and channels_last), "
      f"random weights; medians over {len(rows) // max(len(keys), 1)} interleaved rounds; same-run float64 FMA peak "
      f"(BenchmarkPeak64) {peak} GFLOP/s before and after\n")
print("| trunk | batch | condition | crd images/s | PyTorch images/s | crd / PyTorch |")
print("|---|---:|---|---:|---:|---:|")
for trunk, batch, cond in keys:
    rs = [r for r in rows if r["trunk"] == trunk and r["batch"] == batch and r["condition"] == cond]
    crd = statistics.median(r["crd"] for r in rs)
    pt = statistics.median(r["torch_rate"] for r in rs)
    ratio = statistics.median(r["crd"] / r["torch_rate"] for r in rs)
    size = 299 if trunk == "inception_v3" else 224
    print(f"| {trunk} @{size} | {batch} | {cond} | {crd:.2f} | {pt:.2f} | {ratio:.2f}x |")
    out["results"].append({"trunk": trunk, "size": size, "batch": batch, "condition": cond, "rounds": len(rs), "crd_images_per_s": crd,
                           "torch_images_per_s": pt, "ratio": ratio,
                           "per_round": [{"crd": r["crd"], "torch": r["torch_rate"]} for r in rs]})
print()
print(json.dumps(out, indent=2))
PY

# The same-run float64 FMA peak of the cores, in GFLOP/s (empty where there is no AVX-512 kernel).
peak64() {
  GOMAXPROCS=$threads go test -run '^$' -bench '^BenchmarkPeak64$' -benchtime 20x ./crd 2>/dev/null |
    awk '{for (i = 2; i <= NF; i++) if ($i == "GFLOP/s") print $(i-1)}' | tail -n 1
}
# A neighbour that keeps one core half busy, until killed.
cat >"$work/neighbour.py" <<'PY'
import time
while True:
    t = time.time()
    while time.time() - t < 0.05:
        pass
    time.sleep(0.05)
PY
peak_before=$(peak64)
results="$work/results.jsonl"
: >"$results"
for r in $(seq 1 "$rounds"); do
  for t in $trunks; do
    for b in $batches; do
      for cond in $conditions; do
        case "$cond" in
          quiet) ;;
          busy) "$py" "$work/neighbour.py" & neighbour=$! ;;
          *) echo "unknown condition $cond (want quiet or busy)" >&2; exit 2 ;;
        esac
        c=$(GOMAXPROCS=$threads "$work/crd" bench --trunk --backbone "$t" --batch "$b" --rounds "$passes" --json |
          "$py" -c 'import json,sys; print(json.load(sys.stdin)["median_images_per_s"])')
        tj=$("$py" "$work/torch_trunk.py" "$t" "$b" "$passes" "$threads")
        stop_neighbour
        "$py" -c 'import json,sys; t=json.loads(sys.argv[4]); print(json.dumps({"round": int(sys.argv[1]), "trunk": sys.argv[2], "batch": int(sys.argv[3]), "condition": sys.argv[6], "crd": float(sys.argv[5]), "torch_rate": t["images_per_s"], "torch": t["torch"]}))' \
          "$r" "$t" "$b" "$tj" "$c" "$cond" >>"$results"
        log "round $r/$rounds $t batch $b $cond: crd $c images/s, PyTorch $(echo "$tj" | "$py" -c 'import json,sys; print(round(json.load(sys.stdin)["images_per_s"], 2))') images/s"
      done
    done
  done
done
peak_after=$(peak64)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
report=$("$py" "$work/table.py" "$results" "$cpu" "$(date -u +%Y-%m-%dT%H:%MZ)" "$threads" "$peak_before" "$peak_after")
echo "$report"
if [ -n "$json" ]; then
  echo "$report" | sed -n '/^{/,$p' >"$json"
fi
