#!/usr/bin/env bash
# Runs on the lent GPU machine (see scripts/pack-device.sh): the adapter, the WebGPU test files against the CPU
# oracle, and the WebGPU kernel and training-step benchmarks; everything lands in $OUT.
# Usage there: source .devpack/enter.sh && bash scripts/device-check.sh [bench filter]
set -uo pipefail
export ENGINE_BACKEND=webgpu CI=true
out=${OUT:-/tmp/out}
mkdir -p "$out"
node --import tsx train/cli.ts info 2>&1 | tee "$out/info.txt"
timeout 170 node node_modules/vitest/vitest.mjs run test/webgpu --reporter=dot 2>&1 | tail -40 | tee "$out/webgpu-tests.txt"
timeout 230 node --import tsx bench/run.ts --backend webgpu --engines ours --filter "${1:-}" --out "$out/bench.json" 2>&1 | tee "$out/bench.txt"
