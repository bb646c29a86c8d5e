/**
 * Underflow is detected after rounding, at every precision control: a
 * result that rounds up to the smallest normal is not tiny and raises no UE
 * (the value itself was always right). And a denormal that fprem (by an
 * infinity) or fscale (by a zero) returns as it is raises none either. Seeded products and stores just
 * below the smallest normal of each format, every rounding mode and
 * precision, underflow masked and unmasked, against the host's x87.
 */
import * as assert from 'assert';
import { buildOracle, runOracle, runOurs, Case } from './fpu-oracle/harness';
import { Rng, putExt } from './fpu-oracle/cases';

const hex = (b: Uint8Array, from = 0, to = b.length): string => Buffer.from(b.subarray(from, to)).toString('hex');

function image(r: Rng, regs: [number, number, number][]): Uint8Array {
  const img = new Uint8Array(108);
  const dv = new DataView(img.buffer);
  const cw = (r.chance(0.5) ? 0x3F : 0x2F) | 0x40 | (r.pick([0, 2, 3]) << 8) | (r.int(4) << 10);
  dv.setUint32(0, 0xFFFF0000 | cw, true);
  dv.setUint32(4, 0xFFFF0000, true);
  let tw = 0xFFFF;
  regs.forEach((v, k) => { putExt(img, 28 + 10 * k, v); tw &= ~(3 << (2 * k)); });
  dv.setUint32(8, 0xFFFF0000 | tw, true);
  return img;
}

/** A significand just below 2 (all ones in its top bits, random below). */
function nearTwo(r: Rng): [number, number] {
  const k = r.int(64);   // ones in the top k+1 bits, then random
  let hi = 0xFFFFFFFF, lo = 0xFFFFFFFF;
  if (k < 32) { hi = (hi << (31 - k)) >>> 0 | (r.u32() >>> (k + 1)); lo = r.u32(); } else lo = ((lo << (63 - k)) >>> 0 | (r.u32() >>> (k - 31))) >>> 0;
  return [lo >>> 0, hi >>> 0];
}

describe('x87 underflow at the smallest normal', function () {
  this.timeout(120000);
  const oracle = buildOracle();

  function check(cases: Case[]): void {
    const host = runOracle(oracle as string, cases);
    const bad: string[] = [];
    cases.forEach((c, i) => {
      const o = runOurs(c), h = host[i];
      // Control, status, tags and the registers (not the instruction and operand pointers).
      if (h.kind !== o.kind || hex(h.state, 0, 12) !== hex(o.state, 0, 12) || hex(h.state, 28, 48) !== hex(o.state, 28, 48) || hex(h.mem) !== hex(o.mem)) {
        bad.push(`insn ${hex(new Uint8Array(c.insn))} in ${hex(c.state, 0, 2)} ${hex(c.state, 28, 48)}: host ${h.kind} ${hex(h.state, 4, 6)} ${hex(h.state, 28, 38)} ${hex(h.mem)}, ours ${o.kind} ${hex(o.state, 4, 6)} ${hex(o.state, 28, 38)} ${hex(o.mem)}`);
      }
    });
    assert.deepStrictEqual(bad.slice(0, 5), [], `${bad.length} of ${cases.length} differ`);
  }

  it('fmul results just below 2^-16382', function () {
    if (oracle instanceof Error) this.skip();
    const r = new Rng(0x0E);
    const cases: Case[] = [];
    for (let i = 0; i < 2000; i++) {
      const [lo, hi] = nearTwo(r);
      const s = r.int(2) << 15;
      // (just below 2) * 2^-1 times (smallest normal, a few low bits set)
      const a: [number, number, number] = [lo, hi, s | 0x3FFE];
      const b: [number, number, number] = [r.chance(0.5) ? 0 : r.int(4), 0x80000000, 0x0001];
      cases.push({ state: image(r, [a, b]), mem: new Uint8Array(0), insn: [0xD8, 0xC9], eflags: 2 });
    }
    check(cases);
  });

  it('fst m32 and m64 of values just below the single and double smallest normals', function () {
    if (oracle instanceof Error) this.skip();
    const r = new Rng(0x0F);
    const cases: Case[] = [];
    for (let i = 0; i < 2000; i++) {
      const [lo, hi] = nearTwo(r);
      const dbl = r.chance(0.5);
      const v: [number, number, number] = [lo, hi, (r.int(2) << 15) | (dbl ? 16383 - 1023 : 16383 - 127)];
      cases.push({ state: image(r, [v]), mem: new Uint8Array(dbl ? 8 : 4), insn: [dbl ? 0xDD : 0xD9, 0x15], eflags: 2 });
    }
    check(cases);
  });

  it('fprem by infinity and fscale by zero leave a denormal as it is, underflow unmasked or not', function () {
    if (oracle instanceof Error) this.skip();
    const r = new Rng(0x10);
    const cases: Case[] = [];
    for (let i = 0; i < 600; i++) {
      const op = r.pick([0xF8, 0xF5, 0xFD]);
      const den: [number, number, number] = [r.u32(), (r.u32() >>> (r.int(2) ? 0 : 1 + r.int(31))) >>> 0, r.int(2) << 15];
      const other: [number, number, number] = op === 0xFD ? [0, 0, r.int(2) << 15] : [0, 0x80000000, (r.int(2) << 15) | 0x7FFF];
      cases.push({ state: image(r, [den, other]), mem: new Uint8Array(0), insn: [0xD9, op], eflags: 2 });
    }
    check(cases);
  });
});
