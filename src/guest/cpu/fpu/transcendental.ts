/**
 * The x87 transcendental instructions, computed through JavaScript's Math on
 * doubles and widened back to 80 bits.
 *
 * Precision: each 64-bit argument is split exactly into a double and a
 * small remainder, the function is evaluated on the double with Math and
 * corrected to first order for the remainder, and the two parts are summed
 * in 80-bit arithmetic. The result is then as good as Math's double result:
 * within 2^-51 relative of the hardware's (2^-51.5 measured against this
 * machine's x87), where the hardware itself is good to about 2^-63. Where a
 * double would lose the value itself (tiny arguments, exponents beyond the
 * double range, logarithms near 1) the value is first reduced exactly in
 * 80-bit arithmetic. fsin/fcos/fptan reduce an argument of 1 or more
 * exactly by the hardware's 66-bit pi/2, so that large arguments (up to
 * 2^63) give the hardware's result and not the true sine, which differs
 * from it by the error of that pi. C1 ("rounded up") is not reproduced for
 * these instructions; the flags and special cases are. Every result of
 * these functions but an exact one is inexact, so a tiny one underflows.
 */
import {
  Num, ZERO, FINITE, INF, QNAN, SNAN, BAD, IE, DE, ZE, UE, PE, EXT, WIDE, RC_NEAREST,
  propagateNaN, unpackExt, toFloat64, fromFloat64, roundTo, mul, add, div,
} from './softfloat';

const t1 = new Num(), t2 = new Num(), t3 = new Num(), one = new Num();
fromFloat64(1, one);
/** ln 2 and log2 e to 64 bits (as fldln2 and fldl2e load them), for the linear tiny-argument cases. */
const ln2 = new Num(), log2e = new Num();
unpackExt(0x3FFE, 0xB17217F7, 0xD1CF79AC, ln2);
unpackExt(0x3FFF, 0xB8AA3B29, 0x5C17F0BC, log2e);

/** The rounding control of a control word. */
function rcOf(cw: number): number { return (cw >> 10) & 3; }

/** Split a finite Num: returns its nearest double; `low` gets the (exact) rest. */
let low = 0;
function split(a: Num): number {
  const hi = toFloat64(a);
  fromFloat64(hi, t3);
  add(a, t3, true, 64, RC_NEAREST, 0x3F, t3, WIDE);
  low = toFloat64(t3);
  return hi;
}

/** v + c (a double result and its first-order correction) as an 80-bit result. */
function fromDouble(v: number, c: number, cw: number, out: Num): number {
  fromFloat64(v, t1);
  fromFloat64(Number.isFinite(c) ? c : 0, t2);
  const f = add(t1, t2, false, 64, rcOf(cw), cw, out);
  return (f & ~0x200) | (v === 0 && c === 0 ? 0 : PE);
}

/** A tiny argument returned as the (inexact) result: underflow if denormal. */
function tiny(a: Num, cw: number, out: Num): number {
  const f = roundTo(a, 64, EXT, rcOf(cw), cw, true, out) & ~0x200;
  return f | PE | (a.e < EXT.emin ? UE : 0);
}

/** Out of the domain, this machine's x87 returns the argument (the SDM calls it undefined). */
function unchanged(a: Num, cw: number, out: Num): number {
  return (roundTo(a, 64, EXT, rcOf(cw), cw, true, out) & ~0x200) | PE;
}

/** Screen a single operand: returns -1 to proceed, else flags of a finished result. */
function screen1(a: Num, out: Num): number {
  if (a.cls === BAD) { out.setIndefinite(); return IE; }
  if (a.cls === QNAN || a.cls === SNAN) return propagateNaN(a, a, out);
  return -1;
}

/** pi/2 as the x87 holds it for argument reduction: 66 bits, PI66_2 * 2^-67. */
const PI66_2 = 0xC90FDAA22168C234Cn;
const TWO_M67 = 2 ** -67;

/**
 * Reduce a finite |a| >= 1 below 2^63: a = k * pi/2 + r exactly, with the
 * 66-bit pi/2 and |r| <= pi/4. Returns r's nearest double; `low` gets the
 * rest of r and `quadrant` k mod 4.
 */
let quadrant = 0;
function reduce(a: Num): number {
  const scaled = ((BigInt(a.hi) << 32n) | BigInt(a.lo)) << BigInt(a.e + 4);   // |a| * 2^67
  let k = scaled / PI66_2;
  let n = scaled - k * PI66_2;
  if (2n * n > PI66_2) { k += 1n; n -= PI66_2; }
  const hi = Number(n);
  const lo = Number(n - BigInt(hi));
  const sign = a.s ? -1 : 1;
  quadrant = Number((a.s ? -k : k) & 3n);
  low = sign * lo * TWO_M67;
  return sign * hi * TWO_M67;
}

/** The trigonometric functions: fn 0 sin, 1 cos, 2 tan. Caller checks |x| < 2^63. */
export function trig(fn: number, a: Num, cw: number, out: Num): number {
  const r = screen1(a, out);
  if (r >= 0) return r;
  if (a.cls === INF) { out.setIndefinite(); return IE; }
  const flags = a.den ? DE : 0;
  if (a.cls === ZERO) { if (fn === 1) out.copy(one); else out.copy(a); return flags; }
  if (a.e < -32) {
    // sin x = tan x = x and cos x = 1 to within the 64-bit significand.
    if (fn === 1) { out.copy(one); return flags | PE; }
    return flags | tiny(a, cw, out);
  }
  quadrant = 0;
  const x = a.e >= 0 ? reduce(a) : split(a);
  if (fn === 2) {
    // tan, or -cot in the odd quadrants; both have the derivative 1 + t^2.
    const t = quadrant & 1 ? -Math.cos(x) / Math.sin(x) : Math.tan(x);
    return flags | fromDouble(t, (1 + t * t) * low, cw, out);
  }
  // cos x = sin(x + pi/2): the quadrant picks sin or cos of r and the sign.
  const q = (quadrant + fn) & 3;
  const s = Math.sin(x), c = Math.cos(x), sign = q & 2 ? -1 : 1;
  return flags | (q & 1 ? fromDouble(sign * c, -sign * s * low, cw, out) : fromDouble(sign * s, sign * c * low, cw, out));
}

/** fpatan: atan2(y, x). */
export function atan2(y: Num, x: Num, cw: number, out: Num): number {
  if (y.cls === BAD || x.cls === BAD) { out.setIndefinite(); return IE; }
  if (y.isNaN() || x.isNaN()) return propagateNaN(x, y, out);
  const flags = (y.den || x.den) ? DE : 0;
  if (y.cls === FINITE && x.cls === FINITE) {
    if (y.e - x.e < -80 && x.s === 0) {
      // atan(y/x) = y/x at this precision.
      return flags | inexact(div(y, x, 64, rcOf(cw), cw, out), cw, out);
    }
    // Only the ratio matters: scale both into the double range.
    const k = Math.max(y.e, x.e);
    t1.copy(y); t1.e -= k;
    const yh = split(t1), yl = low;
    t1.copy(x); t1.e -= k;
    const xh = split(t1), xl = low;
    return flags | fromDouble(Math.atan2(yh, xh), (xh * yl - yh * xl) / (xh * xh + yh * yh), cw, out);
  }
  // A zero or infinite operand: only the signs and classes matter.
  const yv = y.cls === ZERO ? (y.s ? -0 : 0) : y.cls === INF ? (y.s ? -Infinity : Infinity) : (y.s ? -1 : 1);
  const xv = x.cls === ZERO ? (x.s ? -0 : 0) : x.cls === INF ? (x.s ? -Infinity : Infinity) : (x.s ? -1 : 1);
  const v = Math.atan2(yv, xv);
  if (v === 0) { out.setZero(y.s); return flags; }
  return flags | fromDouble(v, 0, cw, out);
}

/** f2xm1: 2^x - 1, for -1 <= x <= 1. */
export function exp2m1(a: Num, cw: number, out: Num): number {
  const r = screen1(a, out);
  if (r >= 0) return r;
  const flags = a.den ? DE : 0;
  if (a.cls === ZERO) { out.copy(a); return flags; }
  if (a.cls === INF) { if (a.s) { out.copy(one); out.s = 1; } else out.copy(a); return flags; }
  if (a.e > 0 || (a.e === 0 && (a.hi !== 0x80000000 || a.lo !== 0))) return flags | unchanged(a, cw, out);
  if (a.e < -60) {
    // 2^x - 1 = x ln 2 at this precision.
    return flags | inexact(mul(a, ln2, 64, rcOf(cw), cw, out), cw, out);
  }
  const x = split(a);
  return flags | fromDouble(Math.expm1(x * Math.LN2), 2 ** x * Math.LN2 * low, cw, out);
}

/** log2 of a finite positive Num as a double; its correction in `logLow`. */
let logLow = 0;
function log2(a: Num): number {
  if (a.e === 0 || a.e === -1) {
    add(a, one, true, 64, RC_NEAREST, 0x3F, t1, WIDE);   // a - 1, exact here
    return log2p1(t1);
  }
  t1.copy(a); t1.e = 0;
  const m = split(t1);
  logLow = low / (m * Math.LN2);
  return a.e + Math.log2(m);
}

/** log2(1 + a) for a finite Num above -1; its correction in `logLow`. */
function log2p1(a: Num): number {
  const x = split(a);
  logLow = low / ((1 + x) * Math.LN2);
  return Math.log1p(x) / Math.LN2;
}

/** fyl2x (`plus1` false): y * log2(x); fyl2xp1 (true): y * log2(x + 1). */
export function ylog2x(y: Num, x: Num, plus1: boolean, cw: number, out: Num): number {
  if (y.cls === BAD || x.cls === BAD) { out.setIndefinite(); return IE; }
  if (y.isNaN() || x.isNaN()) return propagateNaN(x, y, out);
  const flags = (y.den || x.den) ? DE : 0;
  let l: number;   // log2 of the argument
  if (plus1) {
    if (x.s === 1 && x.cls === INF) { out.setIndefinite(); return IE; }
    if (x.s === 1 && x.cls === FINITE && x.e >= 0) {   // x <= -1: outside the domain
      if (y.cls === INF) { out.setInf(y.s ^ 1); return flags; }
      if (y.cls === ZERO) { out.setZero(y.s ^ 1); return flags; }
      return flags | unchanged(x, cw, out);
    }
    if (x.cls === ZERO) {
      if (y.cls === INF) { out.setIndefinite(); return IE; }
      out.setZero(x.s ^ y.s); return flags;
    }
    logLow = 0;
    l = x.cls === INF ? Infinity : (x.e < -60 ? NaN : log2p1(x));
    if (Number.isNaN(l)) {
      // log2(1 + x) = x / ln 2 at this precision.
      mul(x, log2e, 64, rcOf(cw), cw, t1, WIDE);
      return flags | inexact(mul(y, t1, 64, rcOf(cw), cw, out), cw, out);
    }
  } else {
    if (x.s === 1 && x.cls !== ZERO) { out.setIndefinite(); return IE; }
    if (x.cls === ZERO) {
      if (y.cls === ZERO) { out.setIndefinite(); return IE; }
      out.setInf(y.s ^ 1);
      return y.cls === INF ? flags : ZE;   // division by zero hides a denormal
    }
    logLow = 0;
    l = x.cls === INF ? Infinity : log2(x);
  }
  if (l === 0 && y.cls === INF) { out.setIndefinite(); return IE; }
  if (!Number.isFinite(l)) {
    if (y.cls === ZERO) { out.setIndefinite(); return IE; }
    out.setInf(y.s ^ (l < 0 ? 1 : 0)); return flags;
  }
  // y * (l + logLow), the sum formed exactly enough in 80 bits first.
  fromFloat64(l, t1); fromFloat64(logLow, t2);
  add(t1, t2, false, 64, RC_NEAREST, 0x3F, t3, WIDE);
  const f = mul(y, t3, 64, rcOf(cw), cw, out);
  return flags | (l === 0 ? f & ~0x200 : inexact(f, cw, out));
}

/**
 * Flags of a result the hardware computes inexactly even where the step that
 * formed ours was exact (a denormal y times a logarithm, y/x for atan):
 * inexact when finite, and then, with underflow masked, an underflow when
 * tiny (unmasked, the rounding has already flagged it and wrapped the exponent).
 */
function inexact(f: number, cw: number, out: Num): number {
  if (out.cls !== FINITE) return f & ~(0x200 | DE);
  const tinyResult = (out.hi & 0x80000000) === 0 && (cw & UE) !== 0;
  return (f & ~(0x200 | DE)) | PE | (tinyResult ? UE : 0);
}
