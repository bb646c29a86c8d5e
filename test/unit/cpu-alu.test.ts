import { strict as assert } from 'node:assert';
import {
  alu, cond, dec, divu64, DIV_REM, eflagsOf, FlagState, inc, L, MUL_HI, mulu32, muls32, neg, shift, shiftDouble,
} from '../../src/guest/cpu/alu';
import { AF, ARITH, CF, OF, PF, SF, ZF } from '../../src/guest/cpu/flags';

/**
 * The lazy flag machinery against a straightforward reference: each flag
 * derived from the exact (BigInt) result as the SDM defines it.
 */

function state(flags = 0x2): FlagState {
  return { flags, lop: L.NONE, lres: 0, la: 0, lb: 0, lc: 0 };
}

const BITS = [8, 16, 32];

function parity(v: bigint): boolean {
  let n = 0;
  for (let i = 0n; i < 8n; i++) if ((v >> i) & 1n) n++;
  return n % 2 === 0;
}

/** Reference flags for an add or subtract of `a` and `b` (+ carry-in) at `bits`. */
function refAddSub(a: number, b: number, cin: number, bits: number, sub: boolean): { r: number; f: number } {
  const mod = 1n << BigInt(bits);
  const ua = BigInt(a >>> 0) % mod;
  const ub = BigInt(b >>> 0) % mod;
  const signed = (v: bigint): bigint => (v >= mod / 2n ? v - mod : v);
  const exact = sub ? ua - ub - BigInt(cin) : ua + ub + BigInt(cin);
  const r = ((exact % mod) + mod) % mod;
  const sexact = sub ? signed(ua) - signed(ub) - BigInt(cin) : signed(ua) + signed(ub) + BigInt(cin);
  let f = 0;
  if (exact < 0n || exact >= mod) f |= CF;
  if (parity(r & 0xffn)) f |= PF;
  if (((ua ^ ub ^ r) & 0x10n) !== 0n) f |= AF;
  if (r === 0n) f |= ZF;
  if (r >= mod / 2n) f |= SF;
  if (sexact < -(mod / 2n) || sexact >= mod / 2n) f |= OF;
  return { r: Number(r), f };
}

function mask(v: number, bits: number): number {
  return bits === 32 ? v | 0 : v & ((1 << bits) - 1);
}

const SAMPLES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678, 0xdeadbeef, 0xf, 0x10];

describe('cpu ALU and lazy flags', () => {
  it('add, adc, sub, sbb, cmp, neg match the reference for every size and carry-in', () => {
    for (const bits of BITS) {
      const s = BITS.indexOf(bits);
      for (const x of SAMPLES) {
        for (const y of SAMPLES) {
          const a = mask(x, bits);
          const b = mask(y, bits);
          for (const cin of [0, 1]) {
            for (const [kind, sub, useCarry] of [[0, false, false], [2, false, true], [5, true, false], [3, true, true], [7, true, false]] as const) {
              const c = state(0x2 | cin);
              const r = alu(c, kind, a, b, s);
              const ref = refAddSub(a, b, useCarry ? cin : 0, bits, sub);
              assert.equal(r >>> 0, ref.r >>> 0, `kind ${kind} ${bits}-bit ${a.toString(16)},${b.toString(16)} cin ${cin}`);
              assert.equal(eflagsOf(c) & ARITH, ref.f, `flags kind ${kind} ${bits}-bit ${a.toString(16)},${b.toString(16)} cin ${cin}`);
            }
          }
        }
        const c = state();
        const a = mask(x, bits);
        const r = neg(c, a, s);
        const ref = refAddSub(0, a, 0, bits, true);
        assert.equal(r >>> 0, ref.r >>> 0);
        assert.equal(eflagsOf(c) & ARITH, ref.f, `neg ${bits} ${a}`);
      }
    }
  });

  it('inc and dec leave CF as it was', () => {
    for (const bits of BITS) {
      const s = BITS.indexOf(bits);
      for (const x of SAMPLES) {
        const a = mask(x, bits);
        for (const cf of [0, CF]) {
          let c = state(0x2 | cf);
          let ref = refAddSub(a, 1, 0, bits, false);
          assert.equal(inc(c, a, s) >>> 0, ref.r >>> 0);
          assert.equal(eflagsOf(c) & ARITH, (ref.f & ~CF) | cf, `inc ${bits} ${a}`);
          c = state(0x2 | cf);
          ref = refAddSub(a, 1, 0, bits, true);
          assert.equal(dec(c, a, s) >>> 0, ref.r >>> 0);
          assert.equal(eflagsOf(c) & ARITH, (ref.f & ~CF) | cf, `dec ${bits} ${a}`);
        }
      }
    }
  });

  it('and, or, xor clear CF and OF and set ZF SF PF from the result', () => {
    const c = state(0x2 | CF | OF);
    assert.equal(alu(c, 4, 0xf0, 0x0f, 0), 0);
    assert.equal(eflagsOf(c) & ARITH, ZF | PF);
    assert.equal(alu(c, 1, 0x80000000 | 0, 1, 2), (0x80000001 | 0));
    assert.equal(eflagsOf(c) & ARITH, SF);
  });

  it('evaluates all sixteen condition codes from the flags they are defined on', () => {
    for (const x of SAMPLES) {
      for (const y of SAMPLES) {
        for (const kind of [5, 4, 0]) {
          const c = state();
          alu(c, kind, x | 0, y | 0, 2);
          const f = eflagsOf(c);
          const cf = (f & CF) !== 0, zf = (f & ZF) !== 0, sf = (f & SF) !== 0, of = (f & OF) !== 0, pf = (f & PF) !== 0;
          const expect = [of, cf, zf, cf || zf, sf, pf, sf !== of, zf || sf !== of];
          for (let cc = 0; cc < 16; cc++) {
            const want = (cc & 1) === 0 ? expect[cc >> 1] : !expect[cc >> 1];
            assert.equal(cond(c, cc), want, `cc ${cc} after kind ${kind} ${x.toString(16)},${y.toString(16)}`);
          }
        }
      }
    }
  });

  it('shifts: CF is the last bit out, OF per the SDM for a count of one, zero counts change nothing', () => {
    let c = state(0x2 | CF);
    assert.equal(shift(c, 4, 0x81, 1, 0), 0x02);
    assert.equal(eflagsOf(c) & (CF | OF | ZF | SF), CF | OF);
    c = state();
    assert.equal(shift(c, 5, 0x81, 1, 0), 0x40);
    assert.equal(eflagsOf(c) & (CF | OF), CF | OF, 'shr: OF = old MSB');
    c = state();
    assert.equal(shift(c, 7, 0x80000000 | 0, 4, 2) >>> 0, 0xf8000000);
    assert.equal(eflagsOf(c) & (CF | OF | SF), SF);
    c = state(0x2 | ZF | CF);
    assert.equal(shift(c, 4, 5, 0, 0), 5);
    assert.equal(eflagsOf(c), 0x2 | ZF | CF);
    c = state();
    assert.equal(shift(c, 0, 0x80000001 | 0, 1, 2), 3, 'rol');
    assert.equal(eflagsOf(c) & (CF | OF), CF | OF);
    c = state(0x2 | CF);
    assert.equal(shift(c, 2, 0x80, 1, 0), 0x01, 'rcl through CF');
    assert.equal(eflagsOf(c) & CF, CF);
    c = state(0x2 | CF);
    assert.equal(shift(c, 3, 0x01, 1, 0), 0x80, 'rcr through CF');
    assert.equal(eflagsOf(c) & (CF | OF), CF | OF);
    c = state(0x2 | ZF);
    shift(c, 1, 0x12, 8, 0);
    assert.equal(eflagsOf(c) & ZF, ZF, 'rotates leave ZF alone');
  });

  it('shld/shrd shift the source in', () => {
    const c = state();
    assert.equal(shiftDouble(c, true, 0x12345678, 0x9abcdef0 | 0, 8, 2) >>> 0, 0x3456789a);
    assert.equal(shiftDouble(c, false, 0x12345678, 0x9abcdef0 | 0, 8, 2) >>> 0, 0xf0123456);
    assert.equal(eflagsOf(c) & CF, 0);
    assert.equal(shiftDouble(c, true, 0x1234, 0xabcd, 4, 1), 0x234a);
  });

  it('multiplies 32x32 to 64 bits and divides 64 by 32 exactly', () => {
    for (const x of SAMPLES) {
      for (const y of SAMPLES) {
        const ua = BigInt(x >>> 0), ub = BigInt(y >>> 0);
        const lo = mulu32(x, y);
        const prod = ua * ub;
        assert.equal(BigInt(lo >>> 0), prod & 0xffffffffn);
        assert.equal(BigInt(MUL_HI[0] >>> 0), prod >> 32n);
        const sa = BigInt(x | 0), sb = BigInt(y | 0);
        const slo = muls32(x | 0, y | 0);
        const sprod = BigInt.asUintN(64, sa * sb);
        assert.equal(BigInt(slo >>> 0), sprod & 0xffffffffn, `imul ${x},${y}`);
        assert.equal(BigInt(MUL_HI[0] >>> 0), sprod >> 32n, `imul hi ${x},${y}`);
        if (y !== 0) {
          const hi = x >>> 0 < (y >>> 0) ? x >>> 0 : 0;
          const dividend = (BigInt(hi) << 32n) | 0x89abcdefn;
          const q = divu64(hi, 0x89abcdef | 0, y);
          assert.equal(BigInt(q), dividend / ub);
          assert.equal(BigInt(DIV_REM[0]), dividend % ub);
        }
      }
    }
  });
});
