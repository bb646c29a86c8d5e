/**
 * The argument reduction of fsin & co. by the 66-bit pi/2 without BigInts
 * (22-bit limbs, |x| < 2^29) gives exactly what the BigInt division gives:
 * random arguments, and arguments within a few units of the last place of
 * odd multiples of pi/4, where the quotient's rounding is decided.
 */
import * as assert from 'assert';
import { Num, unpackExt } from '../../src/guest/cpu/fpu/softfloat';
import { reduceForTest } from '../../src/guest/cpu/fpu/transcendental';
import { Rng } from './fpu-oracle/cases';

const PI66_2 = 0xC90FDAA22168C234Cn;   // pi/2 * 2^67, as the x87 holds it

describe('x87 trigonometric argument reduction', () => {
  it('by limbs equals the BigInt reduction', () => {
    const r = new Rng(0x66);
    const a = new Num();
    const bad: string[] = [];
    for (let i = 0; i < 20000; i++) {
      const e = r.int(29);
      let hi: number, lo: number;
      if (r.chance(0.5)) { hi = (r.u32() | 0x80000000) >>> 0; lo = r.u32(); }
      else {
        // Near (2j+1) p/2 (half-way between multiples): |a| 2^67 = (2j+1) p / 2 + d.
        const j = BigInt(r.int(2 ** Math.min(e + 1, 20)));
        let v = ((2n * j + 1n) * PI66_2) / 2n + BigInt(r.int(9) - 4) * (1n << BigInt(e + 4));
        v >>= BigInt(e + 4);   // the significand at exponent e (truncated)
        if (v < (1n << 63n) || v >= (1n << 64n)) continue;
        hi = Number(v >> 32n); lo = Number(v & 0xFFFFFFFFn);
      }
      unpackExt((r.int(2) << 15) | (16383 + e), hi, lo, a);
      const x = reduceForTest(a, false), y = reduceForTest(a, true);
      if (x[0] !== y[0] || x[1] !== y[1] || x[2] !== y[2]) bad.push(`e ${e} sig ${hi.toString(16)}:${lo.toString(16)}: limbs ${x}, BigInt ${y}`);
    }
    assert.deepStrictEqual(bad.slice(0, 3), []);
  });
});
