/**
 * Cases for the x87 table (fpu-opcodes.ts): every encoding, with an initial
 * FPU image (control word with each precision and rounding mode, a random
 * TOP, a mix of empty and valid registers holding zeros, integers, doubles,
 * full 64-bit significands, denormals, infinities, NaNs, extreme exponents)
 * and memory operands of the right type. Some images hold a pending unmasked
 * exception, so waiting instructions must raise #MF first.
 */
import type { OpcodeInfo } from '../../src/guest/cpu/opcodes';
import type { X87OpcodeInfo } from '../../src/guest/cpu/fpu/fpu-opcodes';
import { Builder, Form, hex } from './builder';
import type { TestCase } from './generator';
import { Rng } from './rng';

export function x87Key(e: X87OpcodeInfo): string {
  const where = e.form === 'mem' ? `/${e.ext} (mem)` : ` ${hex(e.modrmLo!)}${e.modrmHi !== e.modrmLo ? '-' + hex(e.modrmHi!) : ''}`;
  return `x87 ${hex(e.opcode)}${where} ${e.mnemonic} ${e.operands}`.trim();
}

/** An 80-bit value as its sign/exponent word and two significand words. */
interface Ext {
  se: number;
  hi: number;
  lo: number;
}

const f64 = new DataView(new ArrayBuffer(8));

function fromDouble(v: number): Ext {
  f64.setFloat64(0, v, true);
  const whi = f64.getUint32(4, true), wlo = f64.getUint32(0, true);
  const sign = whi >>> 31;
  const exp = (whi >>> 20) & 0x7ff;
  if (exp === 0 && (whi & 0xfffff) === 0 && wlo === 0) return { se: sign << 15, hi: 0, lo: 0 };
  // Only normal doubles are converted here (callers pass finite normals).
  const hi = (0x80000000 | ((whi & 0xfffff) << 11) | (wlo >>> 21)) >>> 0;
  const lo = (wlo << 11) >>> 0;
  return { se: (sign << 15) | (exp - 1023 + 16383), hi, lo };
}

/** A register value from one of the interesting classes. */
function extValue(r: Rng): Ext {
  const s = r.int(2) << 15;
  switch (r.int(12)) {
    case 0: return { se: s, hi: 0, lo: 0 };
    case 1: return fromDouble((s ? -1 : 1) * r.range(1, 1000));
    case 2: case 3: {
      const v = (r.u32() / 2 ** 32 + 1) * 2 ** r.range(-30, 30);
      return fromDouble(s ? -v : v);
    }
    case 4: case 5: return { se: s | r.range(16383 - 40, 16383 + 40), hi: (r.u32() | 0x80000000) >>> 0, lo: r.u32() };
    case 6: return { se: s, hi: r.u32() & 0x7fffffff, lo: r.u32() }; // denormal
    case 7: return { se: s | 0x7fff, hi: 0x80000000, lo: 0 }; // infinity
    case 8: return r.chance(0.5)
      ? { se: s | 0x7fff, hi: (0xc0000000 | r.u32()) >>> 0, lo: r.u32() } // QNaN
      : { se: s | 0x7fff, hi: (0x80000000 | (r.u32() & 0x3fffffff) | 1) >>> 0, lo: r.u32() }; // SNaN
    case 9: // beyond the double/single ranges, or at the extended extremes
      return { se: s | r.pick([1, 2, 0x7ffe, 0x7ffd, 16383 + 1024, 16383 - 1023, 16383 + 128, 16383 - 127, 16383 + 62]),
        hi: (r.u32() | 0x80000000) >>> 0, lo: r.u32() };
    case 10: return fromDouble((s ? -1 : 1) * (r.range(0, 1 << 20) + r.pick([0.5, 0.25, 0.75, 0.5000001])));
    default: return r.chance(0.8) ? fromDouble(r.pick([1, 2, 10, 0.5, Math.PI, 1e10, 2 ** 63, 2 ** 31, 2 ** 15]))
      : { se: s | r.range(1, 0x7ffe), hi: r.u32() & 0x7fffffff, lo: r.u32() }; // unnormal: invalid operand
  }
}

const CW_PC = [0x000, 0x200, 0x300];

/** The 108-byte fnsave image a case starts from. */
function fpuImage(r: Rng, pending: boolean): Uint8Array {
  const img = new Uint8Array(108);
  const v = new DataView(img.buffer);
  // Mostly all exceptions masked; sometimes some unmasked.
  let cw = 0x40 | r.pick(CW_PC) | (r.chance(0.25) ? r.int(4) << 10 : 0) | (r.chance(0.85) ? 0x3f : r.int(64));
  const top = r.int(8);
  let sw = (top << 11) | (r.chance(0.3) ? r.int(0x80) & 0x3f : 0) | (r.chance(0.5) ? r.int(16) * 0x100 & 0x4700 : 0);
  if (pending) {
    cw &= ~0x04; // unmask zero-divide and make it pending
    sw |= 0x04 | 0x80 | 0x8000;
  } else if (sw & ~cw & 0x3f) {
    sw &= ~(~cw & 0x3f); // no unmasked exception may be pending unless asked for
  }
  v.setUint16(0, cw, true);
  v.setUint16(4, sw, true);
  let tw = 0;
  for (let i = 0; i < 8; i++) {
    const phys = (top + i) & 7;
    const empty = r.chance(i < 2 ? 0.1 : 0.3);
    tw |= (empty ? 3 : 0) << (2 * phys);
    const x = extValue(r);
    const o = 28 + 10 * i;
    v.setUint32(o, x.lo, true);
    v.setUint32(o + 4, x.hi, true);
    v.setUint16(o + 8, x.se, true);
  }
  v.setUint16(8, tw, true);
  return img;
}

/** Bytes of a memory operand of the entry's type. */
function memOperand(r: Rng, e: X87OpcodeInfo, o16: boolean): Uint8Array {
  const n = e.memBytes ?? 4;
  const out = new Uint8Array(o16 && e.memBytes === 28 ? 14 : o16 && e.memBytes === 108 ? 94 : n);
  const v = new DataView(out.buffer);
  const x = extValue(r);
  switch (e.operands) {
    case 'm32fp': {
      if (r.chance(0.7)) v.setFloat32(0, Math.fround(extToNumber(x)), true);
      else v.setUint32(0, r.pick([0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 1, 0x807fffff, r.u32()]), true);
      break;
    }
    case 'm64fp': {
      if (r.chance(0.7)) v.setFloat64(0, extToNumber(x), true);
      else {
        v.setUint32(0, r.u32(), true);
        v.setUint32(4, r.pick([0, 0x80000000, 0x7ff00000, 0xfff00000, 0x7ff80000, 0x7ff00001, 0x000fffff, r.u32()]), true);
      }
      break;
    }
    case 'm80fp':
      v.setUint32(0, x.lo, true);
      v.setUint32(4, x.hi, true);
      v.setUint16(8, x.se, true);
      break;
    case 'm80dec': {
      for (let k = 0; k < 9; k++) out[k] = (r.int(10) << 4) | r.int(10);
      out[9] = r.chance(0.5) ? 0x80 : 0;
      break;
    }
    case 'm2byte':
      v.setUint16(0, 0x40 | r.pick(CW_PC) | (r.int(4) << 10) | (r.chance(0.8) ? 0x3f : r.int(64)), true);
      break;
    case 'm28byte':
    case 'm108byte': {
      const img = fpuImage(r, false);
      if (o16) {
        for (let k = 0; k < 3; k++) out.set(img.subarray(4 * k, 4 * k + 2), 2 * k);
        out.set(img.subarray(28, 28 + (out.length - 14)), 14);
      } else out.set(img.subarray(0, out.length));
      break;
    }
    default: // integers
      for (let k = 0; k < out.length; k++) out[k] = r.int(256);
      if (r.chance(0.4)) {
        out.fill(r.chance(0.5) ? 0 : 0xff);
        if (r.chance(0.5)) out[out.length - 1] ^= 0x80;
      }
  }
  return out;
}

function extToNumber(x: Ext): number {
  const e = x.se & 0x7fff;
  if (e === 0x7fff) return x.hi === 0x80000000 && x.lo === 0 ? (x.se & 0x8000 ? -Infinity : Infinity) : NaN;
  const m = x.hi * 2 ** 32 + x.lo;
  const v = m * 2 ** (e - 16383 - 63);
  return x.se & 0x8000 ? -v : v;
}

/**
 * ST(0) ranges outside which the SDM leaves the result undefined:
 * f2xm1 -1..1, fyl2xp1 within 1 - sqrt(2)/2 of zero.
 */
const DOMAINS: Record<string, number> = { f2xm1: 1, fyl2xp1: 1 - Math.SQRT1_2 };

/** A value of magnitude at most `limit`: signed zeros, tiny and denormal values, or a random fraction; NaNs too. */
function inDomain(r: Rng, limit: number): Ext {
  const s = r.int(2) << 15;
  switch (r.int(8)) {
    case 0: return { se: s, hi: 0, lo: 0 };
    case 1: return { se: s, hi: r.u32() & 0x7fffffff, lo: r.u32() };
    case 2: return { se: s | r.range(1, 16383 - 64), hi: (r.u32() | 0x80000000) >>> 0, lo: r.u32() };
    case 3: return { se: s | 0x7fff, hi: (0xc0000000 | r.u32()) >>> 0, lo: r.u32() };
    default: {
      const v = (r.u32() / 2 ** 32) * limit * 2 ** -r.int(20);
      return v === 0 ? { se: s, hi: 0, lo: 0 } : fromDouble(s ? -v : v);
    }
  }
}

function setSt0(img: Uint8Array, x: Ext): void {
  const v = new DataView(img.buffer, img.byteOffset);
  v.setUint32(28, x.lo, true);
  v.setUint32(32, x.hi, true);
  v.setUint16(36, x.se, true);
  // ST(0) must hold it: mark its physical register valid.
  const top = (v.getUint16(4, true) >> 11) & 7;
  v.setUint16(8, v.getUint16(8, true) & ~(3 << (2 * top)), true);
}

/** The pseudo opcode-table entry the builder lays out for an x87 encoding. */
function asOpcodeInfo(e: X87OpcodeInfo): OpcodeInfo {
  return {
    opcode: e.opcode, ext: e.ext, form: e.form, mnemonic: e.mnemonic, operands: e.form === 'mem' ? 'M' : '',
    flagsDefined: e.flagsDefined, flagsUndefined: e.flagsUndefined,
  };
}

/** Offsets of the stored instruction and data pointers in an fnstenv/fnsave image. */
function pointerFields(o16: boolean): [number, number] {
  return o16 ? [6, 8] : [12, 16];
}

export function casesForX87(e: X87OpcodeInfo, scale: number): TestCase[] {
  const key = x87Key(e);
  const rng = Rng.from(key);
  const out: TestCase[] = [];
  const info = asOpcodeInfo(e);
  const sizes = e.memBytes === 28 || e.memBytes === 108 ? [false, true] : [false];
  const n = Math.max(1, Math.round(48 * scale));
  for (const o16 of sizes) {
    for (let i = 0; i < n; i++) {
      const ldt = rng.chance(0.2);
      const form: Form = { o16, a16: false, mem: e.form === 'mem', ldt, extra: [] };
      const b = new Builder(rng, info, form);
      if (e.form === 'reg') b.rawModrm = rng.range(e.modrmLo!, e.modrmHi!);
      else {
        b.layoutModrm(e.ext!, 4);
        b.pokeBytes(b.memOff, memOperand(rng, e, o16));
      }
      b.fpu = fpuImage(rng, rng.chance(0.05));
      const domain = DOMAINS[e.mnemonic];
      if (domain) setSt0(b.fpu, inDomain(rng, domain));
      const c = b.build();
      // Approximate (transcendental) results: within 1 ulp of the hardware's, not always
      // equal (nor C1); trigonometric arguments are reduced with the hardware's 66-bit
      // pi, so no absolute tolerance is needed for large ones: 2^-50 relative.
      const tc: TestCase = { ...c, key, text: b.describe(c.code), undef: e.flagsUndefined,
        fpuCcUndef: e.ccUndefined | (e.approximate ? 0x200 : 0) };
      if (e.approximate) tc.approx = {};
      if (e.storesPointers) tc.memIgnore = [[b.memOff + pointerFields(o16)[0], pointerFields(o16)[1]]];
      out.push(tc);
    }
  }
  return out;
}
