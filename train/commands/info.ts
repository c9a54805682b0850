import { availableParallelism, cpus, totalmem } from 'node:os';
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { listBackends, listOps } from '../../engine/index.js';
import { parseBackendChoice, describeWebGPU, releaseBackend } from '../backend.js';
import { stringFlag } from '../cli/args.js';
import { readyConfig } from '../cli/common.js';
import type { Command } from './command.js';

/** The WebGPU limits that decide what fits (buffer sizes, workgroup memory and size). */
const KEY_LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage'];

export const infoCommand: Command = {
  name: 'info',
  summary: 'show the backends (CPU, WebGPU adapter and its limits), the machine and the ready configurations',
  flags: [
    { name: 'backend', value: 'cpu|webgpu|gpujs|auto', help: 'the choice to report on (default: $ENGINE_BACKEND, else cpu)' },
    { name: 'help', help: 'show this help' },
  ],
  async run(args) {
    const choice = parseBackendChoice(stringFlag(args, 'backend'));
    console.log(`node ${process.version} on ${process.platform}/${process.arch}; ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}); ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
    console.log(`engine: ${listOps().length} ops; backends registered now: ${listBackends().join(', ')}`);
    console.log(`backend choice: ${choice} (--backend, else ENGINE_BACKEND=${process.env.ENGINE_BACKEND ?? '(unset)'}, else cpu)`);
    console.log('cpu: always available (plain TypeScript kernels, float32/float64/int32)');
    const gpu = await describeWebGPU();
    if (gpu.available) {
      console.log(`webgpu: ${gpu.adapter}`);
      for (const key of KEY_LIMITS) if (gpu.limits?.[key] !== undefined) console.log(`  ${key}: ${gpu.limits[key]}`);
    } else {
      console.log(`webgpu: not available — ${gpu.reason}`);
    }
    await releaseBackend();
    const dir = dirname(readyConfig('x'));
    console.log(`ready configurations in ${dir}: ${readdirSync(dir).filter((f) => f.endsWith('.json')).sort().join(', ')}`);
  },
};
