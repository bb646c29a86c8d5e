/**
 * The FPU through its CPU-facing interface, with a fake host over a byte
 * array: power-on state, exact conversions, the #MF protocol, atomicity when
 * a memory access faults, the environment/state image layouts, fxsave, and
 * the consistency of the opcode table with the executor.
 */
import * as assert from 'assert';
import { Fpu } from '../../src/guest/cpu/fpu/fpu';
import { X87_OPCODES, x87Lookup } from '../../src/guest/cpu/fpu/fpu-opcodes';
import { FakeHost, MathFault } from './fpu-oracle/harness';

class PageFault extends Error {}

/** A host whose memory from `faultAt` on is unmapped. */
class FaultyHost extends FakeHost {
  faultAt = 0x10000;
  private check(a: number, len: number): void { if (a + len > this.faultAt) throw new PageFault(); }
  read16(a: number): number { this.check(a, 2); return super.read16(a); }
  read32(a: number): number { this.check(a, 4); return super.read32(a); }
  write16(a: number, v: number): void { this.check(a, 2); super.write16(a, v); }
  write32(a: number, v: number): void { this.check(a, 4); super.write32(a, v); }
  checkWrite(a: number, len: number): void { this.check(a, len); }
}

const M = 0x100;   // a scratch memory operand
// ModRM bytes with a memory operand for each /reg (mod=00, rm=000).
const m = (reg: number): number => reg << 3;

function setup(): { host: FaultyHost; fpu: Fpu; dv: DataView } {
  const host = new FaultyHost();
  return { host, fpu: new Fpu(host), dv: new DataView(host.mem.buffer) };
}

function cw(fpu: Fpu): number { return fpu.saveState()[0] | (fpu.saveState()[1] << 8); }
function sw(fpu: Fpu): number { const s = fpu.saveState(); return s[4] | (s[5] << 8); }
function tw(fpu: Fpu): number { const s = fpu.saveState(); return s[8] | (s[9] << 8); }

function storeDouble(fpu: Fpu, dv: DataView): number {
  fpu.execute(0xDD, m(3), M, false);          // fstp m64
  return dv.getFloat64(M, true);
}

function loadDouble(fpu: Fpu, dv: DataView, v: number): void {
  dv.setFloat64(M, v, true);
  fpu.execute(0xDD, m(0), M, false);          // fld m64
}

function setControl(fpu: Fpu, dv: DataView, v: number): void {
  dv.setUint16(M + 64, v, true);
  fpu.execute(0xD9, m(5), M + 64, false);     // fldcw
}

/** Load a whole state with frstor: control, status and tag words and ST(0).. as 80-bit hex. */
function restore(host: FakeHost, fpu: Fpu, control: number, status: number, tags: number, regs: string[]): void {
  const img = 0x800, dv = new DataView(host.mem.buffer);
  host.mem.fill(0, img, img + 108);
  dv.setUint16(img, control, true); dv.setUint16(img + 4, status, true); dv.setUint16(img + 8, tags, true);
  regs.forEach((r, i) => host.mem.set(Buffer.from(r, 'hex').reverse(), img + 28 + 10 * i));
  fpu.execute(0xDD, m(4), img, false);
}

/** ST(i) as 80-bit hex. */
function reg(fpu: Fpu, i: number): string {
  return Buffer.from(fpu.saveState().subarray(28 + 10 * i, 38 + 10 * i)).reverse().toString('hex');
}

/** The value of an 80-bit hex register (finite only), for approximate comparisons. */
function extValue(h: string): number {
  const se = parseInt(h.slice(0, 4), 16), sig = parseInt(h.slice(4, 12), 16) * 2 ** 32 + parseInt(h.slice(12), 16);
  const v = sig * 2 ** (Math.max(se & 0x7FFF, 1) - 16383 - 63);
  return se & 0x8000 ? -v : v;
}

describe('x87 FPU', () => {
  it('powers on as fninit leaves it: CW 037F, SW 0, all registers empty', () => {
    const { fpu } = setup();
    assert.strictEqual(cw(fpu), 0x037F);
    assert.strictEqual(sw(fpu), 0);
    assert.strictEqual(tw(fpu), 0xFFFF);
    assert.strictEqual(fpu.hasPendingException(), false);
  });

  it('computes with the constants and stores a correctly rounded double', () => {
    const { fpu, dv } = setup();
    fpu.execute(0xD9, 0xEB, 0, false);          // fldpi
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1
    fpu.execute(0xDE, 0xF9, 0, false);          // fdivp: pi / 1 ... into ST(1), pop
    assert.strictEqual(storeDouble(fpu, dv), Math.PI);
    loadDouble(fpu, dv, 2);
    fpu.execute(0xD9, 0xFA, 0, false);          // fsqrt
    assert.strictEqual(storeDouble(fpu, dv), Math.SQRT2);
    assert.strictEqual(tw(fpu), 0xFFFF, 'everything popped again');
  });

  it('holds 64-bit integers exactly, beyond 2^53', () => {
    const { fpu, dv } = setup();
    for (const v of [0x7FFFFFFFFFFFFFFFn, -0x8000000000000000n, 0x20000000000001n, -12345678901234567n]) {
      dv.setBigInt64(M, v, true);
      fpu.execute(0xDF, m(5), M, false);        // fild m64
      dv.setBigInt64(M, 0n, true);
      fpu.execute(0xDF, m(7), M, false);        // fistp m64
      assert.strictEqual(dv.getBigInt64(M, true), v);
    }
  });

  it('rounds fistp by the rounding control, and stores the integer indefinite when out of range', () => {
    const { fpu, dv } = setup();
    const expected: Record<number, number[]> = { 0: [2, -2, 4], 1: [2, -3, 3], 2: [3, -2, 4], 3: [2, -2, 3] };
    for (const rc of [0, 1, 2, 3]) {
      setControl(fpu, dv, 0x037F | (rc << 10));
      const got = [2.5, -2.5, 3.5].map((v) => {
        loadDouble(fpu, dv, v);
        fpu.execute(0xDB, m(3), M, false);      // fistp m32
        return dv.getInt32(M, true);
      });
      assert.deepStrictEqual(got, expected[rc], `RC=${rc}`);
    }
    loadDouble(fpu, dv, 40000);
    fpu.execute(0xDF, m(3), M, false);          // fistp m16
    assert.strictEqual(dv.getUint16(M, true), 0x8000);
    assert.strictEqual(sw(fpu) & 0x3F, 0x21, 'IE (and PE from before)');
  });

  it('rounds arithmetic to the precision control', () => {
    const { fpu, dv } = setup();
    const third = (pc: number): number[] => {
      setControl(fpu, dv, 0x007F | (pc << 8));
      fpu.execute(0xD9, 0xE8, 0, false);        // fld1
      loadDouble(fpu, dv, 3);
      fpu.execute(0xDE, 0xF9, 0, false);        // fdivp: 1/3
      fpu.execute(0xDB, m(7), M, false);        // fstp m80
      return [dv.getUint32(M, true), dv.getUint32(M + 4, true)];
    };
    assert.deepStrictEqual(third(3), [0xAAAAAAAB, 0xAAAAAAAA]);   // 64 bits
    assert.deepStrictEqual(third(2), [0xAAAAA800, 0xAAAAAAAA]);   // 53 bits
    assert.deepStrictEqual(third(0), [0x00000000, 0xAAAAAB00]);   // 24 bits
  });

  it('gives the masked responses: x/0 is infinity, 0/0 the indefinite, stack faults set SF', () => {
    const { fpu, dv } = setup();
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1
    fpu.execute(0xD9, 0xEE, 0, false);          // fldz
    fpu.execute(0xDE, 0xF9, 0, false);          // fdivp: 1/0
    assert.strictEqual(storeDouble(fpu, dv), Infinity);
    assert.strictEqual(sw(fpu) & 0x7F, 0x04, 'ZE');
    fpu.execute(0xDD, m(3), M, false);          // fstp m64 from an empty stack
    assert.strictEqual(dv.getUint32(M + 4, true), 0xFFF80000, 'the indefinite');
    assert.strictEqual(sw(fpu) & 0x7F, 0x45, 'IE SF (ZE kept)');
    assert.strictEqual(sw(fpu) & 0x200, 0, 'C1 = 0: underflow');
    assert.strictEqual(fpu.hasPendingException(), false, 'everything masked');
  });

  it('signals an unmasked exception at the next waiting instruction, not at non-waiting ones', () => {
    const { host, fpu, dv } = setup();
    setControl(fpu, dv, 0x037B);                // ZE unmasked
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1
    fpu.execute(0xD9, 0xEE, 0, false);          // fldz
    fpu.execute(0xDE, 0xF9, 0, false);          // fdivp: 1/0, recorded, no trap yet
    assert.strictEqual(host.mfRaised, 0);
    assert.strictEqual(fpu.hasPendingException(), true);
    assert.strictEqual(sw(fpu) & 0x8084, 0x8084, 'ZE, ES and B');
    assert.strictEqual(tw(fpu), 0x1FFF, 'nothing popped, nothing written: ST(0) zero, ST(1) valid');
    const before = fpu.saveState();
    assert.throws(() => fpu.execute(0xD9, 0xE8, 0, false), MathFault);   // fld1 traps first
    assert.deepStrictEqual(fpu.saveState(), before, 'the trapping instruction did nothing');
    fpu.execute(0xDF, 0xE0, 0, false);          // fnstsw ax: no trap
    assert.strictEqual(host.ax & 0xFFFF, sw(fpu));
    fpu.execute(0xDD, m(7), M, false);          // fnstsw m16: no trap
    fpu.execute(0xD9, m(7), M, false);          // fnstcw: no trap
    fpu.execute(0xDB, 0xE2, 0, false);          // fnclex
    assert.strictEqual(fpu.hasPendingException(), false);
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1 runs now
    assert.strictEqual(host.mfRaised, 1);
  });

  it('changes nothing when a memory operand faults', () => {
    const { host, fpu } = setup();
    fpu.execute(0xD9, 0xEB, 0, false);          // fldpi
    fpu.setLastInstruction(0x10, 0x1234, 0x18);
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1
    const before = fpu.saveState();
    host.faultAt = M + 6;
    const faulting: [number, number, string][] = [
      [0xDD, m(0), 'fld m64'], [0xDC, m(0), 'fadd m64'], [0xDB, m(5), 'fld m80'], [0xDF, m(4), 'fbld'],
      [0xDF, m(7), 'fistp m64'], [0xDD, m(3), 'fstp m64'], [0xDB, m(7), 'fstp m80'], [0xDF, m(6), 'fbstp'],
      [0xDD, m(6), 'fnsave'], [0xD9, m(6), 'fnstenv'], [0xDD, m(4), 'frstor'], [0xD9, m(4), 'fldenv'],
    ];
    host.mem.fill(0x5A, M, M + 6);
    for (const [op, modrm, name] of faulting) {
      assert.throws(() => fpu.execute(op, modrm, M, false), PageFault, name);
      assert.deepStrictEqual(fpu.saveState(), before, `${name} left the state alone`);
      assert.ok(host.mem.subarray(M, M + 6).every((b) => b === 0x5A), `${name} wrote nothing`);
    }
    assert.throws(() => fpu.fxsave(M), PageFault);
    assert.throws(() => fpu.fxrstor(M), PageFault);
    assert.deepStrictEqual(fpu.saveState(), before);
    assert.ok(host.mem.subarray(M, M + 6).every((b) => b === 0x5A), 'fxsave wrote nothing');
  });

  it('stores the 32-bit environment with the last instruction and operand pointers, then masks all', () => {
    const { host, fpu, dv } = setup();
    setControl(fpu, dv, 0x0360);
    fpu.setLastInstruction(0x23, 0x08048123, 0x2B);
    dv.setFloat64(M, 1.5, true);
    fpu.execute(0xDC, m(0) | 0, M, false);     // fadd m64 on an empty stack: IS, pending
    fpu.execute(0xD9, m(6), 0x400, false);      // fnstenv
    assert.strictEqual(dv.getUint32(0x400, true), 0xFFFF0360, 'control word');
    assert.strictEqual(dv.getUint32(0x404, true) >>> 16, 0xFFFF);
    assert.strictEqual(dv.getUint16(0x404, true) & 0x41, 0x41, 'IE SF');
    assert.strictEqual(dv.getUint32(0x408, true), 0xFFFFFFFF, 'all empty');
    assert.strictEqual(dv.getUint32(0x40C, true), 0x08048123, 'FIP');
    assert.strictEqual(dv.getUint16(0x410, true), 0x23, 'FCS');
    assert.strictEqual(dv.getUint16(0x412, true), 0x400, 'FOP = DC /0');
    assert.strictEqual(dv.getUint32(0x414, true), M, 'FDP');
    assert.strictEqual(dv.getUint32(0x418, true), 0xFFFF002B, 'FDS');
    assert.strictEqual(cw(fpu), 0x037F, 'exceptions masked afterwards');
    assert.strictEqual(fpu.hasPendingException(), false, 'and so nothing is pending');
    assert.strictEqual(host.mfRaised, 0);
    // fldenv brings the unmasked, pending state back.
    fpu.execute(0xD9, m(4), 0x400, false);
    assert.strictEqual(cw(fpu), 0x0360);
    assert.strictEqual(fpu.hasPendingException(), true);
  });

  it('uses the 16-bit layouts with an operand-size prefix', () => {
    const { fpu, dv, host } = setup();
    fpu.setLastInstruction(0x10, 0x12345, 0x18);
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1
    host.mem.fill(0xEE, 0x400, 0x500);
    fpu.execute(0xDD, m(6), 0x400, true);       // fnsave, 94 bytes
    assert.strictEqual(dv.getUint16(0x400, true), 0x037F);
    assert.strictEqual(dv.getUint16(0x402, true), 0x3800, 'TOP = 7');
    assert.strictEqual(dv.getUint16(0x404, true), 0x3FFF, 'ST(0) valid');
    assert.strictEqual(dv.getUint16(0x406, true), 0x2345, 'FIP low 16 bits');
    assert.strictEqual(dv.getUint16(0x40E + 8, true), 0x3FFF, 'ST(0) = 1.0 at byte 14');
    assert.strictEqual(host.mem[0x400 + 94], 0xEE, 'nothing past 94 bytes');
    assert.strictEqual(tw(fpu), 0xFFFF, 'fnsave reinitialized');
    fpu.execute(0xDD, m(4), 0x400, true);       // frstor
    assert.strictEqual(storeDouble(fpu, dv), 1);
  });

  it('writes the fxsave image: abridged tags, MXCSR as written, MXCSR_MASK 0, bytes 288+ untouched', () => {
    const { fpu, dv, host } = setup();
    fpu.execute(0xD9, 0xE8, 0, false);          // fld1
    fpu.execute(0xD9, 0xEE, 0, false);          // fldz
    host.mem.fill(0xAA, 0x1000, 0x1200);
    fpu.fxsave(0x1000);
    assert.strictEqual(dv.getUint16(0x1000, true), 0x037F);
    assert.strictEqual(dv.getUint16(0x1002, true), 0x3000);
    assert.strictEqual(host.mem[0x1004], 0xC0, 'registers 6 and 7 in use');
    assert.strictEqual(dv.getUint32(0x1018, true), 0x1F80, 'MXCSR');
    assert.strictEqual(dv.getUint32(0x101C, true), 0, 'MXCSR_MASK: use the default');
    assert.strictEqual(dv.getUint16(0x1020 + 16 + 8, true), 0x3FFF, 'ST(1) = 1.0');
    assert.ok(host.mem.subarray(0x1020 + 10, 0x1020 + 16).every((b) => b === 0), 'slot padding zeroed');
    assert.ok(host.mem.subarray(0x10A0, 0x1120).every((b) => b === 0), 'XMM area zero');
    assert.ok(host.mem.subarray(0x1120, 0x1200).every((b) => b === 0xAA), 'bytes 288-511 untouched');
    dv.setUint32(0x1018, 0x1F00, true);
    fpu.execute(0xDB, 0xE3, 0, false);          // fninit
    fpu.fxrstor(0x1000);
    assert.strictEqual(tw(fpu), 0x1FFF, 'ST(0) zero, ST(1) valid');
    fpu.fxsave(0x1000);
    assert.strictEqual(dv.getUint32(0x1018, true), 0x1F00, 'MXCSR kept as written');
    assert.strictEqual(storeDouble(fpu, dv), 0);
    assert.strictEqual(storeDouble(fpu, dv), 1);
  });

  it('computes the transcendental functions to about 2^-52', () => {
    const { fpu, dv } = setup();
    const cases: [number, number, (x: number) => number][] = [
      [0xFE, 0.5, Math.sin], [0xFF, 0.5, Math.cos], [0xF0, 0.25, (x) => 2 ** x - 1],
    ];
    for (const [op, x, f] of cases) {
      loadDouble(fpu, dv, x);
      fpu.execute(0xD9, op, 0, false);
      assert.ok(Math.abs(storeDouble(fpu, dv) - f(x)) <= 2 ** -52, `D9 ${op.toString(16)}`);
    }
    loadDouble(fpu, dv, 3);                       // y
    loadDouble(fpu, dv, 8);                       // x
    fpu.execute(0xD9, 0xF1, 0, false);            // fyl2x: 3 * log2(8)
    assert.strictEqual(storeDouble(fpu, dv), 9);
    loadDouble(fpu, dv, 1);
    loadDouble(fpu, dv, 1);
    fpu.execute(0xD9, 0xF3, 0, false);            // fpatan: atan2(1, 1)
    assert.strictEqual(storeDouble(fpu, dv), Math.PI / 4);
  });

  it('reduces large trigonometric arguments by the 66-bit pi/2, as this machine\'s x87 does', () => {
    // Inputs and results of the real x87 (conformance cases); C2 clear: in range.
    const cases: [number, string, string[]][] = [
      [0xFE, 'c03dbe9bdeb45285c874', ['bffdd58338f79f03d591']],                          // fsin of about -2^62
      [0xFF, 'c03dbe9bdeb45285c874', ['bffee8ad9752e90050f7']],                          // fcos
      [0xFB, '403d8849a38424cdfc13', ['3ffdbb7b6a2e896e26aa', '3ffeee383d0961529651']],  // fsincos: cos, sin
      [0xF2, '403d8849a38424cdfc13', ['3fff8000000000000000', '4000a2a3e2517dff898a']],  // fptan: 1, tan
    ];
    for (const [op, arg, want] of cases) {
      const { host, fpu } = setup();
      restore(host, fpu, 0x037F, 0, 0xC000, [arg]);
      fpu.execute(0xD9, op, 0, false);
      assert.strictEqual(sw(fpu) & ~0x200, 0x0020 | (want.length === 2 ? 0x3800 : 0), `D9 ${op.toString(16)} status`);
      want.forEach((w, i) => {
        const got = reg(fpu, i);
        assert.ok(Math.abs(extValue(got) - extValue(w)) <= 2 ** -50 * Math.max(1, Math.abs(extValue(w))),
          `D9 ${op.toString(16)} ST(${i}): ${got}, host ${w}`);
      });
    }
  });

  it('signals underflow for a tiny inexact transcendental result even where our step was exact', () => {
    // [opcode, cw, sw, tw, registers, host's result, host's status without C1]
    const cases: [number, number, number, number, string[], string, number][] = [
      // fpatan of a denormal y over 0.5: y/0.5 is exact, atan(y/0.5) is not.
      [0xF3, 0x005E, 0x2E00, 0x003C, ['3ffe8000000000000000', '800022a69ad833c932e5'], '8000454d35b0679265ca', 0xB4B2],
      // fyl2x of a denormal y and x = 2.
      [0xF1, 0x037F, 0, 0xFFF0, ['40008000000000000000', '000022a69ad833c932e5'], '000022a69ad833c932e5', 0x0832],
      // f2xm1 of the smallest normal: x ln 2 is a denormal.
      [0xF0, 0x037F, 0, 0xFFFC, ['00018000000000000000'], '000058b90bfbe8e7bcd6', 0x0030],
      // fsin of a denormal.
      [0xFE, 0x037F, 0, 0xFFFC, ['000022a69ad833c932e5'], '000022a69ad833c932e5', 0x0032],
      // A normal result is not tiny: fpatan of the smallest normal over 1.
      [0xF3, 0x037F, 0, 0xFFF0, ['3fff8000000000000000', '00018000000000000000'], '00018000000000000000', 0x0820],
    ];
    for (const [op, control, status, tags, regs, want, wantSw] of cases) {
      const { host, fpu } = setup();
      restore(host, fpu, control, status, tags, regs);
      fpu.execute(0xD9, op, 0, false);
      assert.strictEqual(reg(fpu, 0), want, `D9 ${op.toString(16)} result`);
      assert.strictEqual((sw(fpu) & ~0x200).toString(16), wantSw.toString(16), `D9 ${op.toString(16)} status`);
    }
  });

  describe('the opcode table', () => {
    it('maps every encoding to at most one entry', () => {
      for (let op = 0xD8; op <= 0xDF; op++) {
        for (let modrm = 0; modrm < 256; modrm++) {
          const hits = X87_OPCODES.filter((e) => e.opcode === op && (e.form === 'mem'
            ? modrm < 0xC0 && ((modrm >> 3) & 7) === e.ext
            : modrm >= e.modrmLo! && modrm <= e.modrmHi!));
          assert.ok(hits.length <= 1, `${op.toString(16)} ${modrm.toString(16)}`);
          assert.strictEqual(x87Lookup(op, modrm), hits[0]);
        }
      }
    });

    it('has an executor for every entry and nothing else', () => {
      for (let op = 0xD8; op <= 0xDF; op++) {
        for (let modrm = 0; modrm < 256; modrm++) {
          const { fpu } = setup();
          fpu.execute(0xD9, 0xE8, 0, false);    // fld1, fld1: operands for everyone
          fpu.execute(0xD9, 0xE8, 0, false);
          const run = (): void => fpu.execute(op, modrm, M, false);
          if (x87Lookup(op, modrm)) assert.doesNotThrow(run, `${op.toString(16)} ${modrm.toString(16)}`);
          else assert.throws(run, /must raise #UD/, `${op.toString(16)} ${modrm.toString(16)}`);
        }
      }
    });

    it('leaves out fisttp (SSE3) and says which instructions are non-waiting', () => {
      for (const op of [0xDB, 0xDD, 0xDF]) assert.strictEqual(x87Lookup(op, m(1)), undefined);
      const nonWaiting = X87_OPCODES.filter((e) => !e.waiting).map((e) => e.mnemonic).sort();
      assert.deepStrictEqual(nonWaiting,
        ['fnclex', 'fndisi', 'fneni', 'fninit', 'fnsave', 'fnsetpm', 'fnstcw', 'fnstenv', 'fnstsw', 'fnstsw']);
    });
  });
});
