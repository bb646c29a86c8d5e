/**
 * Exact 80-bit (double extended) arithmetic without allocation.
 *
 * A value is held "unpacked" in a Num: class, sign, unbiased exponent and a
 * 64-bit significand split into two uint32 words (hi carries the explicit
 * integer bit at bit 31 for normal numbers). Every operation computes the
 * exact result into a 96-bit working significand (H:L:X, where X holds the
 * bits below the 64-bit significand with all further bits "jammed" into its
 * lowest bit) and then rounds once, as the hardware does, with the rounding
 * control, the precision (64, 53 or 24 bits) and the exponent range of the
 * destination format. Results are therefore bit-exact, including denormals,
 * C1 (round-up) and the exception flags.
 *
 * All working state lives in module-level numbers; nothing is allocated per
 * operation.
 */

/** Status-word bits used as flag results. C1 reports "rounded up". */
export const IE = 0x01, DE = 0x02, ZE = 0x04, OE = 0x08, UE = 0x10, PE = 0x20, SF = 0x40, C1 = 0x200;

/** Classes of an unpacked value. */
export const ZERO = 0, FINITE = 1, INF = 2, QNAN = 3, SNAN = 4, BAD = 5;

/** Rounding control (control word bits 10-11). */
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;

/** Destination formats: minimum and maximum unbiased exponent. */
export interface Format { emin: number; emax: number; }
export const EXT: Format = { emin: -16382, emax: 16383 };
export const DBL: Format = { emin: -1022, emax: 1023 };
export const SGL: Format = { emin: -126, emax: 127 };
/** For intermediate results inside an instruction: never over- or underflows,
 *  so the result stays a normalized Num (not a register encoding). */
export const WIDE: Format = { emin: -1e6, emax: 1e6 };

/** Overflow/underflow with the exception unmasked and a register destination
 *  delivers the result with its exponent wrapped by this bias (IEEE 754 trap). */
const BIAS_ADJUST = 24576;

const TWO32 = 4294967296;
/** POW2[n] = 2^n, for the bit loops (a table is much faster than 2 ** n). */
const POW2: readonly number[] = Array.from({ length: 66 }, (_, n) => 2 ** n);

export class Num {
  cls = ZERO;
  s = 0;      // sign, 0 or 1
  e = 0;      // unbiased exponent: value = (hi:lo) * 2^(e-63)
  hi = 0;     // uint32, bit 31 = integer bit when normalized
  lo = 0;     // uint32
  den = false; // the source operand was a denormal (for DE)

  copy(o: Num): void { this.cls = o.cls; this.s = o.s; this.e = o.e; this.hi = o.hi; this.lo = o.lo; this.den = o.den; }
  setIndefinite(): void { this.cls = QNAN; this.s = 1; this.e = 0; this.hi = 0xC0000000; this.lo = 0; this.den = false; }
  setZero(s: number): void { this.cls = ZERO; this.s = s; this.e = 0; this.hi = 0; this.lo = 0; this.den = false; }
  setInf(s: number): void { this.cls = INF; this.s = s; this.e = 0; this.hi = 0x80000000; this.lo = 0; this.den = false; }
  isNaN(): boolean { return this.cls === QNAN || this.cls === SNAN; }
}

// ---- The working significand H:L:X and its helpers ----------------------

let H = 0, L = 0, X = 0;

/** Shift H:L:X right by n, ORing every bit shifted out into bit 0 of X. */
function shrJam(n: number): void {
  if (n <= 0) return;
  if (n >= 96) { X = (H | L | X) !== 0 ? 1 : 0; H = 0; L = 0; return; }
  while (n >= 32) { X = (L | (X !== 0 ? 1 : 0)) >>> 0; L = H; H = 0; n -= 32; }
  if (n === 0) return;
  const sticky = (X << (32 - n)) !== 0 ? 1 : 0;
  X = ((X >>> n) | (L << (32 - n)) | sticky) >>> 0;
  L = ((L >>> n) | (H << (32 - n))) >>> 0;
  H = H >>> n;
}

/** Shift H:L:X left until bit 95 is set (it must be nonzero); returns the shift. */
function normalizeHLX(): number {
  let n = 0;
  while (H === 0) { H = L; L = X; X = 0; n += 32; }
  const z = Math.clz32(H);
  if (z > 0) {
    H = ((H << z) | (L >>> (32 - z))) >>> 0;
    L = ((L << z) | (X >>> (32 - z))) >>> 0;
    X = (X << z) >>> 0;
  }
  return n + z;
}

/** Normalize a finite nonzero Num in place (denormal sources). */
function normalizeNum(a: Num): void {
  H = a.hi; L = a.lo; X = 0;
  const n = normalizeHLX();
  a.hi = H; a.lo = L; a.e -= n;
}

// ---- Unpacking from memory and register formats ------------------------

/** Unpack an 80-bit value (sign+exponent word, significand words). */
export function unpackExt(se: number, hi: number, lo: number, out: Num): void {
  const exp = se & 0x7FFF;
  out.s = se >>> 15; out.hi = hi >>> 0; out.lo = lo >>> 0; out.den = false;
  if (exp === 0x7FFF) {
    if (!(hi & 0x80000000)) out.cls = BAD;                 // pseudo-infinity / pseudo-NaN
    else if ((hi & 0x7FFFFFFF) === 0 && lo === 0) out.cls = INF;
    else out.cls = (hi & 0x40000000) ? QNAN : SNAN;
    out.e = 0;
  } else if (exp === 0) {
    if (hi === 0 && lo === 0) { out.cls = ZERO; out.e = 0; return; }
    // Denormal, or pseudo-denormal (integer bit set): both use exponent 1.
    out.cls = FINITE; out.den = true; out.e = EXT.emin;
    normalizeNum(out);
  } else {
    out.cls = (hi & 0x80000000) ? FINITE : BAD;             // unnormal is unsupported
    out.e = exp - 16383;
  }
}

/** Unpack an IEEE double given as two uint32 words. Always exact. */
export function unpackDouble(whi: number, wlo: number, out: Num): void {
  const exp = (whi >>> 20) & 0x7FF;
  const fh = whi & 0xFFFFF;
  out.s = whi >>> 31; out.den = false;
  // Place the 52-bit fraction just below the integer bit.
  out.hi = ((fh << 11) | (wlo >>> 21)) >>> 0;
  out.lo = (wlo << 11) >>> 0;
  if (exp === 0x7FF) {
    out.e = 0;
    if (fh === 0 && wlo === 0) { out.cls = INF; out.hi = 0x80000000; }
    else { out.cls = (fh & 0x80000) ? QNAN : SNAN; out.hi = (out.hi | 0x80000000) >>> 0; }
  } else if (exp === 0) {
    if (fh === 0 && wlo === 0) { out.setZero(out.s); return; }
    out.cls = FINITE; out.den = true; out.e = DBL.emin;
    normalizeNum(out);
  } else {
    out.cls = FINITE; out.e = exp - 1023; out.hi = (out.hi | 0x80000000) >>> 0;
  }
}

/** Unpack an IEEE single. Always exact. */
export function unpackSingle(w: number, out: Num): void {
  const exp = (w >>> 23) & 0xFF;
  const f = w & 0x7FFFFF;
  out.s = w >>> 31; out.den = false; out.lo = 0;
  out.hi = (f << 8) >>> 0;
  if (exp === 0xFF) {
    out.e = 0;
    if (f === 0) { out.cls = INF; out.hi = 0x80000000; }
    else { out.cls = (f & 0x400000) ? QNAN : SNAN; out.hi = (out.hi | 0x80000000) >>> 0; }
  } else if (exp === 0) {
    if (f === 0) { out.setZero(out.s); return; }
    out.cls = FINITE; out.den = true; out.e = SGL.emin;
    normalizeNum(out);
  } else {
    out.cls = FINITE; out.e = exp - 127; out.hi = (out.hi | 0x80000000) >>> 0;
  }
}

/** Unpack a signed integer magnitude (ih:il as uint32 words). Exact. */
export function unpackInt(neg: boolean, ih: number, il: number, out: Num): void {
  out.den = false; out.s = neg ? 1 : 0;
  if (ih === 0 && il === 0) { out.setZero(0); return; }
  out.cls = FINITE; out.e = 63; out.hi = ih >>> 0; out.lo = il >>> 0;
  normalizeNum(out);
}

// ---- Packing ----------------------------------------------------------------

/** Raw 80-bit fields of a Num: sign/exponent word (the significand is hi/lo as is). */
export function extSE(a: Num): number {
  const s = a.s << 15;
  switch (a.cls) {
    case ZERO: return s;
    case FINITE: return s | ((a.hi & 0x80000000) ? a.e + 16383 : 0);
    default: return s | 0x7FFF;
  }
}

/** Pack a Num already rounded to double into two words; returns the high word, low in packedLo. */
export let packedLo = 0;
export function packDouble(a: Num): number {
  const s = a.s << 31;
  let exp: number;
  switch (a.cls) {
    case ZERO: packedLo = 0; return s >>> 0;
    case INF: packedLo = 0; return (s | 0x7FF00000) >>> 0;
    case FINITE: exp = (a.hi & 0x80000000) ? a.e + 1023 : 0; break;
    default: exp = 0x7FF; break;   // NaN: keep the top 52 fraction bits
  }
  packedLo = ((a.hi << 21) | (a.lo >>> 11)) >>> 0;
  return (s | (exp << 20) | ((a.hi >>> 11) & 0xFFFFF)) >>> 0;
}

export function packSingle(a: Num): number {
  const s = a.s << 31;
  switch (a.cls) {
    case ZERO: return s >>> 0;
    case INF: return (s | 0x7F800000) >>> 0;
    case FINITE: return (s | (((a.hi & 0x80000000) ? a.e + 127 : 0) << 23) | ((a.hi >>> 8) & 0x7FFFFF)) >>> 0;
    default: return (s | 0x7F800000 | ((a.hi >>> 8) & 0x7FFFFF)) >>> 0;
  }
}

// ---- Rounding -------------------------------------------------------------

/**
 * Round the exact value (-1)^s * H:L:X * 2^(e-63) (H bit 31 set) to `prec`
 * significand bits in format `fmt` with rounding control `rc`, writing
 * `out`. `cw` supplies the overflow/underflow masks; `regDest` selects the
 * unmasked response (bias-adjusted result for registers; for memory the
 * caller stores nothing). Returns exception flags, plus C1 if rounded up.
 */
function roundPack(s: number, e: number, prec: number, fmt: Format, rc: number, cw: number,
                   regDest: boolean, out: Num): number {
  let flags = 0;
  let tiny = false;
  if (e < fmt.emin) {
    if (regDest && !(cw & UE)) {
      // Unmasked: deliver the wrapped exponent; beyond even that, zero.
      if (e + BIAS_ADJUST < fmt.emin) { out.setZero(s); return UE | PE; }
      e += BIAS_ADJUST; flags |= UE;
    } else { tiny = true; shrJam(fmt.emin - e); e = fmt.emin; }
  }
  // The bits below the rounding position: round bit and sticky.
  const d = 64 - prec;               // discarded bits of H:L (0, 11 or 40)
  let rbit: number, sticky: boolean, lsb: number;
  if (d === 0) {
    rbit = X >>> 31; sticky = (X & 0x7FFFFFFF) !== 0; lsb = L & 1;
  } else if (d < 32) {
    rbit = (L >>> (d - 1)) & 1; sticky = (L & ((1 << (d - 1)) - 1)) !== 0 || X !== 0; lsb = (L >>> d) & 1;
    L = (L & ~((1 << d) - 1)) >>> 0;
  } else {
    const dh = d - 32;
    rbit = (H >>> (dh - 1)) & 1; sticky = (H & ((1 << (dh - 1)) - 1)) !== 0 || L !== 0 || X !== 0;
    lsb = (H >>> dh) & 1;
    H = (H & ~((1 << dh) - 1)) >>> 0; L = 0;
  }
  X = 0;
  const inexact = rbit !== 0 || sticky;
  let up = false;
  if (inexact) {
    flags |= PE;
    switch (rc) {
      case RC_NEAREST: up = rbit !== 0 && (sticky || lsb !== 0); break;
      case RC_DOWN: up = s === 1; break;
      case RC_UP: up = s === 0; break;
      default: up = false;
    }
  }
  if (tiny && (inexact || !(cw & UE))) flags |= UE;
  if (up) {
    flags |= C1;
    if (d < 32) {
      L += POW2[d];
      if (L >= TWO32) { L -= TWO32; H += 1; }
    } else {
      H += POW2[d - 32];
    }
    if (H >= TWO32) { H = 0x80000000; L = 0; e += 1; }
  }
  if (H === 0 && L === 0) {           // a denormal rounded down to zero
    out.setZero(s);
    return flags;
  }
  if (e > fmt.emax) {
    if (regDest && !(cw & OE)) {
      // Unmasked: deliver the wrapped exponent; beyond even that, infinity.
      if (e - BIAS_ADJUST > fmt.emax) { out.setInf(s); return flags | OE | PE | C1; }
      e -= BIAS_ADJUST; flags |= OE;
    } else if (!(cw & OE)) {
      return flags | OE;              // memory destination: nothing is stored
    } else {
      flags |= OE | PE;
      const toInf = rc === RC_NEAREST || (rc === RC_UP && s === 0) || (rc === RC_DOWN && s === 1);
      if (toInf) { out.setInf(s); return flags | C1; }
      // Largest finite value of this precision.
      out.cls = FINITE; out.s = s; out.e = fmt.emax; out.den = false;
      if (prec > 32) { out.hi = 0xFFFFFFFF; out.lo = (0xFFFFFFFF - (2 ** (64 - prec) - 1)) >>> 0; }
      else { out.hi = (0xFFFFFFFF - (2 ** (32 - prec) - 1)) >>> 0; out.lo = 0; }
      return flags & ~C1;
    }
  }
  out.cls = FINITE; out.s = s; out.e = e; out.hi = H >>> 0; out.lo = L >>> 0; out.den = false;
  return flags;
}

/** Round a finite Num to a destination format (fst m32/m64, or precision control). */
export function roundTo(a: Num, prec: number, fmt: Format, rc: number, cw: number, regDest: boolean, out: Num): number {
  H = a.hi; L = a.lo; X = 0;
  return roundPack(a.s, a.e, prec, fmt, rc, cw, regDest, out);
}

/** A finite or zero operand delivered as a result: canonical encoding (a
 *  pseudo-denormal becomes normal), and a denormal still signals underflow
 *  when that is unmasked, with the wrapped exponent. */
function passThrough(a: Num, cw: number, out: Num): number {
  if (a.cls === ZERO) { out.copy(a); return 0; }
  return roundTo(a, 64, EXT, RC_NEAREST, cw, true, out);
}

// ---- NaN propagation ------------------------------------------------------

/** x87 rule for two operands where at least one is a NaN (Intel SDM table 4-7). */
export function propagateNaN(a: Num, b: Num, out: Num): number {
  const flags = (a.cls === SNAN || b.cls === SNAN) ? IE : 0;
  let pick: Num;
  if (!a.isNaN()) pick = b;
  else if (!b.isNaN()) pick = a;
  else if (a.cls !== b.cls) pick = a.cls === QNAN ? a : b;
  else if (a.hi !== b.hi) pick = (a.hi >>> 0) > (b.hi >>> 0) ? a : b;
  else if (a.lo !== b.lo) pick = (a.lo >>> 0) > (b.lo >>> 0) ? a : b;
  else pick = a.s === 0 ? a : b;
  out.copy(pick);
  out.cls = QNAN; out.hi = (out.hi | 0x40000000) >>> 0;
  return flags;
}

/** Shared operand screening for arithmetic: unsupported, NaN and denormal operands.
 *  Returns -1 when the operation proceeds, else the flags of a finished result. */
function screen2(a: Num, b: Num, out: Num): number {
  if (a.cls === BAD || b.cls === BAD) { out.setIndefinite(); return IE; }
  if (a.isNaN() || b.isNaN()) return propagateNaN(a, b, out);
  return -1;
}

function denormFlags(a: Num, b: Num): number {
  return (a.den || b.den) ? DE : 0;
}

// ---- Arithmetic -----------------------------------------------------------

/** a + b, or a - b when `negB`. */
export function add(a: Num, b: Num, negB: boolean, prec: number, rc: number, cw: number, out: Num, fmt: Format = EXT): number {
  const r = screen2(a, b, out);
  if (r >= 0) return r;
  const sb = negB ? b.s ^ 1 : b.s;
  const flags = denormFlags(a, b);
  if (a.cls === INF || b.cls === INF) {
    if (a.cls === INF && b.cls === INF) {
      if (a.s !== sb) { out.setIndefinite(); return flags | IE; }
      out.setInf(a.s); return flags;
    }
    if (a.cls === INF) out.setInf(a.s); else out.setInf(sb);
    return flags;
  }
  if (a.cls === ZERO && b.cls === ZERO) {
    out.setZero(a.s === sb ? a.s : (rc === RC_DOWN ? 1 : 0));
    return flags;
  }
  if (b.cls === ZERO) return flags | roundTo(a, prec, fmt, rc, cw, true, out);
  if (a.cls === ZERO) {
    out.copy(b); out.s = sb;
    return flags | roundTo(out, prec, fmt, rc, cw, true, out);
  }
  // Both finite nonzero: align the smaller to the larger.
  let big = a, small = b, sBig = a.s, sSmall = sb;
  if (b.e > a.e || (b.e === a.e && ((b.hi >>> 0) > (a.hi >>> 0) || (b.hi === a.hi && (b.lo >>> 0) > (a.lo >>> 0))))) {
    big = b; small = a; sBig = sb; sSmall = a.s;
  }
  H = small.hi; L = small.lo; X = 0;
  shrJam(big.e - small.e);
  let e = big.e;
  if (sBig === sSmall) {
    L += big.lo; H += big.hi;
    if (L >= TWO32) { L -= TWO32; H += 1; }
    if (H >= TWO32) {
      H -= TWO32;
      shrJam(1);
      H = (H | 0x80000000) >>> 0;
      e += 1;
    }
  } else {
    // big - small (magnitudes, big >= small)
    let x = -X, l = big.lo - L, h = big.hi - H;
    if (x < 0) { x += TWO32; l -= 1; }
    if (l < 0) { l += TWO32; h -= 1; }
    H = h; L = l; X = x;
    if (H === 0 && L === 0 && X === 0) {
      out.setZero(rc === RC_DOWN ? 1 : 0);
      return flags;
    }
    e -= normalizeHLX();
  }
  return flags | roundPack(sBig, e, prec, fmt, rc, cw, true, out);
}

/** 64x64-bit significand product into H:L:X (top 96 bits, rest jammed); returns 1 if bit 127 set. */
function mulSig(ah: number, al: number, bh: number, bl: number): number {
  const a0 = al & 0xFFFF, a1 = al >>> 16, a2 = ah & 0xFFFF, a3 = ah >>> 16;
  const b0 = bl & 0xFFFF, b1 = bl >>> 16, b2 = bh & 0xFFFF, b3 = bh >>> 16;
  let c = a0 * b0;
  const p0 = c % 65536; c = (c - p0) / 65536;
  c += a0 * b1 + a1 * b0;
  const p1 = c % 65536; c = (c - p1) / 65536;
  c += a0 * b2 + a1 * b1 + a2 * b0;
  const p2 = c % 65536; c = (c - p2) / 65536;
  c += a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  const p3 = c % 65536; c = (c - p3) / 65536;
  c += a1 * b3 + a2 * b2 + a3 * b1;
  const p4 = c % 65536; c = (c - p4) / 65536;
  c += a2 * b3 + a3 * b2;
  const p5 = c % 65536; c = (c - p5) / 65536;
  c += a3 * b3;
  const p6 = c % 65536; const p7 = (c - p6) / 65536;
  H = p7 * 65536 + p6; L = p5 * 65536 + p4; X = p3 * 65536 + p2;
  if (p1 !== 0 || p0 !== 0) X = (X | 1) >>> 0;
  if (H >= 0x80000000) return 1;
  H = ((H << 1) | (L >>> 31)) >>> 0;
  L = ((L << 1) | (X >>> 31)) >>> 0;
  X = (X << 1) >>> 0;   // the jammed bit stays nonzero
  return 0;
}

export function mul(a: Num, b: Num, prec: number, rc: number, cw: number, out: Num, fmt: Format = EXT): number {
  const r = screen2(a, b, out);
  if (r >= 0) return r;
  const s = a.s ^ b.s;
  const flags = denormFlags(a, b);
  if (a.cls === INF || b.cls === INF) {
    if (a.cls === ZERO || b.cls === ZERO) { out.setIndefinite(); return flags | IE; }
    out.setInf(s); return flags;
  }
  if (a.cls === ZERO || b.cls === ZERO) { out.setZero(s); return flags; }
  const top = mulSig(a.hi, a.lo, b.hi, b.lo);
  return flags | roundPack(s, a.e + b.e + top, prec, fmt, rc, cw, true, out);
}

/** Restoring division of significands: quotient of (rh:rl)/(bh:bl) for `bits`
 *  bits into H:L:X starting at bit 95, sticky from the remainder. Leaves the
 *  remainder in divRh:divRl. Requires b <= r < 2b on entry. */
let divRh = 0, divRl = 0;
function divBits(rh: number, rl: number, bh: number, bl: number, bits: number): void {
  H = 0; L = 0; X = 0;
  let w = 0;   // quotient bits, collected 32 at a time
  for (let i = 0; i < bits; i++) {
    let bit = 0;
    if (rh > bh || (rh === bh && rl >= bl)) {
      rl -= bl; rh -= bh;
      if (rl < 0) { rl += TWO32; rh -= 1; }
      bit = 1;
    }
    w = (w << 1) | bit;
    if ((i & 31) === 31) { if (i < 32) H = w >>> 0; else if (i < 64) L = w >>> 0; else X = w >>> 0; w = 0; }
    rh = rh * 2 + (rl >>> 31);
    rl = (rl << 1) >>> 0;
  }
  if (bits & 31) X = (w << (32 - (bits & 31))) >>> 0;
  divRh = rh; divRl = rl;
}

export function div(a: Num, b: Num, prec: number, rc: number, cw: number, out: Num): number {
  const r = screen2(a, b, out);
  if (r >= 0) return r;
  const s = a.s ^ b.s;
  if (a.cls === INF) {
    if (b.cls === INF) { out.setIndefinite(); return denormFlags(a, b) | IE; }
    out.setInf(s); return denormFlags(a, b);
  }
  if (b.cls === INF) { out.setZero(s); return denormFlags(a, b); }
  if (b.cls === ZERO) {
    // Division by zero is detected before a denormal dividend is reported.
    if (a.cls === ZERO) { out.setIndefinite(); return IE; }
    out.setInf(s); return ZE;
  }
  const flags = denormFlags(a, b);
  if (a.cls === ZERO) { out.setZero(s); return flags; }
  let rh = a.hi, rl = a.lo, e = a.e - b.e;
  if (rh < b.hi || (rh === b.hi && rl < b.lo)) {
    rh = rh * 2 + (rl >>> 31); rl = (rl << 1) >>> 0; e -= 1;
  }
  divBits(rh, rl, b.hi, b.lo, 66);
  if (divRh !== 0 || divRl !== 0) X = (X | 1) >>> 0;
  return flags | roundPack(s, e, prec, EXT, rc, cw, true, out);
}

export function sqrt(a: Num, prec: number, rc: number, cw: number, out: Num): number {
  switch (a.cls) {
    case BAD: out.setIndefinite(); return IE;
    case QNAN: case SNAN: return propagateNaN(a, a, out);
    case ZERO: out.copy(a); return 0;
    case INF: if (a.s) { out.setIndefinite(); return IE; } out.copy(a); return 0;
  }
  if (a.s) { out.setIndefinite(); return IE; }
  const flags = a.den ? DE : 0;
  // Radicand R*2^65 as xh:xl (xh may exceed 32 bits), R in [1,4).
  const odd = a.e & 1;
  const scale = odd ? 8 : 4;
  let xh = a.hi * scale + Math.floor(a.lo / 2 ** (32 - (odd ? 3 : 2)));
  let xl = (a.lo * scale) % TWO32;
  let sh = 0, sl = 0, qh = 0, ql = 0;
  for (let bit = 65; bit >= 0; bit--) {
    const rh = bit >= 32 ? POW2[bit - 32] : 0, rl = bit >= 32 ? 0 : POW2[bit];
    // t = s + r
    let th = sh + rh, tl = sl + rl;
    if (tl >= TWO32) { tl -= TWO32; th += 1; }
    if (th < xh || (th === xh && tl <= xl)) {
      sl = tl + rl; sh = th + rh;
      if (sl >= TWO32) { sl -= TWO32; sh += 1; }
      xl -= tl; xh -= th;
      if (xl < 0) { xl += TWO32; xh -= 1; }
      qh += rh; ql += rl;
    }
    xh = xh * 2 + (xl >= 0x80000000 ? 1 : 0);
    xl = (xl * 2) % TWO32;
  }
  // q has 66 bits with the integer bit at bit 65.
  H = Math.floor(qh / 4);
  L = (((qh & 3) << 30) | (ql >>> 2)) >>> 0;
  X = (((ql & 3) << 30) | ((xh !== 0 || xl !== 0) ? 1 : 0)) >>> 0;
  return flags | roundPack(0, Math.floor(a.e / 2), prec, EXT, rc, cw, true, out);
}

// ---- Comparison -----------------------------------------------------------

export const CMP_LT = 0, CMP_EQ = 1, CMP_GT = 2, CMP_UN = 3;
export let cmpFlags = 0;

/** Compare a with b. `quiet`: only SNaNs (and unsupported) signal IE (fucom). */
export function compare(a: Num, b: Num, quiet: boolean): number {
  if (a.cls === BAD || b.cls === BAD) { cmpFlags = IE; return CMP_UN; }
  if (a.isNaN() || b.isNaN()) {
    cmpFlags = (!quiet || a.cls === SNAN || b.cls === SNAN) ? IE : 0;
    return CMP_UN;
  }
  cmpFlags = denormFlags(a, b);
  if (a.cls === ZERO && b.cls === ZERO) return CMP_EQ;
  if (a.s !== b.s) {
    if (a.cls === ZERO) return b.s ? CMP_GT : CMP_LT;
    if (b.cls === ZERO) return a.s ? CMP_LT : CMP_GT;
    return a.s ? CMP_LT : CMP_GT;
  }
  // Same sign: compare magnitudes, then flip for negatives.
  let m: number;   // -1, 0, 1 for |a| vs |b|
  if (a.cls === ZERO) m = -1;
  else if (b.cls === ZERO) m = 1;
  else if (a.cls === INF || b.cls === INF) m = a.cls === b.cls ? 0 : (a.cls === INF ? 1 : -1);
  else if (a.e !== b.e) m = a.e > b.e ? 1 : -1;
  else if (a.hi !== b.hi) m = (a.hi >>> 0) > (b.hi >>> 0) ? 1 : -1;
  else if (a.lo !== b.lo) m = (a.lo >>> 0) > (b.lo >>> 0) ? 1 : -1;
  else m = 0;
  if (a.s) m = -m;
  return m < 0 ? CMP_LT : m > 0 ? CMP_GT : CMP_EQ;
}

// ---- Integers -------------------------------------------------------------

/** Integer magnitude produced by roundToInt. */
export let intHi = 0, intLo = 0;

/**
 * Round a finite Num to an integer with `rc`, leaving the magnitude in
 * intHi:intLo. Returns PE and C1 flags, or -1 if the magnitude needs more
 * than 64 bits.
 */
export function roundToInt(a: Num, rc: number): number {
  if (a.cls === ZERO) { intHi = 0; intLo = 0; return 0; }
  if (a.e >= 64) return -1;
  H = a.hi; L = a.lo; X = 0;
  if (a.e < 63) shrJam(63 - a.e);
  const rbit = X >>> 31, sticky = (X & 0x7FFFFFFF) !== 0;
  let flags = 0, up = false;
  if (rbit || sticky) {
    flags |= PE;
    switch (rc) {
      case RC_NEAREST: up = rbit !== 0 && (sticky || (L & 1) !== 0); break;
      case RC_DOWN: up = a.s === 1; break;
      case RC_UP: up = a.s === 0; break;
      default: up = false;
    }
  }
  if (up) {
    flags |= C1;
    L += 1;
    if (L >= TWO32) { L = 0; H += 1; if (H >= TWO32) return -1; }
  }
  intHi = H >>> 0; intLo = L >>> 0;
  return flags;
}

/** frndint: round to an integral value in the register format. */
export function roundInt(a: Num, rc: number, out: Num): number {
  switch (a.cls) {
    case BAD: out.setIndefinite(); return IE;
    case QNAN: case SNAN: return propagateNaN(a, a, out);
    case ZERO: case INF: out.copy(a); return 0;
  }
  const flags = a.den ? DE : 0;
  if (a.e >= 63) { out.copy(a); out.den = false; return flags; }
  const f = roundToInt(a, rc);
  if (intHi === 0 && intLo === 0) { out.setZero(a.s); return flags | f; }
  unpackInt(a.s === 1, intHi, intLo, out);
  return flags | f;
}

// ---- Scaling, extraction, remainder ------------------------------------

/** fscale: a * 2^trunc(b). */
export function scale(a: Num, b: Num, rc: number, cw: number, out: Num): number {
  const r = screen2(a, b, out);
  if (r >= 0) return r;
  const flags = denormFlags(a, b);
  if (b.cls === INF) {
    if (b.s === 0) {   // * 2^+inf
      if (a.cls === ZERO) { out.setIndefinite(); return flags | IE; }
      if (a.cls === INF) { out.copy(a); return flags; }
      out.setInf(a.s); return flags;
    }
    if (a.cls === INF) { out.setIndefinite(); return flags | IE; }
    out.setZero(a.s); return flags;
  }
  if (a.cls === ZERO || a.cls === INF) { out.copy(a); out.den = false; return flags; }
  // trunc(b), clamped: anything beyond +-2^20 over/underflows the same way.
  let n = 0;
  if (b.cls === FINITE && b.e >= 0) {
    n = b.e > 20 ? 1 << 20 : Math.floor((b.hi >>> 0) / 2 ** (31 - b.e));
    if (b.s) n = -n;
  }
  H = a.hi; L = a.lo; X = 0;
  return flags | roundPack(a.s, a.e + n, 64, EXT, rc, cw, true, out);
}

/**
 * fprem (`nearest` false) / fprem1 (true): exact partial remainder of a by b.
 * Writes out; returns flags; remQuot = low three quotient bits (-1 when
 * there is no quotient: NaN or invalid), remPartial when the reduction is
 * incomplete (C2).
 */
export let remQuot = 0, remPartial = false;
export function remainder(a: Num, b: Num, nearest: boolean, rc: number, cw: number, out: Num): number {
  remQuot = -1; remPartial = false;
  const r = screen2(a, b, out);
  if (r >= 0) return r;
  if (a.cls === INF || b.cls === ZERO) { out.setIndefinite(); return IE; }
  const flags = denormFlags(a, b);
  remQuot = 0;
  let d = a.e - b.e;
  if (a.cls === ZERO || b.cls === INF || d < -1 || (d === -1 && !nearest)) return flags | passThrough(a, cw, out);
  if (d === -1) {
    // fprem1 with |b|/2 <= |a| < |b|: the quotient rounds to 1 when 2|a| > |b|
    // (a tie rounds to the even quotient 0). The remainder |b| - |a| is exact
    // at a's scale, where b's significand is doubled.
    const gt = a.hi > b.hi || (a.hi === b.hi && a.lo > b.lo);
    if (!gt) return flags | passThrough(a, cw, out);
    let nl = b.lo * 2 - a.lo, nh = b.hi * 2 - a.hi;
    if (nl >= TWO32) { nl -= TWO32; nh += 1; }
    if (nl < 0) { nl += TWO32; nh -= 1; }
    remQuot = 1;
    H = nh; L = nl; X = 0;
    return flags | roundPack(a.s ^ 1, a.e - normalizeHLX(), 64, EXT, rc, cw, true, out);
  }
  let eb = b.e;
  if (d >= 64) {
    // Reduce only by b*2^(d-n), leaving the rest for the next fprem (C2 = 1).
    remPartial = true;
    const n = 32 + ((d - 32) % 32);
    eb = a.e - n;
    d = n;
    nearest = false;
  }
  // Restoring division of a's significand * 2^d by b's: d+1 quotient bits;
  // the remainder ends at b's scale.
  let rh = a.hi, rl = a.lo, q = 0;
  for (let i = 0; i <= d; i++) {
    q = (q * 2) % 8;
    if (rh > b.hi || (rh === b.hi && rl >= b.lo)) {
      rl -= b.lo; rh -= b.hi;
      if (rl < 0) { rl += TWO32; rh -= 1; }
      q += 1;
    }
    if (i < d) { rh = rh * 2 + (rl >>> 31); rl = (rl << 1) >>> 0; }
  }
  let s = a.s;
  if (nearest) {
    // Round the quotient to nearest (ties to even): compare 2r with b.
    const r2h = rh * 2 + (rl >>> 31), r2l = (rl << 1) >>> 0;
    const gt = r2h > b.hi || (r2h === b.hi && r2l > b.lo);
    const eq = r2h === b.hi && r2l === b.lo;
    if (gt || (eq && (q & 1))) {
      let nl = b.lo - rl, nh = b.hi - rh;
      if (nl < 0) { nl += TWO32; nh -= 1; }
      rh = nh; rl = nl; s ^= 1; q = (q + 1) % 8;
    }
  }
  remQuot = q;
  if (rh === 0 && rl === 0) { out.setZero(a.s); return flags; }
  H = rh; L = rl; X = 0;
  return flags | roundPack(s, eb - normalizeHLX(), 64, EXT, rc, cw, true, out);
}

// ---- float64 bridge for the transcendental functions -------------------

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** Nearest double to a finite or infinite Num (NaNs are handled by callers). */
export function toFloat64(a: Num): number {
  switch (a.cls) {
    case ZERO: return a.s ? -0 : 0;
    case INF: return a.s ? -Infinity : Infinity;
    case FINITE: {
      const m = (a.hi >>> 0) * TWO32 + (a.lo >>> 0);
      // Two steps so that intermediate powers stay in range.
      const e = a.e - 63;
      const v = m * 2 ** Math.trunc(e / 2) * 2 ** (e - Math.trunc(e / 2));
      return a.s ? -v : v;
    }
    default: return NaN;
  }
}

export function fromFloat64(v: number, out: Num): void {
  f64[0] = v;
  unpackDouble(u32[1], u32[0], out);
}
