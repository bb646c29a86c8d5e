/**
 * The FPU against the real x87 of this machine: every entry of the x87
 * opcode table runs on random states and operands both natively (the
 * x87-oracle helper, gcc -m32) and in our Fpu, and the outcomes must agree
 * bit for bit: control, status (minus the condition codes the table calls
 * undefined), tags, all eight registers, the memory written, AX and EFLAGS.
 * The approximate (transcendental) instructions must agree within one unit
 * in the last place of the 64-bit significand, with C1 not compared.
 */
import * as assert from 'assert';
import { X87_OPCODES, X87OpcodeInfo, x87Lookup, FPU_C1 } from '../../src/guest/cpu/fpu/fpu-opcodes';
import { buildOracle, ordinal, runOracle, runOurs, Case, Outcome } from './fpu-oracle/harness';
import { Rng, makeCase, randomState } from './fpu-oracle/cases';

const CASES_PER_ENTRY = Number(process.env.FPU_ORACLE_CASES ?? 300);
/** Equal, or finite and at most one unit in the last place apart. */
function regsClose(a: Uint8Array, b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (a[off + i] !== b[off + i]) {
    const x = ordinal(a, off), y = ordinal(b, off);
    if (x === null || y === null) return false;
    return x - y <= 1n && y - x <= 1n;
  }
  return true;
}

const hex = (b: Uint8Array, from = 0, to = b.length): string => Buffer.from(b.subarray(from, to)).toString('hex');

/** Describe the first difference between the host's and our outcome, or return ''. */
function difference(info: X87OpcodeInfo, c: Case, host: Outcome, ours: Outcome): string {
  if (host.kind !== ours.kind) return `outcome: host ${host.kind}, ours ${ours.kind}`;
  if (host.kind !== 'ok') return '';
  const h = host.state, o = ours.state;
  const w = (b: Uint8Array, i: number): number => b[i] | (b[i + 1] << 8);
  if (w(h, 0) !== w(o, 0)) return `control word: host ${w(h, 0).toString(16)}, ours ${w(o, 0).toString(16)}`;
  let swMask = 0xFFFF & ~info.ccUndefined;
  if (info.approximate) swMask &= ~FPU_C1;
  if ((w(h, 4) ^ w(o, 4)) & swMask) return `status word: host ${w(h, 4).toString(16)}, ours ${w(o, 4).toString(16)}`;
  if (w(h, 8) !== w(o, 8)) return `tag word: host ${w(h, 8).toString(16)}, ours ${w(o, 8).toString(16)}`;
  for (let i = 0; i < 8; i++) {
    const off = 28 + 10 * i;
    const same = info.approximate ? regsClose(h, o, off) : hex(h, off, off + 10) === hex(o, off, off + 10);
    if (!same) return `ST(${i}): host ${hex(h, off, off + 10)}, ours ${hex(o, off, off + 10)}`;
  }
  const skip = memorySkip(info, c);
  for (let i = 0; i < host.mem.length; i++) {
    if (skip(i)) continue;
    if (host.mem[i] !== ours.mem[i]) return `memory: host ${hex(host.mem)}, ours ${hex(ours.mem)} (byte ${i})`;
  }
  if (host.ax !== ours.ax) return `AX: host ${host.ax.toString(16)}, ours ${ours.ax.toString(16)}`;
  if ((host.eflags ^ ours.eflags) & 0x8D5) return `EFLAGS: host ${host.eflags.toString(16)}, ours ${ours.eflags.toString(16)}`;
  return '';
}

/** Bytes of a stored image that hold instruction/data pointers (addresses differ by design). */
function memorySkip(info: X87OpcodeInfo, c: Case): (i: number) => boolean {
  if (info.mnemonic === 'fxsave') return (i) => (i >= 6 && i < 24) || (i >= 28 && i < 32) || i >= 160;
  if (!info.storesPointers) return () => false;
  if (c.insn[0] === 0x66) return (i) => i >= 6 && i < 14;
  return (i) => i >= 12 && i < 28;
}

const FXSAVE: X87OpcodeInfo = { opcode: 0x0F, ext: 0, form: 'mem', mnemonic: 'fxsave', operands: 'm512byte',
  flagsDefined: 0, flagsUndefined: 0, ccDefined: 0, ccUndefined: 0, waiting: false, memBytes: 512 };
const FXRSTOR: X87OpcodeInfo = { ...FXSAVE, ext: 1, mnemonic: 'fxrstor' };

function describe0(c: Case): string {
  return `insn ${Buffer.from(c.insn).toString('hex')} state ${hex(c.state)} mem ${hex(c.mem)} eflags ${c.eflags.toString(16)}`;
}

describe('x87 FPU against the host CPU', function () {
  // Building the oracle and running some 43,000 cases on both sides.
  this.timeout(300000);
  const oracle = buildOracle();
  const entries: X87OpcodeInfo[] = [...X87_OPCODES, FXSAVE, FXRSTOR];
  const cases = new Map<X87OpcodeInfo, Case[]>();
  const results = new Map<X87OpcodeInfo, Outcome[]>();
  let passed = 0, total = 0;

  before(function () {
    if (oracle instanceof Error) { console.log(`      skipped: ${oracle.message}`); this.skip(); }
    const rng = new Rng(Number(process.env.FPU_ORACLE_SEED ?? 0x5EED1234));
    const all: Case[] = [];
    for (const e of entries) {
      const list: Case[] = [];
      for (let k = 0; k < CASES_PER_ENTRY; k++) {
        const c = makeCase(rng, e);
        if (e === FXSAVE || e === FXRSTOR) {
          c.insn = [0x0F, 0xAE, e === FXSAVE ? 0x05 : 0x0D];
          c.mem = new Uint8Array(512);
          if (e === FXRSTOR) fxrstorImage(rng, c.mem);
        }
        list.push(c);
      }
      cases.set(e, list);
      all.push(...list);
    }
    const out = runOracle(oracle as string, all);
    let k = 0;
    for (const e of entries) results.set(e, out.slice(k, k += CASES_PER_ENTRY));
  });

  after(function () {
    if (total) console.log(`      x87 oracle: ${passed} of ${total} cases agree with the host`);
  });

  for (const e of entries) {
    const name = `${e.mnemonic} ${e.operands}`.trim() + ` (${e.opcode.toString(16)} ${e.form === 'mem' ? '/' + e.ext : e.modrmLo!.toString(16) + '-' + e.modrmHi!.toString(16)})`;
    it(name, function () {
      const list = cases.get(e)!, host = results.get(e)!;
      const failures: string[] = [];
      list.forEach((c, i) => {
        total++;
        const d = difference(e, c, host[i], runOurs(c));
        if (d) failures.push(`${d}\n        ${describe0(c)}`);
        else passed++;
      });
      assert.strictEqual(failures.length, 0, `${failures.length} of ${list.length} cases differ; first:\n        ${failures.slice(0, 3).join('\n        ')}`);
    });
  }

  it('the table lists exactly the encodings the host executes (fisttp, SSE3, aside)', function () {
    const probes: Case[] = [];
    const keys: [number, number][] = [];
    const rng = new Rng(7);
    for (let op = 0xD8; op <= 0xDF; op++) {
      for (let modrm = 0; modrm < 256; modrm++) {
        if (modrm < 0xC0 && (modrm & 0xC7) !== 0x05) continue;   // one memory form per /reg
        const st = randomState(rng, undefined, 'finite');
        st[0] = 0x7F; st[1] = 0x03;   // everything masked: nothing traps
        probes.push({ state: st, mem: new Uint8Array(0), insn: [op, modrm], eflags: 2 });
        keys.push([op, modrm]);
      }
    }
    const out = runOracle(oracle as string, probes);
    const wrong: string[] = [];
    keys.forEach(([op, modrm], i) => {
      const fisttp = modrm < 0xC0 && ((modrm >> 3) & 7) === 1 && (op === 0xDB || op === 0xDD || op === 0xDF);
      const hostValid = out[i].kind !== 'UD';
      const ours = x87Lookup(op, modrm) !== undefined;
      if (fisttp) { if (ours) wrong.push(`${op.toString(16)} ${modrm.toString(16)}: fisttp must stay out`); return; }
      if (hostValid !== ours) wrong.push(`${op.toString(16)} ${modrm.toString(16)}: host ${hostValid ? 'executes' : '#UD'}, table ${ours ? 'lists' : 'lacks'} it`);
    });
    assert.deepStrictEqual(wrong, []);
  });
});

/** An fxrstor image: a random x87 state in the FXSAVE layout (abridged tags), MXCSR at its default. */
function fxrstorImage(rng: Rng, m: Uint8Array): void {
  const st = randomState(rng, undefined, 'any', true);
  const dv = new DataView(m.buffer);
  m[0] = st[0]; m[1] = st[1]; m[2] = st[4]; m[3] = st[5];
  const tw = st[8] | (st[9] << 8);
  let abridged = 0;
  for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) !== 3) abridged |= 1 << p;
  m[4] = abridged;
  dv.setUint32(24, 0x1F80, true);
  for (let i = 0; i < 8; i++) m.set(st.subarray(28 + 10 * i, 38 + 10 * i), 32 + 16 * i);
}
