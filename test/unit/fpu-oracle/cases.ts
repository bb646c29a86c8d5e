/**
 * Seeded generator of x87 test cases: random FPU states (control word with
 * every precision and rounding mode, exception masks, TOP, tags) and operand
 * values biased towards the interesting ones (zeros, denormals, infinities,
 * NaNs, unsupported encodings, values at the edges of the single, double
 * and integer ranges, halfway cases).
 */
import { X87OpcodeInfo } from '../../../src/guest/cpu/fpu/fpu-opcodes';
import { Case } from './harness';

export class Rng {
  constructor(private s: number) { if (this.s === 0) this.s = 1; }
  u32(): number {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
}

/** An 80-bit value as [lo32, hi32, signExp16]. */
export type Ext = [number, number, number];

export function putExt(b: Uint8Array, off: number, v: Ext): void {
  const dv = new DataView(b.buffer, b.byteOffset);
  dv.setUint32(off, v[0] >>> 0, true); dv.setUint32(off + 4, v[1] >>> 0, true); dv.setUint16(off + 8, v[2], true);
}

/** Random 80-bit register contents. `mode` narrows the choice for some instructions. */
export function randomExt(r: Rng, mode: 'any' | 'finite' | 'small' | 'trig' | 'unit' = 'any'): Ext {
  const sign = r.chance(0.5) ? 0x8000 : 0;
  const sig = (): [number, number] => [r.u32(), (r.u32() | 0x80000000) >>> 0];
  if ((mode === 'trig' || mode === 'unit') && r.chance(0.3)) {
    // The special classes, whose results are exact: zero, tiny, huge, denormal,
    // infinity, NaNs, unsupported encodings.
    const special = r.pick([9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    if (special !== 12) return randomExtOfKind(r, special, sign);
    const [lo, hi] = sig();
    return [lo, hi, sign | (0x3FFF + 63 + r.int(40))];   // beyond the +-2^63 range of fsin & co
  }
  if (mode === 'trig') {
    // Moderate arguments, where the double computation is meaningful.
    const [lo, hi] = sig();
    return [lo, hi, sign | (0x3FFF - 20 + r.int(26))];
  }
  if (mode === 'unit') {
    const [lo, hi] = sig();
    return [lo, hi, sign | (0x3FFF - 30 + r.int(30))];
  }
  return randomExtOfKind(r, r.int(mode === 'any' ? 22 : mode === 'finite' ? 14 : 10), sign);
}

function randomExtOfKind(r: Rng, k: number, sign: number): Ext {
  const sig = (): [number, number] => [r.u32(), (r.u32() | 0x80000000) >>> 0];
  switch (k) {
    case 0: case 1: case 2: {   // ordinary numbers near 1
      const [lo, hi] = sig();
      return [lo, hi, sign | (0x3FFF - 8 + r.int(16))];
    }
    case 3: {                   // 53-bit or 24-bit significands, exact in double/single
      const [lo, hi] = sig();
      return r.chance(0.5) ? [lo & ~0x7FF, hi, sign | (0x3FFF - 40 + r.int(80))] : [0, hi & ~0xFF, sign | (0x3FFF - 40 + r.int(80))];
    }
    case 4: {                   // small integers and simple fractions
      const v = r.int(2000) - 1000;
      const f = new Float64Array([r.chance(0.3) ? v / 8 : v]);
      return fromDouble(f[0]);
    }
    case 5: {                   // near the double range edges
      const [lo, hi] = sig();
      return [lo, hi, sign | (r.chance(0.5) ? 0x3FFF + 1020 + r.int(8) : 0x3FFF - 1030 - r.int(60))];
    }
    case 6: {                   // near the single range edges
      const [lo, hi] = sig();
      return [lo, hi, sign | (r.chance(0.5) ? 0x3FFF + 124 + r.int(8) : 0x3FFF - 130 - r.int(30))];
    }
    case 7: {                   // halfway and near-integer patterns
      const [, hi] = sig();
      return [r.pick([0x400, 0x80000000, 0x7FF, 0x800, 0xFFFFFFFF, 0]), r.chance(0.5) ? hi : (hi & ~0xFF) | 0x80, sign | (0x3FFF + r.int(64))];
    }
    case 8: {                   // anywhere in the exponent range
      const [lo, hi] = sig();
      return [lo, hi, sign | (1 + r.int(0x7FFE))];
    }
    case 9: return [0, 0, sign];                          // zero
    case 10: {                  // integers near the 16/32/64-bit limits
      const e = r.pick([14, 15, 30, 31, 62, 63, 64]);
      const [lo, hi] = sig();
      return [r.chance(0.5) ? 0 : lo, r.chance(0.5) ? 0x80000000 : hi, sign | (0x3FFF + e)];
    }
    case 11: {                  // tiny: near the extended underflow threshold
      const [lo, hi] = sig();
      return [lo, hi, sign | (1 + r.int(70))];
    }
    case 12: {                  // huge: near the extended overflow threshold
      const [lo, hi] = sig();
      return [lo, hi, sign | (0x7FFE - r.int(70))];
    }
    case 13: { const [lo, hi] = sig(); return [lo, hi >>> (1 + r.int(31)), sign]; }   // denormal
    case 14: return [0, 0x80000000, sign | 0x7FFF];       // infinity
    case 15: return [0, 0xC0000000, 0xFFFF];              // the indefinite
    case 16: { const [lo, hi] = sig(); return [lo, hi | 0x40000000, sign | 0x7FFF]; }   // QNaN
    case 17: { const [lo, hi] = sig(); return [lo | 1, (hi & ~0x40000000) >>> 0, sign | 0x7FFF]; } // SNaN
    case 18: { const [lo, hi] = sig(); return [lo, hi, sign]; }   // pseudo-denormal
    case 19: { const [lo, hi] = sig(); return [lo, hi & 0x7FFFFFFF, sign | (1 + r.int(0x7FFE))]; } // unnormal
    case 20: { const [lo, hi] = sig(); return [lo, hi & 0x7FFFFFFF, sign | 0x7FFF]; }   // pseudo-NaN/inf
    default: { const [lo, hi] = sig(); return [lo, hi, sign | (0x3FFF - 3 + r.int(6))]; }
  }
}

function fromDouble(v: number): Ext {
  const f = new Float64Array([v]);
  const u = new Uint32Array(f.buffer);
  const sign = u[1] >>> 31, exp = (u[1] >>> 20) & 0x7FF;
  if (v === 0) return [0, 0, sign << 15];
  const hi = (0x80000000 | ((u[1] & 0xFFFFF) << 11) | (u[0] >>> 21)) >>> 0;
  const lo = (u[0] << 11) >>> 0;
  return [lo, hi, (sign << 15) | (exp - 1023 + 16383)];
}

/** A random starting state as a 32-bit fnsave image. Only the non-waiting
 *  instructions may start with an unmasked exception pending (ES set): a
 *  waiting one would trap on the host. */
export function randomState(r: Rng, info: X87OpcodeInfo | undefined, regMode: Parameters<typeof randomExt>[1],
                            pendingOk = info !== undefined && !info.waiting): Uint8Array {
  const img = new Uint8Array(108);
  const dv = new DataView(img.buffer);
  // Control word: usually all masked; sometimes a random mask set.
  const masks = r.chance(0.75) ? 0x3F : r.u32() & 0x3F;
  const pc = r.pick([0, 2, 3, 3, 1]);
  const rc = r.int(4);
  const cw = masks | 0x40 | (pc << 8) | (rc << 10);
  // Status: condition codes and exception flags (with ES and B when one is unmasked).
  const flags = r.chance(0.5) ? 0 : r.u32() & (pendingOk ? 0x3F : masks);
  const top = r.int(8);
  const es = flags & ~masks ? 0x8080 : 0;
  const sw = (r.u32() & 0x4700) | flags | es | (r.chance(0.2) ? 0x40 & (flags << 6) : 0) | (top << 11);
  // Registers: ST(0), ST(1) and the one named by a register form usually full.
  let tw = 0;
  const needed = new Set<number>([0, 1]);
  if (info?.form === 'reg') needed.add(r.int(8));
  for (let i = 0; i < 8; i++) {
    const emptyChance = needed.has(i) ? 0.04 : 0.5;
    const isEmpty = r.chance(emptyChance);
    putExt(img, 28 + 10 * i, randomExt(r, needed.has(i) ? regMode : 'any'));
    if (isEmpty) tw |= 3 << (2 * ((top + i) & 7));
  }
  dv.setUint32(0, 0xFFFF0000 | cw, true);
  dv.setUint32(4, 0xFFFF0000 | sw, true);
  dv.setUint32(8, 0xFFFF0000 | tw, true);
  return img;
}

/** A memory operand for an entry. */
export function randomMem(r: Rng, info: X87OpcodeInfo, o16: boolean): Uint8Array {
  const b = new Uint8Array(info.memBytes === undefined ? 0 : o16 ? info.memBytes - 14 : info.memBytes);
  const dv = new DataView(b.buffer);
  switch (info.operands) {
    case 'm32fp': {
      const k = r.int(8);
      const sign = r.chance(0.5) ? 0x80000000 : 0;
      const v = k === 0 ? 0 : k === 1 ? 0x7F800000 : k === 2 ? 0x7FC00000 | r.u32() & 0x3FFFFF
        : k === 3 ? (0x7F800001 | r.u32() & 0x3FFFFF) : k === 4 ? r.u32() & 0x7FFFFF
        : k === 5 ? r.u32() & 0x7FFFFFFF : ((127 - 10 + r.int(20)) << 23) | (r.u32() & 0x7FFFFF);
      dv.setUint32(0, (v | sign) >>> 0, true);
      break;
    }
    case 'm64fp': {
      const k = r.int(8);
      const sign = r.chance(0.5) ? 0x80000000 : 0;
      let hi: number;
      const lo = k === 0 || k === 1 ? 0 : r.u32();
      switch (k) {
        case 0: hi = 0; break;
        case 1: hi = 0x7FF00000; break;
        case 2: hi = 0x7FF80000 | (r.u32() & 0x7FFFF); break;
        case 3: hi = 0x7FF00000 | (r.u32() & 0x7FFFF); break;
        case 4: hi = r.u32() & 0xFFFFF; break;
        case 5: hi = r.u32() & 0x7FFFFFFF; break;
        default: hi = ((1023 - 10 + r.int(20)) << 20) | (r.u32() & 0xFFFFF);
      }
      dv.setUint32(0, lo, true); dv.setUint32(4, (hi | sign) >>> 0, true);
      break;
    }
    case 'm80fp': putExt(b, 0, randomExt(r)); break;
    case 'm16int': dv.setUint16(0, r.pick([0, 1, 0x7FFF, 0x8000, 0xFFFF, r.u32() & 0xFFFF, r.u32() & 0xFF]), true); break;
    case 'm32int': dv.setUint32(0, r.pick([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, r.u32(), r.u32() & 0xFFFF]), true); break;
    case 'm64int': {
      const k = r.int(5);
      dv.setUint32(0, k === 0 ? 0 : k === 1 ? 0xFFFFFFFF : r.u32(), true);
      dv.setUint32(4, k === 0 ? r.pick([0, 0x80000000]) : k === 1 ? 0xFFFFFFFF : k === 2 ? r.u32() & 0x1FFFFF : r.u32(), true);
      break;
    }
    case 'm80dec': {
      const digits = 1 + r.int(18);
      for (let i = 0; i < digits; i++) b[i >> 1] |= r.int(10) << (4 * (i & 1));
      b[9] = r.chance(0.5) ? 0x80 : 0;
      break;
    }
    case 'm2byte': dv.setUint16(0, r.chance(0.5) ? r.u32() & 0xFFFF : 0x037F | (r.int(4) << 8) | (r.int(4) << 10), true); break;
    case 'm28byte': case 'm108byte': {
      // An environment/state image: a random state, rearranged for 16-bit layouts.
      const st = randomState(r, undefined, 'any', true);   // loaded, not executed: may be pending
      if (!o16) { b.set(st.subarray(0, b.length)); break; }
      b[0] = st[0]; b[1] = st[1]; b[2] = st[4]; b[3] = st[5]; b[4] = st[8]; b[5] = st[9];
      if (b.length > 14) b.set(st.subarray(28, 108), 14);
      break;
    }
  }
  return b;
}

/** Instruction bytes for an entry: memory forms use mod=00 rm=101 (disp32 added by the runner). */
export function insnBytes(r: Rng, info: X87OpcodeInfo, o16: boolean): number[] {
  const modrm = info.form === 'mem' ? (info.ext! << 3) | 5 : info.modrmLo! + r.int(info.modrmHi! - info.modrmLo! + 1);
  return o16 ? [0x66, info.opcode, modrm] : [info.opcode, modrm];
}

/** Register-value mode suited to an entry. */
export function regModeFor(info: X87OpcodeInfo): Parameters<typeof randomExt>[1] {
  if (!info.approximate) return 'any';
  if (info.mnemonic === 'f2xm1' || info.mnemonic === 'fyl2xp1') return 'unit';
  return 'trig';
}

export function makeCase(r: Rng, info: X87OpcodeInfo): Case {
  const o16 = info.memBytes !== undefined && info.memBytes >= 28 && r.chance(0.5);
  return {
    state: randomState(r, info, regModeFor(info)),
    mem: randomMem(r, info, o16),
    insn: insnBytes(r, info, o16),
    eflags: 0x2 | (r.u32() & 0x8D5),
  };
}
