#!/usr/bin/env bash
# ConvNet against PyTorch on the same models, alternating in rounds so that both see the same
# machine (a shared VM drifts by 10–20% from minute to minute): per round and per config,
# `bench --only train` and `--only infer`, then PyTorch's default layout and channels_last.
#
#     benchmarks/compare.sh [ROUNDS] [CONFIG...]     # default: 3 rounds of mnist, mnist-best, colour-mnist
#
# Needs the release build (`swift build -c release`) and PyTorch (`pip install torch`, or
# PYTHON=/path/to/python with it). Prints one line per measurement, then a table of ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/mnist.json configs/mnist-best.json configs/colour-mnist.json)
python=${PYTHON:-python3}
[ -x .build/python-torch/bin/python ] && python=${PYTHON:-.build/python-torch/bin/python}
bench=.build/release/bench
[ -x "$bench" ] || { echo "compare.sh: build first: swift build -c release" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null || { echo "compare.sh: $python has no torch; pip install torch, or set PYTHON" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
# number TEXT PATTERN-OF-LINE PATTERN-OF-VALUE: the first value on the first matching line.
number() { local line; line=$(grep -m1 -e "$2" <<< "$1" || true); grep -oE "$3" <<< "$line" | head -1 | tr -d ',' | sed -E 's/ (images\/s|GFLOP\/s|ms)$//' || true; }

for round in $(seq 1 "$rounds"); do
    for config in "${configs[@]}"; do
        name=$(basename "$config" .json)
        # Without the config's augmentation: PyTorch's side trains on the images as they are.
        output=$("$bench" -c "$config" --only train --no-augmentation 2>&1)
        grep -m1 "OpenBLAS" <<< "$output" >&2 || true
        train=$(number "$output" "train $name" '[0-9]+ images/s')
        ceiling=$(number "$output" "(ceiling)" '[0-9.]+ GFLOP/s')
        core=$(number "$output" "OpenBLAS core" 'core [A-Za-z0-9]+' | sed 's/core //'; true)
        share=$(number "$output" "achieved GFLOP/s" '[0-9]+%' | tr -d '%')
        output=$("$bench" -c "$config" --only infer 2>&1)
        infer=$(number "$output" "inference batch 256" '[0-9]+ images/s')
        latency=$(number "$output" "latency" '[0-9.]+ ms')
        for layout in default channels-last; do
            flag=(); [ "$layout" = channels-last ] && flag=(--channels-last)
            output=$("$python" benchmarks/pytorch_models.py --config "$config" "${flag[@]}" 2>&1)
            torch_train=$(number "$output" "train throughput" '[0-9]+ images/s')
            torch_infer=$(number "$output" "inference batch 256" '[0-9]+ images/s')
            torch_latency=$(number "$output" "latency" '[0-9.]+ ms')
            echo "$round $name $layout $train $torch_train $infer $torch_infer $latency $torch_latency $ceiling $share $core" >> "$results"
            echo "round $round $name: ConvNet train $train, infer $infer, latency $latency ms ($share% of $ceiling GFLOP/s);" \
                 "PyTorch $layout train $torch_train, infer $torch_infer, latency $torch_latency ms"
        done
    done
done

echo
echo "| config | PyTorch layout | round | train ratio | inference ratio | latency ConvNet / PyTorch | ConvNet share of SGEMM ceiling |"
echo "|---|---|---|---|---|---|---|"
sort -k2,2 -k3,3 -k1,1n "$results" | awk '{
    printf "| %s | %s | %s | %.2f× (%s / %s) | %.2f× (%s / %s) | %s / %s ms | %s%% of %s GFLOP/s (%s) |\n",
        $2, $3, $1, $4 / $5, $4, $5, $6 / $7, $6, $7, $8, $9, $11, $10, $12 }'
