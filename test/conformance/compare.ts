/**
 * Compares the core's end state of a case with the host's, and words the
 * differences so that a failure alone says what to fix: the instruction,
 * its inputs, and each field that differs, expected (host) against got (core).
 */
import { SCRATCH_ADDR } from './layout';
import type { TestCase, Tolerance } from './generator';
import { hex } from './builder';
import { EndState, SEG_NAMES } from './wire';

const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const VECTORS: Record<number, string> = {
  0: '#DE', 1: '#DB', 3: 'int3 (end of case)', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF', 10: '#TS',
  11: '#NP', 12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', [-2]: 'no end (instruction budget ran out)',
  [-3]: 'guest error', [-4]: 'ring-0 fault',
};
const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);
/** Every EFLAGS bit but RF, which the host sets in the image of a fault. */
const EFLAGS_COMPARED = 0x3fffff & ~0x10000;
/** The instruction completed: the case ended at the int3 after it, or at into's trap. */
const COMPLETED = new Set([3, 4]);

export function vectorName(v: number, err?: number): string {
  const name = VECTORS[v] ?? `vector ${v}`;
  return err !== undefined && HAS_ERROR_CODE.has(v) ? `${name}(0x${err.toString(16)})` : name;
}

const h32 = (v: number): string => '0x' + hex(v, 8);

export function describeInput(tc: TestCase): string {
  const regs = REG_NAMES.map((n, i) => `${n}=${h32(tc.regs[i])}`).join(' ');
  const mem = patchedRuns(tc).map(([o, bytes]) => `+${hex(o, 4)}: ${bytes.map((b) => hex(b)).join(' ')}`);
  const where = tc.ldt ? `data segments: LDT selector 0x07 based at ${h32(SCRATCH_ADDR)}` : 'flat data segments';
  const fpu = tc.fpu ? `\n    x87 in: ${describeFpu(tc.fpu)}` : '';
  return `${regs} eflags=${h32(tc.eflags | 0x202)}\n    memory (scratch offsets): ${mem.join(', ') || 'pattern only'}; ${where}${fpu}`;
}

/** The case's patches as the bytes they finally leave (later patches win), in contiguous runs. */
function patchedRuns(tc: TestCase): [number, number[]][] {
  const bytes = new Map<number, number>();
  for (const p of tc.patches) p.bytes.forEach((b, k) => bytes.set(p.offset + k, b));
  const runs: [number, number[]][] = [];
  for (const o of [...bytes.keys()].sort((x, y) => x - y)) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1].length === o) last[1].push(bytes.get(o)!);
    else runs.push([o, [bytes.get(o)!]]);
  }
  return runs;
}

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function stHex(b: Uint8Array, i: number): string {
  const o = 28 + 10 * i;
  return Array.from(b.subarray(o, o + 10)).reverse().map((x) => hex(x)).join('');
}

export function describeFpu(b: Uint8Array): string {
  const st = Array.from({ length: 8 }, (_, i) => `st${i}=${stHex(b, i)}`).join(' ');
  return `cw=${hex(u16(b, 0), 4)} sw=${hex(u16(b, 4), 4)} tw=${hex(u16(b, 8), 4)} ${st}`;
}

/** An 80-bit register as sign, exponent and 64-bit significand. */
function ext80(b: Uint8Array, i: number): { se: number; sig: bigint } {
  const o = 28 + 10 * i;
  let sig = 0n;
  for (let k = 7; k >= 0; k--) sig = (sig << 8n) | BigInt(b[o + k]);
  return { se: u16(b, o + 8), sig };
}

/** An 80-bit register as a double (enough to judge a tolerance). */
function toNumber(v: { se: number; sig: bigint }): number {
  const e = v.se & 0x7fff;
  if (e === 0x7fff) return NaN;
  const m = Number(v.sig) * 2 ** (Math.max(e, 1) - 16383 - 63);
  return v.se & 0x8000 ? -m : m;
}

/** Approximate results (see Tolerance): 2^-50 relative, as the FPU documents, or the trigonometric absolute bound. */
function closeEnough(a: Uint8Array, b: Uint8Array, i: number, tol: Tolerance): boolean {
  const x = ext80(a, i), y = ext80(b, i);
  if (x.se === y.se && x.sig === y.sig) return true;
  if (tol.absExp !== undefined) {
    const xv = toNumber(x), yv = toNumber(y);
    // Once the argument's error reaches half a radian, a tangent can be anything.
    const tanBound = tol.absExp >= -1 ? Infinity : 2 ** tol.absExp * (1 + xv * xv);
    const bound = tol.tan ? tanBound : Math.min(2, 2 ** tol.absExp);
    if (Math.abs(xv - yv) <= bound) return true;
  }
  const scale = (v: { se: number; sig: bigint }): bigint => v.sig << BigInt(v.se & 0x7fff);
  if ((x.se & 0x8000) !== (y.se & 0x8000) || (x.se & 0x7fff) === 0x7fff || (y.se & 0x7fff) === 0x7fff) return false;
  const d = scale(x) - scale(y);
  const diff = d < 0n ? -d : d;
  const big = scale(x) > scale(y) ? scale(x) : scale(y);
  return diff << 50n <= big;
}

/** Differences between the host's (expected) and the core's (actual) end state; empty when they agree. */
export function compareStates(tc: TestCase, exp: EndState, act: EndState): string[] {
  const out: string[] = [];
  if (act.message) out.push(`core: ${act.message}`);
  if (exp.vector !== act.vector || (HAS_ERROR_CODE.has(exp.vector) && exp.err !== act.err)) {
    out.push(`exception: expected ${vectorName(exp.vector, exp.err)} got ${vectorName(act.vector, act.err)}`);
  }
  if (exp.eip !== act.eip) out.push(`eip: expected ${h32(exp.eip)} got ${h32(act.eip)}`);
  for (let i = 0; i < 8; i++) {
    if (exp.regs[i] !== act.regs[i]) out.push(`${REG_NAMES[i]}: expected ${h32(exp.regs[i])} got ${h32(act.regs[i])}`);
  }
  const mask = EFLAGS_COMPARED & ~(COMPLETED.has(exp.vector) ? tc.undef : 0);
  if ((exp.eflags ^ act.eflags) & mask) {
    out.push(`eflags: expected ${h32(exp.eflags & mask)} got ${h32(act.eflags & mask)} (compared bits ${h32(mask)}, ` +
      `differing ${h32((exp.eflags ^ act.eflags) & mask)})`);
  }
  for (let i = 0; i < 6; i++) {
    if (exp.segs[i] !== act.segs[i]) out.push(`${SEG_NAMES[i]}: expected ${hex(exp.segs[i], 4)} got ${hex(act.segs[i], 4)}`);
  }
  out.push(...compareMemory(tc, exp.memDiff, act.memDiff));
  if (tc.fpu && exp.fpu && act.fpu) out.push(...compareFpu(tc, exp.fpu, act.fpu));
  return out;
}

function compareMemory(tc: TestCase, exp: Uint32Array, act: Uint32Array): string[] {
  const ignored = (off: number): boolean => (tc.memIgnore ?? []).some(([s, n]) => off >= s && off < s + n);
  const toMap = (d: Uint32Array): Map<number, number> => {
    const m = new Map<number, number>();
    for (const x of d) if (!ignored(x & 0xffff)) m.set(x & 0xffff, x >>> 16);
    return m;
  };
  const e = toMap(exp), a = toMap(act);
  const offs = [...new Set([...e.keys(), ...a.keys()])].sort((x, y) => x - y);
  const bad = offs.filter((o) => e.get(o) !== a.get(o));
  if (!bad.length) return [];
  const show = (m: Map<number, number>, o: number): string => (m.has(o) ? hex(m.get(o)!) : 'unchanged');
  const lines = bad.slice(0, 12).map((o) => `+${hex(o, 4)} expected ${show(e, o)} got ${show(a, o)}`);
  return [`memory (${bad.length} bytes differ): ${lines.join(', ')}${bad.length > 12 ? ', ...' : ''}`];
}

function compareFpu(tc: TestCase, exp: Uint8Array, act: Uint8Array): string[] {
  const out: string[] = [];
  const field = (name: string, o: number, mask = 0xffff): void => {
    const x = u16(exp, o) & mask, y = u16(act, o) & mask;
    if (x !== y) out.push(`x87 ${name}: expected ${hex(x, 4)} got ${hex(y, 4)}`);
  };
  field('control word', 0);
  field('status word', 4, 0xffff & ~(tc.fpuCcUndef ?? 0));
  field('tag word', 8);
  for (let i = 0; i < 8; i++) {
    const o = 28 + 10 * i;
    const same = exp.subarray(o, o + 10).every((b, k) => b === act[o + k]);
    if (!same && !(tc.approx && closeEnough(exp, act, i, tc.approx))) {
      out.push(`x87 st${i}: expected ${stHex(exp, i)} got ${stHex(act, i)}`);
    }
  }
  return out.length ? [...out, `    x87 expected: ${describeFpu(exp)}`, `    x87 got:      ${describeFpu(act)}`] : out;
}
