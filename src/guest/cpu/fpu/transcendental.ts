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
 * 80-bit arithmetic. fsin/fcos/fptan reduce their argument with the exact
 * pi (Math), while real x87s use a 66-bit pi: for large arguments the two
 * differ by the hardware's error. C1 ("rounded up") is not reproduced for
 * these instructions; the flags and special cases are.
 */
import {
  Num, ZERO, FINITE, INF, QNAN, SNAN, BAD, IE, DE, ZE, UE, PE, EXT, WIDE, RC_NEAREST,
  propagateNaN, toFloat64, fromFloat64, roundTo, mul, add, div,
} from './softfloat';

const t1 = new Num(), t2 = new Num(), t3 = new Num(), one = new Num();
fromFloat64(1, one);

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
  const x = split(a);
  if (fn === 0) return flags | fromDouble(Math.sin(x), Math.cos(x) * low, cw, out);
  if (fn === 1) return flags | fromDouble(Math.cos(x), -Math.sin(x) * low, cw, out);
  const t = Math.tan(x);
  return flags | fromDouble(t, (1 + t * t) * low, cw, out);
}

/** fpatan: atan2(y, x). */
export function atan2(y: Num, x: Num, cw: number, out: Num): number {
  if (y.cls === BAD || x.cls === BAD) { out.setIndefinite(); return IE; }
  if (y.isNaN() || x.isNaN()) return propagateNaN(x, y, out);
  const flags = (y.den || x.den) ? DE : 0;
  if (y.cls === FINITE && x.cls === FINITE) {
    if (y.e - x.e < -80 && x.s === 0) {
      // atan(y/x) = y/x at this precision.
      return flags | PE | (div(y, x, 64, rcOf(cw), cw, out) & ~(0x200 | DE));
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
    fromFloat64(Math.LN2, t2);
    return flags | PE | (mul(a, t2, 64, rcOf(cw), cw, out) & ~0x200);
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
      fromFloat64(1 / Math.LN2, t2);
      mul(x, t2, 64, rcOf(cw), cw, t1, WIDE);
      return flags | inexact(mul(y, t1, 64, rcOf(cw), cw, out), out);
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
  return flags | (l === 0 ? f & ~0x200 : inexact(f, out));
}

/** Flags of a product with an inexact logarithm: inexact when the result is finite. */
function inexact(f: number, out: Num): number {
  return (f & ~(0x200 | DE)) | (out.cls === FINITE ? PE : 0);
}
