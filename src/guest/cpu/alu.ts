import { ARITH, CF, OF, PF } from './flags';

/**
 * Lazy arithmetic flags.
 *
 * Most instructions that set flags are followed by one that overwrites them
 * before anything reads them, so an ALU operation only records what it did
 * (`lop`: operation and size; `la`, `lb`: the operands; `lres`: the result;
 * `lc`: a carry-in, or for INC/DEC the CF they preserve) and the flags are
 * computed when a conditional jump, pushf or the like asks. Values are kept
 * masked to the operand size (8 and 16 bits) or as int32 (32 bits).
 *
 * `flags` holds the architectural EFLAGS; its six arithmetic bits are only
 * current when `lop` is L.NONE.
 */
export interface FlagState {
  flags: number;
  lop: number;
  lres: number;
  la: number;
  lb: number;
  lc: number;
}

/** Operation kinds; `lop` = kind | size (0 = byte, 1 = word, 2 = dword). */
export const enum L {
  NONE = 0,
  ADD = 4,
  ADC = 8,
  SUB = 12,
  SBB = 16,
  LOGIC = 20,
  INC = 24,
  DEC = 28,
  /** ZF SF PF from the result, CF in lc, OF in lb, AF clear: shifts and multiplies. */
  RES = 32,
}

export const SZ8 = 0;
export const SZ16 = 1;
export const SZ32 = 2;
export const MASK = [0xff, 0xffff, -1];
const SIGN_SHIFT = [7, 15, 31];

/** PF (0x4) for each low byte value with an even number of set bits. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = (b & 1) === 0 ? PF : 0;
}

export function getCF(c: FlagState): number {
  const op = c.lop;
  switch (op) {
    case L.NONE: return c.flags & CF;
    case L.ADD | 0: case L.ADD | 1: return c.lres < c.la ? 1 : 0;
    case L.ADD | 2: return c.lres >>> 0 < c.la >>> 0 ? 1 : 0;
    case L.ADC | 0: case L.ADC | 1: return (c.lc ? c.lres <= c.la : c.lres < c.la) ? 1 : 0;
    case L.ADC | 2: return (c.lc ? c.lres >>> 0 <= c.la >>> 0 : c.lres >>> 0 < c.la >>> 0) ? 1 : 0;
    case L.SUB | 0: case L.SUB | 1: return c.la < c.lb ? 1 : 0;
    case L.SUB | 2: return c.la >>> 0 < c.lb >>> 0 ? 1 : 0;
    case L.SBB | 0: case L.SBB | 1: return c.la < c.lb || (c.lc !== 0 && c.la === c.lb) ? 1 : 0;
    case L.SBB | 2: return c.la >>> 0 < c.lb >>> 0 || (c.lc !== 0 && c.la === c.lb) ? 1 : 0;
    case L.LOGIC | 0: case L.LOGIC | 1: case L.LOGIC | 2: return 0;
    default: return c.lc; // INC, DEC, RES
  }
}

export function getOF(c: FlagState): number {
  const op = c.lop;
  if (op === L.NONE) return (c.flags >> 11) & 1;
  const sh = SIGN_SHIFT[op & 3];
  switch (op & ~3) {
    case L.ADD: case L.ADC: case L.INC:
      return (((c.la ^ c.lres) & (c.lb ^ c.lres)) >>> sh) & 1;
    case L.SUB: case L.SBB: case L.DEC:
      return (((c.la ^ c.lb) & (c.la ^ c.lres)) >>> sh) & 1;
    case L.RES:
      return c.lb;
    default:
      return 0;
  }
}

export function getZF(c: FlagState): number {
  return c.lop === L.NONE ? (c.flags >> 6) & 1 : c.lres === 0 ? 1 : 0;
}

export function getSF(c: FlagState): number {
  return c.lop === L.NONE ? (c.flags >> 7) & 1 : (c.lres >>> SIGN_SHIFT[c.lop & 3]) & 1;
}

export function getPF(c: FlagState): number {
  return c.lop === L.NONE ? (c.flags >> 2) & 1 : PARITY[c.lres & 0xff] >> 2;
}

export function getAF(c: FlagState): number {
  const op = c.lop;
  if (op === L.NONE) return (c.flags >> 4) & 1;
  const k = op & ~3;
  if (k === L.LOGIC || k === L.RES) return 0;
  return ((c.la ^ c.lb ^ c.lres) >> 4) & 1;
}

/** EFLAGS with the arithmetic bits computed. */
export function eflagsOf(c: FlagState): number {
  if (c.lop === L.NONE) return c.flags;
  return (
    (c.flags & ~ARITH) |
    getCF(c) |
    (getPF(c) << 2) |
    (getAF(c) << 4) |
    (getZF(c) << 6) |
    (getSF(c) << 7) |
    (getOF(c) << 11)
  );
}

/** Fold the lazy state into `flags`, before an instruction changes only some flags. */
export function materialize(c: FlagState): void {
  if (c.lop !== L.NONE) {
    c.flags = eflagsOf(c);
    c.lop = L.NONE;
  }
}

/** Condition code `cc` (0-15, the low nibble of Jcc/SETcc/CMOVcc). */
export function cond(c: FlagState, cc: number): boolean {
  const op = c.lop;
  let r: boolean;
  if (op === (L.SUB | 2)) {
    // cmp/sub on dwords, the common case: compare the operands directly.
    const a = c.la;
    const b = c.lb;
    switch (cc >> 1) {
      case 1: r = a >>> 0 < b >>> 0; break;
      case 2: r = a === b; break;
      case 3: r = a >>> 0 <= b >>> 0; break;
      case 4: r = c.lres < 0; break;
      case 6: r = a < b; break;
      case 7: r = a <= b; break;
      default: r = slowCond(c, cc >> 1);
    }
  } else if (op !== L.NONE && (cc >> 1 === 2 || cc >> 1 === 4)) {
    // Every lazy operation keeps its result masked to its size: ZF and SF come straight from it.
    r = cc >> 1 === 2 ? c.lres === 0 : ((c.lres >>> SIGN_SHIFT[op & 3]) & 1) !== 0;
  } else if ((op & ~3) === L.LOGIC) {
    const z = c.lres === 0;
    const neg = ((c.lres >>> SIGN_SHIFT[op & 3]) & 1) !== 0;
    switch (cc >> 1) {
      case 0: case 1: r = false; break;
      case 3: r = z; break;
      case 6: r = neg; break;
      case 7: r = z || neg; break;
      default: r = slowCond(c, cc >> 1);
    }
  } else {
    r = slowCond(c, cc >> 1);
  }
  return (cc & 1) === 0 ? r : !r;
}

function slowCond(c: FlagState, k: number): boolean {
  switch (k) {
    case 0: return getOF(c) !== 0;
    case 1: return getCF(c) !== 0;
    case 2: return getZF(c) !== 0;
    case 3: return getCF(c) !== 0 || getZF(c) !== 0;
    case 4: return getSF(c) !== 0;
    case 5: return getPF(c) !== 0;
    case 6: return getSF(c) !== getOF(c);
    default: return getZF(c) !== 0 || getSF(c) !== getOF(c);
  }
}

/**
 * The eight group-1 operations (add or adc sbb and sub xor cmp) on values
 * already masked to size `s`. Returns the result; cmp returns the difference
 * and the caller does not store it.
 */
export function alu(c: FlagState, kind: number, a: number, b: number, s: number): number {
  const mask = MASK[s];
  let r: number;
  switch (kind) {
    case 0: r = (a + b) & mask; c.lop = L.ADD | s; break;
    case 1: r = (a | b) & mask; c.lop = L.LOGIC | s; break;
    case 2: {
      const cin = getCF(c);
      r = (a + b + cin) & mask;
      c.lc = cin;
      c.lop = L.ADC | s;
      break;
    }
    case 3: {
      const cin = getCF(c);
      r = (a - b - cin) & mask;
      c.lc = cin;
      c.lop = L.SBB | s;
      break;
    }
    case 4: r = a & b & mask; c.lop = L.LOGIC | s; break;
    case 6: r = (a ^ b) & mask; c.lop = L.LOGIC | s; break;
    default: r = (a - b) & mask; c.lop = L.SUB | s; break; // sub, cmp
  }
  c.la = a;
  c.lb = b;
  c.lres = r;
  return r;
}

export function logic(c: FlagState, r: number, s: number): void {
  c.lop = L.LOGIC | s;
  c.lres = r;
}

export function inc(c: FlagState, a: number, s: number): number {
  const r = (a + 1) & MASK[s];
  c.lc = getCF(c);
  c.lop = L.INC | s;
  c.la = a;
  c.lb = 1;
  c.lres = r;
  return r;
}

export function dec(c: FlagState, a: number, s: number): number {
  const r = (a - 1) & MASK[s];
  c.lc = getCF(c);
  c.lop = L.DEC | s;
  c.la = a;
  c.lb = 1;
  c.lres = r;
  return r;
}

export function neg(c: FlagState, b: number, s: number): number {
  const r = -b & MASK[s];
  c.lop = L.SUB | s;
  c.la = 0;
  c.lb = b;
  c.lres = r;
  return r;
}

/** Record a result whose CF and OF were computed by the caller (shifts, multiplies). */
export function setRes(c: FlagState, r: number, s: number, cf: number, of: number): void {
  c.lop = L.RES | s;
  c.lres = r;
  c.lc = cf;
  c.lb = of;
}

/** Set CF and OF only, leaving the other flags as they are (rotates). */
function setCfOf(c: FlagState, cf: number, of: number): void {
  materialize(c);
  c.flags = (c.flags & ~(CF | OF)) | cf | (of << 11);
}

/**
 * Shifts and rotates: kind = rol ror rcl rcr shl shr sal sar, `v` masked to
 * size `s`, `count` already masked to 5 bits. A zero count changes nothing,
 * not even the flags.
 */
export function shift(c: FlagState, kind: number, v: number, count: number, s: number): number {
  if (count === 0) return v;
  const n = 8 << s;
  const mask = MASK[s];
  const top = n - 1;
  switch (kind) {
    case 0: { // rol
      const k = count & top;
      const r = k === 0 ? v : ((v << k) | (v >>> (n - k))) & mask;
      const cf = r & 1;
      setCfOf(c, cf, ((r >>> top) & 1) ^ cf);
      return r;
    }
    case 1: { // ror
      const k = count & top;
      const r = k === 0 ? v : ((v >>> k) | (v << (n - k))) & mask;
      const msb = (r >>> top) & 1;
      setCfOf(c, msb, msb ^ ((r >>> (top - 1)) & 1));
      return r;
    }
    case 2: { // rcl: rotate n+1 bits through CF
      const k = s === 2 ? count : count % (n + 1);
      let r = v;
      let cf = getCF(c);
      for (let i = 0; i < k; i++) {
        const out = (r >>> top) & 1;
        r = ((r << 1) | cf) & mask;
        cf = out;
      }
      setCfOf(c, cf, ((r >>> top) & 1) ^ cf);
      return r;
    }
    case 3: { // rcr
      const k = s === 2 ? count : count % (n + 1);
      let r = v;
      let cf = getCF(c);
      for (let i = 0; i < k; i++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << top)) & mask;
        cf = out;
      }
      setCfOf(c, cf, ((r >>> top) & 1) ^ ((r >>> (top - 1)) & 1));
      return r;
    }
    case 4: case 6: { // shl, sal
      const r = count < 32 ? (v << count) & mask : 0;
      const cf = count <= n ? (v >>> (n - count)) & 1 : 0;
      setRes(c, r, s, cf, ((r >>> top) & 1) ^ cf);
      return r;
    }
    case 5: { // shr
      const r = (v >>> count) & mask;
      const cf = count <= n ? (v >>> (count - 1)) & 1 : 0;
      setRes(c, r, s, cf, (v >>> top) & 1);
      return r;
    }
    default: { // sar
      const sv = (v << (32 - n)) >> (32 - n);
      const r = (sv >> count) & mask;
      const cf = (sv >> (count - 1)) & 1;
      setRes(c, r, s, cf, 0);
      return r;
    }
  }
}

/**
 * shld/shrd, `count` masked to 5 bits. For word operands with a count above
 * 16 the result is architecturally undefined; this follows what P6 parts do
 * (the destination comes round again), as Bochs documents.
 */
export function shiftDouble(c: FlagState, left: boolean, dst: number, src: number, count: number, s: number): number {
  if (count === 0) return dst;
  let r: number;
  let cf: number;
  let of: number;
  if (s === 2) {
    if (left) {
      r = (dst << count) | (src >>> (32 - count));
      cf = (dst >>> (32 - count)) & 1;
      of = cf ^ (r >>> 31);
    } else {
      r = (dst >>> count) | (src << (32 - count));
      cf = (dst >>> (count - 1)) & 1;
      of = ((r << 1) ^ r) >>> 31;
    }
  } else if (left) {
    const t = ((dst << 16) | src) >>> 0;
    let wide = t << count;
    if (count > 16) wide |= dst << (count - 16);
    r = (wide >>> 16) & 0xffff;
    cf = (t >>> (32 - count)) & 1;
    of = cf ^ (r >>> 15);
  } else {
    const t = ((src << 16) | dst) >>> 0;
    let wide = t >>> count;
    if (count > 16) wide |= dst << (32 - count);
    r = wide & 0xffff;
    cf = (dst >>> (count - 1)) & 1;
    of = (((r << 1) ^ r) >>> 15) & 1;
  }
  setRes(c, r, s, cf, of);
  return r;
}

/** Unsigned 32x32 -> 64 multiply: returns the low half, stores the high half in MUL_HI[0]. */
export const MUL_HI = new Int32Array(1);
export function mulu32(x: number, y: number): number {
  const a = x >>> 0;
  const b = y >>> 0;
  const p = a * b;
  if (p <= 9007199254740991) {
    MUL_HI[0] = Math.floor(p / 4294967296);
  } else {
    // Past 2^53 a double drops bits: assemble the high half from 16-bit pieces.
    const aL = a & 0xffff;
    const aH = a >>> 16;
    const bL = b & 0xffff;
    const bH = b >>> 16;
    const m1 = aH * bL + ((aL * bL) >>> 16);
    const m2 = aL * bH + (m1 % 65536);
    MUL_HI[0] = aH * bH + Math.floor(m1 / 65536) + Math.floor(m2 / 65536);
  }
  return Math.imul(a, b);
}

/** Signed 32x32 -> 64 multiply: low half returned, high half in MUL_HI[0]. */
export function muls32(x: number, y: number): number {
  const p = x * y;
  if (p >= -9007199254740991 && p <= 9007199254740991) {
    MUL_HI[0] = Math.floor(p / 4294967296);
    return Math.imul(x, y);
  }
  const lo = mulu32(x, y);
  let hi = MUL_HI[0];
  if (x < 0) hi -= y;
  if (y < 0) hi -= x;
  MUL_HI[0] = hi;
  return lo;
}

/**
 * Unsigned 64/32 division of hi:lo by d (d != 0, hi < d so the quotient
 * fits): quotient returned, remainder in DIV_REM[0]. Done in 16-bit steps so
 * every intermediate stays exact in a double.
 */
export const DIV_REM = new Float64Array(1);
export function divu64(hi: number, lo: number, d: number): number {
  let rem = hi >>> 0;
  const dd = d >>> 0;
  const l = lo >>> 0;
  let t = rem * 65536 + (l >>> 16);
  const q1 = Math.floor(t / dd);
  rem = t - q1 * dd;
  t = rem * 65536 + (l & 0xffff);
  const q2 = Math.floor(t / dd);
  DIV_REM[0] = t - q2 * dd;
  return q1 * 65536 + q2;
}

