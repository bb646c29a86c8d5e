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
 * All working state lives in typed arrays and int32 module-level numbers
 * (V8 boxes a module-level variable holding a larger number on every write);
 * nothing is allocated per operation. Division and square root form three
 * 22-bit digits each from floating estimates, made exact on 22-bit limbs:
 * no loop over bits.
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
/** POW2[n] = 2^n, for rounding increments (a table is much faster than 2 ** n). */
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

/** H, L, X: in a typed array, because a module-level variable holding a
 *  value beyond the small-integer range (a uint32 >= 2^31) is boxed by V8
 *  on every write, which made every operation allocate. */
const W = new Float64Array(3);

/** Shift H:L:X right by n, ORing every bit shifted out into bit 0 of X. */
function shrJam(n: number): void {
  if (n <= 0) return;
  if (n >= 96) { W[2] = (W[0] | W[1] | W[2]) !== 0 ? 1 : 0; W[0] = 0; W[1] = 0; return; }
  while (n >= 32) { W[2] = (W[1] | (W[2] !== 0 ? 1 : 0)) >>> 0; W[1] = W[0]; W[0] = 0; n -= 32; }
  if (n === 0) return;
  const sticky = (W[2] << (32 - n)) !== 0 ? 1 : 0;
  W[2] = ((W[2] >>> n) | (W[1] << (32 - n)) | sticky) >>> 0;
  W[1] = ((W[1] >>> n) | (W[0] << (32 - n))) >>> 0;
  W[0] = W[0] >>> n;
}

/** Shift H:L:X left until bit 95 is set (it must be nonzero); returns the shift. */
function normalizeHLX(): number {
  let n = 0;
  while (W[0] === 0) { W[0] = W[1]; W[1] = W[2]; W[2] = 0; n += 32; }
  const z = Math.clz32(W[0]);
  if (z > 0) {
    W[0] = ((W[0] << z) | (W[1] >>> (32 - z))) >>> 0;
    W[1] = ((W[1] << z) | (W[2] >>> (32 - z))) >>> 0;
    W[2] = (W[2] << z) >>> 0;
  }
  return n + z;
}

/** Normalize a finite nonzero Num in place (denormal sources). */
function normalizeNum(a: Num): void {
  W[0] = a.hi; W[1] = a.lo; W[2] = 0;
  const n = normalizeHLX();
  a.hi = W[0]; a.lo = W[1]; a.e -= n;
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

/** Pack a Num already rounded to double into two words; returns the high word, low in packedLo.
 *  The words are int32 (memory writes take either): a uint32 >= 2^31 returned
 *  or held in a module-level variable would be boxed. */
export let packedLo = 0;
export function packDouble(a: Num): number {
  const s = a.s << 31;
  let exp: number;
  switch (a.cls) {
    case ZERO: packedLo = 0; return s;
    case INF: packedLo = 0; return s | 0x7FF00000;
    case FINITE: exp = (a.hi & 0x80000000) ? a.e + 1023 : 0; break;
    default: exp = 0x7FF; break;   // NaN: keep the top 52 fraction bits
  }
  packedLo = (a.hi << 21) | (a.lo >>> 11);
  return s | (exp << 20) | ((a.hi >>> 11) & 0xFFFFF);
}

/** Pack a Num already rounded to single into a word (int32, as packDouble). */
export function packSingle(a: Num): number {
  const s = a.s << 31;
  switch (a.cls) {
    case ZERO: return s;
    case INF: return s | 0x7F800000;
    case FINITE: return s | (((a.hi & 0x80000000) ? a.e + 127 : 0) << 23) | ((a.hi >>> 8) & 0x7FFFFF);
    default: return s | 0x7F800000 | ((a.hi >>> 8) & 0x7FFFFF);
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
  if (e === fmt.emin - 1 && carriesOut(s, prec, rc)) {
    // Tininess is detected after rounding (to `prec` bits, exponent
    // unbounded): a value that rounds up to the smallest normal is not tiny,
    // at any precision control (measured on the host).
    shrJam(1); e = fmt.emin;
  } else if (e < fmt.emin) {
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
    rbit = W[2] >>> 31; sticky = (W[2] & 0x7FFFFFFF) !== 0; lsb = W[1] & 1;
  } else if (d < 32) {
    rbit = (W[1] >>> (d - 1)) & 1; sticky = (W[1] & ((1 << (d - 1)) - 1)) !== 0 || W[2] !== 0; lsb = (W[1] >>> d) & 1;
    W[1] = (W[1] & ~((1 << d) - 1)) >>> 0;
  } else {
    const dh = d - 32;
    rbit = (W[0] >>> (dh - 1)) & 1; sticky = (W[0] & ((1 << (dh - 1)) - 1)) !== 0 || W[1] !== 0 || W[2] !== 0;
    lsb = (W[0] >>> dh) & 1;
    W[0] = (W[0] & ~((1 << dh) - 1)) >>> 0; W[1] = 0;
  }
  W[2] = 0;
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
      W[1] += POW2[d];
      if (W[1] >= TWO32) { W[1] -= TWO32; W[0] += 1; }
    } else {
      W[0] += POW2[d - 32];
    }
    if (W[0] >= TWO32) { W[0] = 0x80000000; W[1] = 0; e += 1; }
  }
  if (W[0] === 0 && W[1] === 0) {           // a denormal rounded down to zero
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
  out.cls = FINITE; out.s = s; out.e = e; out.hi = W[0] >>> 0; out.lo = W[1] >>> 0; out.den = false;
  return flags;
}

/** Would rounding H:L:X to `prec` bits carry out of the significand (the kept
 *  bits all ones, and rounding up)? */
function carriesOut(s: number, prec: number, rc: number): boolean {
  const d = 64 - prec;
  let rbit: number, sticky: boolean;
  if (d === 0) {
    if (((W[0] & W[1]) >>> 0) !== 0xFFFFFFFF) return false;
    rbit = W[2] >>> 31; sticky = (W[2] & 0x7FFFFFFF) !== 0;
  } else if (d < 32) {
    if (W[0] !== 0xFFFFFFFF || (W[1] >>> d) !== (0xFFFFFFFF >>> d)) return false;
    rbit = (W[1] >>> (d - 1)) & 1; sticky = (W[1] & ((1 << (d - 1)) - 1)) !== 0 || W[2] !== 0;
  } else {
    const dh = d - 32;
    if ((W[0] >>> dh) !== (0xFFFFFFFF >>> dh)) return false;
    rbit = (W[0] >>> (dh - 1)) & 1; sticky = (W[0] & ((1 << (dh - 1)) - 1)) !== 0 || W[1] !== 0 || W[2] !== 0;
  }
  switch (rc) {
    case RC_NEAREST: return rbit !== 0;   // the kept lsb is 1: a tie rounds up too
    case RC_DOWN: return s === 1 && (rbit !== 0 || sticky);
    case RC_UP: return s === 0 && (rbit !== 0 || sticky);
    default: return false;
  }
}

/** Round a finite Num to a destination format (fst m32/m64, or precision control). */
export function roundTo(a: Num, prec: number, fmt: Format, rc: number, cw: number, regDest: boolean, out: Num): number {
  W[0] = a.hi; W[1] = a.lo; W[2] = 0;
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
  W[0] = small.hi; W[1] = small.lo; W[2] = 0;
  shrJam(big.e - small.e);
  let e = big.e;
  if (sBig === sSmall) {
    W[1] += big.lo; W[0] += big.hi;
    if (W[1] >= TWO32) { W[1] -= TWO32; W[0] += 1; }
    if (W[0] >= TWO32) {
      W[0] -= TWO32;
      shrJam(1);
      W[0] = (W[0] | 0x80000000) >>> 0;
      e += 1;
    }
  } else {
    // big - small (magnitudes, big >= small)
    let x = -W[2], l = big.lo - W[1], h = big.hi - W[0];
    if (x < 0) { x += TWO32; l -= 1; }
    if (l < 0) { l += TWO32; h -= 1; }
    W[0] = h; W[1] = l; W[2] = x;
    if (W[0] === 0 && W[1] === 0 && W[2] === 0) {
      out.setZero(rc === RC_DOWN ? 1 : 0);
      return flags;
    }
    e -= normalizeHLX();
  }
  return flags | roundPack(sBig, e, prec, fmt, rc, cw, true, out);
}

/** 64x64-bit significand product into H:L:X (top 96 bits, rest jammed); returns 1 if bit 127 set. */
function mulSig(a: Num, b: Num): number {
  // Nums, not their words: a uint32 >= 2^31 passed to a call that is not inlined is boxed.
  const ah = a.hi, al = a.lo, bh = b.hi, bl = b.lo;
  // 16-bit digits; each column sum stays below 2^53. The carries use a
  // multiplication by 2^-16 and floor (exact), not % and / (slow fmod).
  const a0 = al & 0xFFFF, a1 = al >>> 16, a2 = ah & 0xFFFF, a3 = ah >>> 16;
  const b0 = bl & 0xFFFF, b1 = bl >>> 16, b2 = bh & 0xFFFF, b3 = bh >>> 16;
  const S = 1 / 65536;
  let c = a0 * b0;
  let q = Math.floor(c * S); const p0 = c - q * 65536; c = q;
  c += a0 * b1 + a1 * b0;
  q = Math.floor(c * S); const p1 = c - q * 65536; c = q;
  c += a0 * b2 + a1 * b1 + a2 * b0;
  q = Math.floor(c * S); const p2 = c - q * 65536; c = q;
  c += a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  q = Math.floor(c * S); const p3 = c - q * 65536; c = q;
  c += a1 * b3 + a2 * b2 + a3 * b1;
  q = Math.floor(c * S); const p4 = c - q * 65536; c = q;
  c += a2 * b3 + a3 * b2;
  q = Math.floor(c * S); const p5 = c - q * 65536; c = q;
  c += a3 * b3;
  q = Math.floor(c * S); const p6 = c - q * 65536; const p7 = q;
  W[0] = p7 * 65536 + p6; W[1] = p5 * 65536 + p4; W[2] = p3 * 65536 + p2;
  if (p1 !== 0 || p0 !== 0) W[2] = (W[2] | 1) >>> 0;
  if (W[0] >= 0x80000000) return 1;
  W[0] = ((W[0] << 1) | (W[1] >>> 31)) >>> 0;
  W[1] = ((W[1] << 1) | (W[2] >>> 31)) >>> 0;
  W[2] = (W[2] << 1) >>> 0;   // the jammed bit stays nonzero
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
  const top = mulSig(a, b);
  return flags | roundPack(s, a.e + b.e + top, prec, fmt, rc, cw, true, out);
}

/*
 * Division and square root work on 22-bit limbs held in doubles: a product
 * of two limbs (< 2^44) and a sum of a few of them stay exact below 2^53, so
 * a quotient or root digit of 22 bits can be estimated with one floating
 * division (or Math.sqrt), and the remainder then formed exactly and the
 * digit corrected by one. Three digits give the 66 bits the rounding needs.
 */
const B22 = 4194304, M22 = 0x3FFFFF;

/**
 * Significand quotient a/b (64-bit with the integer bit set; `dbl`: a
 * doubled first, when a < b) into H:L:X: the integer bit at bit 95, 66
 * fraction bits below it, the remainder jammed into the lowest bit.
 */
function divSig(a: Num, b: Num, dbl: boolean): void {
  const ah = a.hi >>> 0, al = a.lo >>> 0, bh = b.hi >>> 0, bl = b.lo >>> 0;
  // b = b2 2^44 + b1 2^22 + b0
  const b0 = bl & M22, b1 = ((bl >>> 22) | ((bh & 0xFFF) << 10)) >>> 0, b2 = bh >>> 12;
  let a0 = al & M22, a1 = ((al >>> 22) | ((ah & 0xFFF) << 10)) >>> 0, a2 = ah >>> 12;
  if (dbl) {
    a0 *= 2; a1 *= 2; a2 *= 2;
    if (a0 >= B22) { a0 -= B22; a1 += 1; }
    if (a1 >= B22) { a1 -= B22; a2 += 1; }
  }
  // The integer digit is 1: r = a - b, 0 <= r < b.
  let r0 = a0 - b0, r1 = a1 - b1, r2 = a2 - b2;
  if (r0 < 0) { r0 += B22; r1 -= 1; }
  if (r1 < 0) { r1 += B22; r2 -= 1; }
  const bd = (b2 * B22 + b1) * B22 + b0;
  let q0 = 0, q1 = 0, q2 = 0;
  for (let k = 0; k < 3; k++) {
    // r = r * 2^22 - q b, q the next digit.
    let r3 = r2; r2 = r1; r1 = r0; r0 = 0;
    let q = Math.floor(((r3 * B22 + r2) * B22 + r1) * B22 / bd);
    if (q > M22) q = M22;
    r0 = -q * b0; r1 -= q * b1; r2 -= q * b2;
    let c = Math.floor(r0 / B22); r0 -= c * B22; r1 += c;
    c = Math.floor(r1 / B22); r1 -= c * B22; r2 += c;
    c = Math.floor(r2 / B22); r2 -= c * B22; r3 += c;
    while (r3 < 0) {   // the estimate was too big
      q -= 1;
      r0 += b0; r1 += b1; r2 += b2;
      if (r0 >= B22) { r0 -= B22; r1 += 1; }
      if (r1 >= B22) { r1 -= B22; r2 += 1; }
      if (r2 >= B22) { r2 -= B22; r3 += 1; }
    }
    while (r3 > 0 || r2 > b2 || (r2 === b2 && (r1 > b1 || (r1 === b1 && r0 >= b0)))) {   // too small
      q += 1;
      r0 -= b0; r1 -= b1; r2 -= b2;
      if (r0 < 0) { r0 += B22; r1 -= 1; }
      if (r1 < 0) { r1 += B22; r2 -= 1; }
      if (r2 < 0) { r2 += B22; r3 -= 1; }
    }
    if (k === 0) q0 = q; else if (k === 1) q1 = q; else q2 = q;
  }
  W[0] = (0x80000000 | (q0 << 9) | (q1 >>> 13)) >>> 0;
  W[1] = (((q1 & 0x1FFF) << 19) | (q2 >>> 3)) >>> 0;
  W[2] = (((q2 & 7) << 29) | ((r0 | r1 | r2) !== 0 ? 1 : 0)) >>> 0;
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
  const small = (a.hi >>> 0) < (b.hi >>> 0) || (a.hi === b.hi && (a.lo >>> 0) < (b.lo >>> 0));
  divSig(a, b, small);
  return flags | roundPack(s, a.e - b.e - (small ? 1 : 0), prec, EXT, rc, cw, true, out);
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
  sqrtSig(a, a.e & 1);
  return flags | roundPack(0, Math.floor(a.e / 2), prec, EXT, rc, cw, true, out);
}

/**
 * Square root of the significand m of a (64 bits, integer bit set), doubled when
 * `odd`, into H:L:X with the integer bit at bit 95 and 66 fraction bits:
 * s = floor(sqrt(N)) for N = m 2^(67 + odd), found from Math.sqrt and one
 * Newton step, then made exact (s^2 <= N < (s+1)^2) with 22-bit limbs; the
 * remainder N - s^2 is jammed into the lowest bit.
 */
function sqrtSig(a: Num, odd: number): void {
  const mh = a.hi >>> 0, ml = a.lo >>> 0;
  // N = (m 2^(1+odd)) 2^66: limbs n5 n4 n3 (the rest zero).
  const sh = 1 + odd;
  let n3 = (ml << sh) & M22;
  let n4 = ((ml >>> (22 - sh)) | (mh << (10 + sh))) & M22;
  let n5 = (mh >>> (12 - sh));
  // Estimate: s0 = sqrt(N) to 53 bits; its 22-bit limbs (s0 is a multiple of 2^13).
  const nd = ((n5 * B22 + n4) * B22 + n3) * 2 ** 66;
  let est = Math.sqrt(nd);
  // One Newton step on the exact residual: s = s0 + (N - s0^2) / (2 s0).
  let s2 = Math.floor(est / 2 ** 44), rest = est - s2 * 2 ** 44;
  let s1 = Math.floor(rest / B22), s0 = rest - s1 * B22;
  residual(n5, n4, n3, s2, s1, s0);
  est = Math.floor((((R5 * B22 + R4) * B22 + R3) * B22 + R2) * 2 ** 44 / (2 * est));
  s0 += est;
  let c = Math.floor(s0 / B22); s0 -= c * B22; s1 += c;
  c = Math.floor(s1 / B22); s1 -= c * B22; s2 += c;
  residual(n5, n4, n3, s2, s1, s0);
  // Now within one or two of the root: adjust until 0 <= N - s^2 <= 2s.
  while (R5 < 0) {
    // s -= 1: r += 2s - 1 (with the old s)
    addTwoS(s2, s1, s0, 1, -1);
    s0 -= 1; if (s0 < 0) { s0 += B22; s1 -= 1; if (s1 < 0) { s1 += B22; s2 -= 1; } }
  }
  for (;;) {
    // While N - (s+1)^2 = r - 2s - 1 >= 0: s += 1.
    const p0 = R0, p1 = R1, p2 = R2, p3 = R3, p4 = R4, p5 = R5;
    addTwoS(s2, s1, s0, -1, -1);
    if (R5 < 0) { R0 = p0; R1 = p1; R2 = p2; R3 = p3; R4 = p4; R5 = p5; break; }
    s0 += 1; if (s0 >= B22) { s0 -= B22; s1 += 1; if (s1 >= B22) { s1 -= B22; s2 += 1; } }
  }
  // s has 66 bits: s2 (22 bits with the integer bit at its top), s1, s0.
  W[0] = ((s2 << 10) | (s1 >>> 12)) >>> 0;
  W[1] = (((s1 & 0xFFF) << 20) | (s0 >>> 2)) >>> 0;
  W[2] = (((s0 & 3) << 30) | ((R5 | R4 | R3 | R2 | R1 | R0) !== 0 ? 1 : 0)) >>> 0;
}

/** The residual N - s^2 in normalized 22-bit limbs R5..R0 (R5 may be negative). */
let R5 = 0, R4 = 0, R3 = 0, R2 = 0, R1 = 0, R0 = 0;
function residual(n5: number, n4: number, n3: number, s2: number, s1: number, s0: number): void {
  settle(-(s0 * s0), -2 * s0 * s1, -(2 * s0 * s2 + s1 * s1), n3 - 2 * s1 * s2, n4 - s2 * s2, n5);
}

/** Carry limbs r0..r4 into the next, so each is in [0, 2^22), into R0..R5. */
function settle(r0: number, r1: number, r2: number, r3: number, r4: number, r5: number): void {
  let c = Math.floor(r0 / B22); r0 -= c * B22; r1 += c;
  c = Math.floor(r1 / B22); r1 -= c * B22; r2 += c;
  c = Math.floor(r2 / B22); r2 -= c * B22; r3 += c;
  c = Math.floor(r3 / B22); r3 -= c * B22; r4 += c;
  c = Math.floor(r4 / B22); r4 -= c * B22; r5 += c;
  R5 = r5; R4 = r4; R3 = r3; R2 = r2; R1 = r1; R0 = r0;
}

/** R += sign * 2s + one, renormalized. */
function addTwoS(s2: number, s1: number, s0: number, sign: number, one: number): void {
  settle(R0 + sign * 2 * s0 + one, R1 + sign * 2 * s1, R2 + sign * 2 * s2, R3, R4, R5);
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

/** Integer magnitude produced by roundToInt: INT[0] high word, INT[1] low
 *  (uint32 values, in a typed array so that they are not boxed). */
export const INT = new Float64Array(2);

/**
 * Round a finite Num to an integer with `rc`, leaving the magnitude in
 * INT. Returns PE and C1 flags, or -1 if the magnitude needs more
 * than 64 bits.
 */
export function roundToInt(a: Num, rc: number): number {
  if (a.cls === ZERO) { INT[0] = 0; INT[1] = 0; return 0; }
  if (a.e >= 64) return -1;
  W[0] = a.hi; W[1] = a.lo; W[2] = 0;
  if (a.e < 63) shrJam(63 - a.e);
  const rbit = W[2] >>> 31, sticky = (W[2] & 0x7FFFFFFF) !== 0;
  let flags = 0, up = false;
  if (rbit || sticky) {
    flags |= PE;
    switch (rc) {
      case RC_NEAREST: up = rbit !== 0 && (sticky || (W[1] & 1) !== 0); break;
      case RC_DOWN: up = a.s === 1; break;
      case RC_UP: up = a.s === 0; break;
      default: up = false;
    }
  }
  if (up) {
    flags |= C1;
    W[1] += 1;
    if (W[1] >= TWO32) { W[1] = 0; W[0] += 1; if (W[0] >= TWO32) return -1; }
  }
  INT[0] = W[0] >>> 0; INT[1] = W[1] >>> 0;
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
  if (INT[0] === 0 && INT[1] === 0) { out.setZero(a.s); return flags | f; }
  unpackInt(a.s === 1, INT[0] | 0, INT[1] | 0, out);
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
  // Scaling by a zero leaves a denormal as it is, without underflow even
  // when that is unmasked (measured; a scale that truncates to 0 does not).
  if (b.cls === ZERO) return flags | roundTo(a, 64, EXT, RC_NEAREST, cw | UE, true, out);
  // trunc(b), clamped: anything beyond +-2^20 over/underflows the same way.
  let n = 0;
  if (b.cls === FINITE && b.e >= 0) {
    n = b.e > 20 ? 1 << 20 : Math.floor((b.hi >>> 0) / 2 ** (31 - b.e));
    if (b.s) n = -n;
  }
  W[0] = a.hi; W[1] = a.lo; W[2] = 0;
  return flags | roundPack(a.s, a.e + n, 64, EXT, rc, cw, true, out);
}

/** The remainder of remSig as two words, held as int32 (a uint32 would be boxed). */
let RH = 0, RL = 0;

/**
 * floor(a * 2^d / b) mod 8 for significands a, b (integer bits set) and
 * 0 <= d < 64; the remainder (< b) in RH:RL. Digits of up to 22 bits, each
 * estimated with a floating division and corrected on 22-bit limbs.
 */
function remSig(a: Num, b: Num, d: number): number {
  const bh = b.hi >>> 0, bl = b.lo >>> 0, ah = a.hi >>> 0, al = a.lo >>> 0;
  const b0 = bl & M22, b1 = ((bl >>> 22) | ((bh & 0xFFF) << 10)) >>> 0, b2 = bh >>> 12;
  let r0 = al & M22, r1 = ((al >>> 22) | ((ah & 0xFFF) << 10)) >>> 0, r2 = ah >>> 12, r3 = 0;
  const bd = (b2 * B22 + b1) * B22 + b0;
  let q = 0;
  if (r2 > b2 || (r2 === b2 && (r1 > b1 || (r1 === b1 && r0 >= b0)))) {
    q = 1;
    r0 -= b0; r1 -= b1; r2 -= b2;
    if (r0 < 0) { r0 += B22; r1 -= 1; }
    if (r1 < 0) { r1 += B22; r2 -= 1; }
  }
  for (let left = d; left > 0;) {
    const c = left > 22 ? 22 : left, f = 2 ** c;
    left -= c;
    // r = r * 2^c - t b, t the next digit (t < 2^c since r < b).
    r0 *= f; r1 *= f; r2 *= f;
    let k = Math.floor(r0 / B22); r0 -= k * B22; r1 += k;
    k = Math.floor(r1 / B22); r1 -= k * B22; r2 += k;
    k = Math.floor(r2 / B22); r2 -= k * B22; r3 = k;
    let t = Math.floor(((r3 * B22 + r2) * B22 + r1) * B22 / bd);
    if (t > f - 1) t = f - 1;
    r0 -= t * b0; r1 -= t * b1; r2 -= t * b2;
    k = Math.floor(r0 / B22); r0 -= k * B22; r1 += k;
    k = Math.floor(r1 / B22); r1 -= k * B22; r2 += k;
    k = Math.floor(r2 / B22); r2 -= k * B22; r3 += k;
    while (r3 < 0) {
      t -= 1;
      r0 += b0; r1 += b1; r2 += b2;
      if (r0 >= B22) { r0 -= B22; r1 += 1; }
      if (r1 >= B22) { r1 -= B22; r2 += 1; }
      if (r2 >= B22) { r2 -= B22; r3 += 1; }
    }
    while (r3 > 0 || r2 > b2 || (r2 === b2 && (r1 > b1 || (r1 === b1 && r0 >= b0)))) {
      t += 1;
      r0 -= b0; r1 -= b1; r2 -= b2;
      if (r0 < 0) { r0 += B22; r1 -= 1; }
      if (r1 < 0) { r1 += B22; r2 -= 1; }
      if (r2 < 0) { r2 += B22; r3 -= 1; }
    }
    q = (q * (f % 8) + t) & 7;
  }
  RH = (r2 << 12) | (r1 >>> 10);
  RL = ((r1 & 0x3FF) << 22) | r0;
  return q & 7;
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
  // A remainder by infinity is the dividend as it is: a denormal one signals
  // no underflow, even unmasked (measured), unlike the other pass-throughs.
  if (b.cls === INF && a.cls === FINITE) return flags | roundTo(a, 64, EXT, RC_NEAREST, cw | UE, true, out);
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
    W[0] = nh; W[1] = nl; W[2] = 0;
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
  // Long division of a's significand * 2^d by b's in digits of up to 22
  // bits (d+1 quotient bits; only the last three are kept); the remainder
  // ends at b's scale.
  const q = remSig(a, b, d);
  let rh = RH >>> 0, rl = RL >>> 0;
  let s = a.s, qq = q;
  if (nearest) {
    // Round the quotient to nearest (ties to even): compare 2r with b.
    const r2h = rh * 2 + (rl >>> 31), r2l = (rl << 1) >>> 0;
    const gt = r2h > b.hi || (r2h === b.hi && r2l > b.lo);
    const eq = r2h === b.hi && r2l === b.lo;
    if (gt || (eq && (qq & 1))) {
      let nl = b.lo - rl, nh = b.hi - rh;
      if (nl < 0) { nl += TWO32; nh -= 1; }
      rh = nh; rl = nl; s ^= 1; qq = (qq + 1) % 8;
    }
  }
  remQuot = qq;
  if (rh === 0 && rl === 0) { out.setZero(a.s); return flags; }
  W[0] = rh; W[1] = rl; W[2] = 0;
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
