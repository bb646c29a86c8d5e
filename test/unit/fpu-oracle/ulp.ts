/**
 * Accuracy of the transcendental instructions against the host's x87:
 * seeded random operands in the domain each instruction is used on (libm's
 * pow/log/exp/atan2 and the long double functions), run on the host and in
 * our Fpu, with the difference of each result counted in units in the last
 * place of the 64-bit significand. Also counts C1 and exception-flag
 * disagreements among the results that agree bit for bit.
 *
 * node dist/test/unit/fpu-oracle/ulp.js [cases per instruction] [seed] [instruction]
 * prints the table ("more" counts 3 ulp or more). ULP_SHOW=n also prints
 * the first n status-word disagreements; ULP_C1=1 tallies C1 and the
 * direction of the 1-ulp differences by instruction, rounding and sign
 * (how the hardware's bias towards zero was found).
 */
import { buildOracle, ordinal, runOracle, runOurs, Case } from './harness';
import { Rng, Ext, putExt } from './cases';

export interface UlpReport {
  name: string;
  cases: number;
  /** ulpCounts[k]: results k ulp away (the last entry: that many or more, or a class mismatch). */
  ulpCounts: number[];
  maxUlp: number;
  /** Among bit-exact results: C1 differs, other status bits differ. */
  c1Diff: number;
  swDiff: number;
  worst: string;
}

interface Insn {
  name: string;
  modrm: number;
  /** Operands ST(0) and, for the two-operand ones, ST(1). */
  gen: (r: Rng) => Ext[];
  /** Results to compare: ST(0) only, or ST(0) and ST(1) (fsincos, fptan). */
  results: number;
}

const BIAS = 16383;
export const C1STATS = new Map<string, number>();
let SHOW = Number(process.env.ULP_SHOW ?? 0);

function sig(r: Rng): [number, number] { return [r.u32(), (r.u32() | 0x80000000) >>> 0]; }

/** A random value with unbiased exponent in [lo, hi], sign s (0/1). */
function val(r: Rng, eLo: number, eHi: number, s = r.int(2)): Ext {
  const [l, h] = sig(r);
  return [l, h, (s << 15) | (BIAS + eLo + r.int(eHi - eLo + 1))];
}

/** 1 + d or 1 - d for small random d: logarithms near 1. */
function nearOne(r: Rng): Ext {
  const k = 1 + r.int(62);
  const d = r.u32();
  if (r.chance(0.5)) return [(d >>> (k > 31 ? k - 31 : 0)) >>> 0, (0x80000000 | (k <= 31 ? d >>> k : 0)) >>> 0, BIAS];
  // 1 - small: 0xFFFF... with exponent -1
  return [(~d) >>> 0, (0xFFFFFFFF - (k <= 31 ? d >>> k : 0)) >>> 0, BIAS - 1];
}

function trigArg(r: Rng): Ext {
  const k = r.int(10);
  if (k < 5) return val(r, -3, 3);
  if (k < 7) return val(r, -70, 62);
  if (k < 9) {
    // Near a multiple of pi/2.
    const m = 1 + r.int(r.chance(0.5) ? 8 : 1 << 20);
    const v = m * Math.PI / 2 * (1 + (r.u32() / 2 ** 32 - 0.5) * 2 ** -(r.int(45)));
    return fromDouble(r.chance(0.5) ? -v : v, r);
  }
  return val(r, 0, 30);
}

function fromDouble(v: number, r: Rng): Ext {
  const f = new Float64Array([v]);
  const u = new Uint32Array(f.buffer);
  const exp = (u[1] >>> 20) & 0x7FF;
  const hi = (0x80000000 | ((u[1] & 0xFFFFF) << 11) | (u[0] >>> 21)) >>> 0;
  const lo = ((u[0] << 11) | (r.u32() & 0x7FF)) >>> 0;   // random low bits beyond the double
  return [lo, hi, ((u[1] >>> 31) << 15) | (exp - 1023 + BIAS)];
}

export const INSNS: Insn[] = [
  { name: 'f2xm1', modrm: 0xF0, results: 1, gen: (r) => [r.chance(0.8) ? val(r, -12, -1) : r.chance(0.7) ? val(r, -70, -13) : [0, 0x80000000, (r.int(2) << 15) | BIAS]] },
  { name: 'fyl2x', modrm: 0xF1, results: 1,
    gen: (r) => [r.chance(0.4) ? nearOne(r) : val(r, -40, 40, 0), r.chance(0.3) ? [0, 0x80000000, BIAS] : val(r, -20, 20)] },
  { name: 'fyl2xp1', modrm: 0xF9, results: 1, gen: (r) => [val(r, r.chance(0.8) ? -30 : -70, -2), r.chance(0.3) ? [0, 0x80000000, BIAS] : val(r, -20, 20)] },
  { name: 'fpatan', modrm: 0xF3, results: 1,
    gen: (r) => { const e = r.int(20) - 10; return [val(r, -8, 8), r.chance(0.8) ? val(r, e - 8, e + 8) : val(r, -70, 70)]; } },
  { name: 'fsin', modrm: 0xFE, results: 1, gen: (r) => [trigArg(r)] },
  { name: 'fcos', modrm: 0xFF, results: 1, gen: (r) => [trigArg(r)] },
  { name: 'fptan', modrm: 0xF2, results: 2, gen: (r) => [trigArg(r)] },
  { name: 'fsincos', modrm: 0xFB, results: 2, gen: (r) => [trigArg(r)] },
];

/** Cases for one instruction: all exceptions masked, random rounding and precision control. */
export function ulpCases(insn: Insn, n: number, seed: number): Case[] {
  const r = new Rng(seed ^ insn.modrm * 0x9E3779B1);
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const img = new Uint8Array(108);
    const dv = new DataView(img.buffer);
    const rc = i < n / 2 ? 0 : r.int(4);   // half in the default mode
    const pc = r.pick([3, 3, 2, 0]);
    dv.setUint32(0, 0xFFFF0000 | 0x7F | (pc << 8) | (rc << 10), true);
    dv.setUint32(4, 0xFFFF0000, true);                      // TOP 0
    const ops = insn.gen(r);
    let tw = 0xFFFF;
    ops.forEach((v, k) => { putExt(img, 28 + 10 * k, v); tw &= ~(3 << (2 * k)); });
    dv.setUint32(8, 0xFFFF0000 | tw, true);
    out.push({ state: img, mem: new Uint8Array(0), insn: [0xD9, insn.modrm], eflags: 2 });
  }
  return out;
}

const hex = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.subarray(from, to)).toString('hex');

export function measure(n: number, seed: number, only?: string): UlpReport[] {
  const bin = buildOracle();
  if (bin instanceof Error) throw bin;
  const reports: UlpReport[] = [];
  for (const insn of INSNS) {
    if (only && insn.name !== only) continue;
    const cases = ulpCases(insn, n, seed);
    const host = runOracle(bin, cases);
    const rep: UlpReport = { name: insn.name, cases: n, ulpCounts: [0, 0, 0, 0], maxUlp: 0, c1Diff: 0, swDiff: 0, worst: '' };
    cases.forEach((c, i) => {
      const h = host[i], o = runOurs(c);
      let worst = 0n;
      for (let k = 0; k < insn.results; k++) {
        const off = 28 + 10 * k;
        const a = ordinal(h.state, off), b = ordinal(o.state, off);
        let d: bigint;
        if (a === null || b === null) d = hex(h.state, off, off + 10) === hex(o.state, off, off + 10) ? 0n : 1n << 40n;
        else {
          d = a > b ? a - b : b - a;
          if (d !== 0n && process.env.ULP_C1) {
            const key = `${insn.name} rc${(c.state[1] >> 2) & 3} ST${k} ${a < 0n ? '-' : '+'} ours ${(b < 0n ? -b : b) > (a < 0n ? -a : a) ? 'bigger' : 'smaller'}`;
            C1STATS.set(key, (C1STATS.get(key) ?? 0) + 1);
          }
        }
        if (d > worst) worst = d;
      }
      const w = worst > 1000n ? 1000 : Number(worst);
      rep.ulpCounts[Math.min(w, 3)]++;
      if (w > rep.maxUlp) {
        rep.maxUlp = w;
        rep.worst = `in ${hex(c.state, 28, 48)} cw ${hex(c.state, 0, 2)}: host ${hex(h.state, 28, 48)} ours ${hex(o.state, 28, 48)}`;
      }
      if (w === 0) {
        const sh = h.state[4] | (h.state[5] << 8), so = o.state[4] | (o.state[5] << 8);
        if ((sh ^ so) & 0x200) rep.c1Diff++;
        if (process.env.ULP_C1) {
          const key = `${insn.name} rc${(c.state[1] >> 2) & 3} ${h.state[37] & 0x80 ? '-' : '+'} host${(sh >> 9) & 1} ours${(so >> 9) & 1}`;
          C1STATS.set(key, (C1STATS.get(key) ?? 0) + 1);
        }
        if ((sh ^ so) & ~0x200 & 0xFFFF) rep.swDiff++;
        if (((sh ^ so) & 0xFFFF) && SHOW > 0) {
          SHOW--;
          console.log(`${insn.name} in ${hex(c.state, 28, 48)} cw ${hex(c.state, 0, 2)}: host sw ${sh.toString(16)} ours ${so.toString(16)} result ${hex(h.state, 28, 48)}`);
        }
      }
    });
    reports.push(rep);
  }
  return reports;
}

export function formatReports(reps: UlpReport[]): string {
  return reps.map((r) => `${r.name.padEnd(8)} ${r.cases} cases: exact ${r.ulpCounts[0]}, 1 ulp ${r.ulpCounts[1]}, 2 ulp ${r.ulpCounts[2]}, more ${r.ulpCounts[3]} (max ${r.maxUlp}); C1 differs ${r.c1Diff}, other status ${r.swDiff}`
    + (r.maxUlp > 1 ? `\n         worst: ${r.worst}` : '')).join('\n');
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 2000), seed = Number(process.argv[3] ?? 1);
  console.log(formatReports(measure(n, seed, process.argv[4])));
  if (process.env.ULP_C1) for (const [k, v] of [...C1STATS].sort()) console.log(k, v);
}
