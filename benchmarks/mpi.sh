#!/bin/bash
# Data-parallel training over MPI on this machine (issue 13): P processes × 1 thread each
# against 1 process × P threads, for LeNet (configs/mnist.json) and the batch-norm model
# (configs/mnist-bn-adam.json), one full epoch each, rounds alternating; and the same P
# processes with the gradient all-reduce after backward instead of overlapped with it.
#
#   benchmarks/mpi.sh [ROUNDS (default 3)] [P (default 2)]
#
# Prints one line per run: training images/s (the epoch's, evaluation excluded), and for the
# MPI runs the all-reduce's bytes per step and the wait per step it left after backward.
set -euo pipefail
rounds=${1:-3}
processes=${2:-2}
cd "$(dirname "$0")/.."
swift build -c release --product train >&2
train=.build/release/train
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun=(mpirun --oversubscribe -np "$processes")
[ "$(id -u)" -eq 0 ] && mpirun=(mpirun --allow-run-as-root --oversubscribe -np "$processes")

# The epoch's images/s from metrics.csv, and the all-reduce figures from the epoch line.
report() {
    local label=$1 directory=$2 log=$3
    local rate
    rate=$(tail -1 "$directory/metrics.csv" | cut -d, -f8)
    local traffic
    traffic=$(grep -o 'all-reduce .*' "$log" | tail -1 || true)
    printf '%-28s %-26s %9s img/s  %s\n' "$config" "$label" "$rate" "$traffic"
}

for config in configs/mnist.json configs/mnist-bn-adam.json; do
    for round in $(seq "$rounds"); do
        rm -rf "$work"/*
        "$train" "$config" --epochs 1 --threads "$processes" -o "$work/one" --progress none > "$work/one.log"
        report "1 process × $processes threads" "$work/one" "$work/one.log"
        "${mpirun[@]}" "$train" "$config" --epochs 1 --threads 1 -o "$work/overlap" --progress none > "$work/overlap.log"
        report "$processes processes × 1 thread" "$work/overlap" "$work/overlap.log"
        "${mpirun[@]}" "$train" "$config" --epochs 1 --threads 1 -o "$work/after" --progress none --no-overlap > "$work/after.log"
        report "  the same, no overlap" "$work/after" "$work/after.log"
    done
done
