/**
 * x87 micro-benchmark: host nanoseconds (CPU time) per instruction of the TypeScript
 * FPU (src/guest/cpu/fpu) called directly, without the CPU around it: fadd,
 * fmul, fdiv, fsqrt, fild+fistp (m32, the pair), fsin, at each precision
 * control (24, 53, 64 bits), on operands with full random significands.
 * Also prints the young-generation garbage collections the run caused
 * (--expose-gc is not needed: counted with PerformanceObserver).
 *
 *   npx tsc -p . && node dist/scripts/bench-x87.js [iterations]
 *
 * X87_FPU=<path of a compiled fpu.js> measures another build of the FPU
 * (for before/after figures).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import * as path from 'node:path';
import type { Fpu as FpuType, FpuHost } from '../src/guest/cpu/fpu/fpu';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { Fpu } = require(process.env.X87_FPU ? path.resolve(process.env.X87_FPU) : '../src/guest/cpu/fpu/fpu') as { Fpu: typeof FpuType };

class Host implements FpuHost {
  readonly mem = new Uint8Array(0x1000);
  read8(a: number): number { return this.mem[a]; }
  read16(a: number): number { return this.mem[a] | (this.mem[a + 1] << 8); }
  // int32, as the CPU's MMU returns it.
  read32(a: number): number { return this.mem[a] | (this.mem[a + 1] << 8) | (this.mem[a + 2] << 16) | (this.mem[a + 3] << 24); }
  write8(a: number, v: number): void { this.mem[a] = v; }
  write16(a: number, v: number): void { this.mem[a] = v; this.mem[a + 1] = v >> 8; }
  write32(a: number, v: number): void { this.write16(a, v); this.write16(a + 2, v >>> 16); }
  checkWrite(): void { /* all writable */ }
  getEflags(): number { return 2; }
  setArithFlags(): void { /* unused */ }
  setAx(): void { /* unused */ }
  raiseMF(): void { throw new Error('#MF'); }
}

const N = Number(process.argv[2] ?? 300000);
const host = new Host();
const fpu = new Fpu(host);
const dv = new DataView(host.mem.buffer);
const M = 0x100;   // memory operand
let seed = 12345;
function rnd(): number { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; }

/** Load the control word and an 8-register stack of values near 1 (random significands). */
function setup(pc: number): void {
  fpu.execute(0xDB, 0xE3, 0, false);                       // fninit
  dv.setUint16(M, 0x007F | (pc << 8), true);
  fpu.execute(0xD9, 0x2D, M, false);                       // fldcw
  for (let i = 0; i < 6; i++) {
    dv.setUint32(M, rnd(), true); dv.setUint32(M + 4, (rnd() & 0x000FFFFF) | 0x3FF00000, true);
    fpu.execute(0xDD, 0x05, M, false);                     // fld m64
  }
}

let gcs = 0;
new PerformanceObserver((list) => { gcs += list.getEntries().length; }).observe({ entryTypes: ['gc'] });

/** ns of this process's CPU time per iteration of `body` (less skewed by a
 *  busy machine than wall time), the best of five runs. */
function time(body: () => void, iters: number): number {
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < iters; i++) body();
    const t = process.cpuUsage(t0);
    best = Math.min(best, (t.user + t.system) * 1e3 / iters);
  }
  return best;
}

const ops: [string, () => void, number][] = [
  // Alternating add and subtract of ST(1) keeps ST(0) in range.
  ['fadd', () => { fpu.execute(0xD8, 0xC1, 0, false); fpu.execute(0xD8, 0xE1, 0, false); }, 2],
  // Times r, then times (1/r) rounded: ST(0) stays near its start.
  ['fmul', () => { fpu.execute(0xD8, 0xCA, 0, false); fpu.execute(0xD8, 0xC9, 0, false); }, 2],
  ['fdiv', () => { fpu.execute(0xD8, 0xF1, 0, false); fpu.execute(0xD8, 0xF2, 0, false); }, 2],
  ['fsqrt', () => { fpu.execute(0xD9, 0xC1, 0, false); fpu.execute(0xD9, 0xFA, 0, false); fpu.execute(0xDD, 0xD8, 0, false); }, -1],
  ['fild+fistp', () => { fpu.execute(0xDB, 0x05, M + 16, false); fpu.execute(0xDB, 0x1D, M + 16, false); }, 1],
  ['fsin', () => { fpu.execute(0xD9, 0xC1, 0, false); fpu.execute(0xD9, 0xFE, 0, false); fpu.execute(0xDD, 0xD8, 0, false); }, -1],
];

// The fld st(1); fstp st(0) frame around fsqrt and fsin, subtracted from them.
const frame = (): void => { fpu.execute(0xD9, 0xC1, 0, false); fpu.execute(0xDD, 0xD8, 0, false); };

async function main(): Promise<void> {
const results: string[] = [];
for (const pc of [0, 2, 3]) {
  const bits = pc === 0 ? 24 : pc === 2 ? 53 : 64;
  const row: string[] = [];
  setup(pc);
  const frameNs = time(frame, N);
  for (const [name, body, per] of ops) {   // eslint-disable-line no-await-in-loop
    setup(pc);
    if (name === 'fmul') {
      // ST(0) = v, ST(1) = 1/r, ST(2) = r.
      fpu.execute(0xD9, 0xE8, 0, false); fpu.execute(0xD8, 0xF1, 0, false); fpu.execute(0xD9, 0xC2, 0, false);
    }
    dv.setInt32(M + 16, -123456789, true);
    const iters = name === 'fsin' ? Math.max(1000, N / 10) : N;
    const g0 = gcs;
    let ns = time(body, iters);
    await new Promise((resolve) => setTimeout(resolve, 10));   // let the GC observer report
    if (per === -1) ns -= frameNs;
    else ns /= per;
    row.push(`${name} ${ns.toFixed(0)} ns${gcs > g0 ? ` (${gcs - g0} GCs)` : ''}`);
  }
  results.push(`PC ${bits}: ${row.join(', ')}`);
}
console.log(results.join('\n'));
}
void main();
