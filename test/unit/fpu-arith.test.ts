/**
 * The basic arithmetic bit for bit against the host's x87 on many operands
 * with full random significands (the division and square root digits, the
 * correction steps and the rounding of their remainders): fadd, fsub, fmul,
 * fdiv, fdivr, fsqrt, fprem and fprem1, every precision and rounding control, and operands
 * whose significands are nearly equal, all ones, or powers of two, where
 * the digit estimates are most often off by one.
 */
import * as assert from 'assert';
import { buildOracle, runOracle, runOurs, Case } from './fpu-oracle/harness';
import { Rng, putExt } from './fpu-oracle/cases';

const CASES = Number(process.env.FPU_ARITH_CASES ?? 4000);
const hex = (b: Uint8Array, from = 0, to = b.length): string => Buffer.from(b.subarray(from, to)).toString('hex');

function significand(r: Rng, like?: [number, number]): [number, number] {
  switch (r.int(6)) {
    case 0: return [0xFFFFFFFF, 0xFFFFFFFF];
    case 1: return [r.chance(0.5) ? 0 : 1, 0x80000000];
    case 2: if (like) return [(like[0] + r.int(5) - 2) >>> 0, like[1]]; break;   // nearly equal
    case 3: return [r.u32() & ~0xFFF, (r.u32() | 0x80000000) >>> 0];           // short
  }
  return [r.u32(), (r.u32() | 0x80000000) >>> 0];
}

function makeCases(seed: number, modrms: number[][], spread = 40): Case[] {
  const r = new Rng(seed);
  const out: Case[] = [];
  for (let i = 0; i < CASES; i++) {
    const img = new Uint8Array(108);
    const dv = new DataView(img.buffer);
    dv.setUint32(0, 0xFFFF0000 | 0x7F | (r.pick([0, 2, 3]) << 8) | (r.int(4) << 10), true);
    dv.setUint32(4, 0xFFFF0000, true);
    const a = significand(r), b = significand(r, a);
    putExt(img, 28, [a[0], a[1], (r.int(2) << 15) | (16383 - 20 + r.int(spread))]);
    putExt(img, 38, [b[0], b[1], (r.int(2) << 15) | (16383 - 20 + r.int(40))]);
    dv.setUint32(8, 0xFFFF0000 | 0xFFF0, true);
    out.push({ state: img, mem: new Uint8Array(0), insn: r.pick(modrms), eflags: 2 });
  }
  return out;
}

describe('x87 arithmetic on random significands against the host CPU', function () {
  this.timeout(120000);
  const oracle = buildOracle();
  const groups: [string, number[][], number?][] = [
    ['fadd, fsub, fsubr', [[0xD8, 0xC1], [0xD8, 0xE1], [0xD8, 0xE9]]],
    ['fmul', [[0xD8, 0xC9]]],
    ['fdiv, fdivr', [[0xD8, 0xF1], [0xD8, 0xF9], [0xDC, 0xF9]]],
    ['fsqrt', [[0xD9, 0xFA]]],
    // Exponent differences up to 100: every digit count, and partial remainders.
    ['fprem, fprem1', [[0xD9, 0xF8], [0xD9, 0xF5]], 120],
  ];
  groups.forEach(([name, modrms, spread], k) => {
    it(`${name}: bit-exact`, function () {
      if (oracle instanceof Error) this.skip();
      const cases = makeCases(0xA17 + k, modrms, spread);
      const host = runOracle(oracle as string, cases);
      const bad: string[] = [];
      cases.forEach((c, i) => {
        const o = runOurs(c), h = host[i];
        if (hex(h.state, 0, 12) !== hex(o.state, 0, 12) || hex(h.state, 28, 48) !== hex(o.state, 28, 48)) {
          bad.push(`${hex(new Uint8Array(c.insn))} cw ${hex(c.state, 0, 2)} in ${hex(c.state, 28, 48)}: host ${hex(h.state, 4, 6)} ${hex(h.state, 28, 48)}, ours ${hex(o.state, 4, 6)} ${hex(o.state, 28, 48)}`);
        }
      });
      assert.deepStrictEqual(bad.slice(0, 4), [], `${bad.length} of ${cases.length} differ`);
    });
  });
});
