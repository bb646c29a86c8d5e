/**
 * Runs x87 test cases both on the host CPU (through x87-oracle.c, built with
 * gcc -m32) and on our Fpu, and compares the outcomes.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Fpu, FpuHost } from '../../../src/guest/cpu/fpu/fpu';

export interface Case {
  state: Uint8Array;     // 108-byte fnsave image loaded first
  mem: Uint8Array;       // memory operand bytes
  insn: number[];        // [0x66]? op modrm (modrm mod=00 rm=101 for memory forms), or 0F AE modrm
  eflags: number;
}

export interface Outcome {
  kind: 'ok' | 'UD' | 'FPE' | 'SEGV';
  state: Uint8Array;     // fnsave image after the instruction
  mem: Uint8Array;
  ax: number;
  eflags: number;
}

const SOURCE = path.resolve(__dirname, '../../../../test/unit/fpu-oracle/x87-oracle.c');

/**
 * Build a 32-bit C helper once per source version (gcc -m32); returns its
 * path, or an error text naming `what`.
 */
export function buildHelper(source: string, name: string, what: string): string | Error {
  const src = fs.readFileSync(source);
  const tag = createHash('sha256').update(src).digest('hex').slice(0, 12);
  const bin = path.join(os.tmpdir(), `lguest-${name}-${tag}`);
  if (fs.existsSync(bin)) return bin;
  try {
    const tmp = `${bin}.${process.pid}`;
    execFileSync('gcc', ['-m32', '-O1', '-o', tmp, source], { stdio: 'pipe' });
    fs.renameSync(tmp, bin);
    return bin;
  } catch (e) {
    return new Error(`cannot build ${what} with gcc -m32 (apt-get install gcc-multilib): ${(e as Error).message}`);
  }
}

/** Build the oracle once per source version; returns its path, or an error text. */
export function buildOracle(): string | Error {
  return buildHelper(SOURCE, 'x87-oracle', 'the x87 oracle');
}

/** Position of a finite 80-bit register image on the line of values (sign-magnitude; null for NaN, infinity). */
export function ordinal(b: Uint8Array, off: number): bigint | null {
  const dv = new DataView(b.buffer, b.byteOffset);
  const lo = dv.getUint32(off, true), hi = dv.getUint32(off + 4, true), se = dv.getUint16(off + 8, true);
  const exp = se & 0x7FFF;
  if (exp === 0x7FFF) return null;
  const m = (BigInt(hi) << 32n) | BigInt(lo);
  const k = exp === 0 ? m : (BigInt(exp - 1) << 63n) + m;
  return se & 0x8000 ? -k : k;
}

const hex = (b: Uint8Array): string => (b.length ? Buffer.from(b).toString('hex') : '-');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export function runOracle(bin: string, cases: Case[]): Outcome[] {
  const input = cases.map((c) =>
    `${hex(c.state)} ${c.mem.length.toString(16)} ${hex(c.mem)} ${hex(new Uint8Array(c.insn))} ${c.eflags.toString(16)}\n`).join('');
  const out = execFileSync(bin, { input, maxBuffer: 1 << 30 }).toString().trim().split('\n');
  if (out.length !== cases.length) throw new Error(`oracle answered ${out.length} of ${cases.length} cases`);
  return out.map((line) => {
    const f = line.split(' ');
    if (f.length === 1) return { kind: f[0] as Outcome['kind'], state: new Uint8Array(0), mem: new Uint8Array(0), ax: 0, eflags: 0 };
    return { kind: 'ok', state: unhex(f[0]), mem: f[1] === '' ? new Uint8Array(0) : unhex(f[1]), ax: parseInt(f[2], 16), eflags: parseInt(f[3], 16) };
  });
}

/** A flat guest memory for the FPU, with the host hooks a CPU would give. */
export class FakeHost implements FpuHost {
  readonly mem = new Uint8Array(0x10000);
  eflags = 2;
  ax = 0;
  mfRaised = 0;
  writes = 0;
  read8(a: number): number { return this.mem[a]; }
  read16(a: number): number { return this.mem[a] | (this.mem[a + 1] << 8); }
  read32(a: number): number { return (this.read16(a) | (this.read16(a + 2) << 16)) >>> 0; }
  write8(a: number, v: number): void { this.mem[a] = v; this.writes++; }
  write16(a: number, v: number): void { this.mem[a] = v; this.mem[a + 1] = v >> 8; this.writes++; }
  write32(a: number, v: number): void { this.write16(a, v); this.write16(a + 2, v >>> 16); }
  checkWrite(a: number, len: number): void {
    if (a < 0 || a + len > this.mem.length) throw new Error('page fault');
  }
  getEflags(): number { return this.eflags; }
  setArithFlags(zf: boolean, pf: boolean, cf: boolean): void {
    this.eflags = (this.eflags & ~0x8D5) | (zf ? 0x40 : 0) | (pf ? 0x04 : 0) | (cf ? 0x01 : 0);
  }
  setAx(v: number): void { this.ax = ((this.ax & 0xFFFF0000) | (v & 0xFFFF)) >>> 0; }
  raiseMF(): void { this.mfRaised++; throw new MathFault(); }
}

export class MathFault extends Error {}

const MEM = 0x1000, STATE_IN = 0x4000, STATE_OUT = 0x5000;

/** Run one case on a fresh Fpu, the way the oracle runs it on the host. */
export function runOurs(c: Case): Outcome {
  const host = new FakeHost();
  const fpu = new Fpu(host);
  host.mem.set(c.state, STATE_IN);
  fpu.execute(0xDD, 0x25, STATE_IN, false);   // frstor
  host.mem.set(c.mem, MEM);
  host.eflags = c.eflags; host.ax = 0x12345678;
  let i = 0;
  const o16 = c.insn[0] === 0x66;
  if (o16) i++;
  try {
    if (c.insn[i] === 0x0F) {
      if (((c.insn[i + 2] >> 3) & 7) === 0) fpu.fxsave(MEM); else fpu.fxrstor(MEM);
    } else {
      fpu.execute(c.insn[i], c.insn[i + 1], MEM, o16);
    }
  } catch (e) {
    if (e instanceof MathFault) return { kind: 'FPE', state: new Uint8Array(0), mem: new Uint8Array(0), ax: 0, eflags: 0 };
    throw e;
  }
  fpu.execute(0xDD, 0x35, STATE_OUT, false);  // fnsave
  return {
    kind: 'ok',
    state: host.mem.slice(STATE_OUT, STATE_OUT + 108),
    mem: host.mem.slice(MEM, MEM + c.mem.length),
    ax: host.ax, eflags: host.eflags,
  };
}
