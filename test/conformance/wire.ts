/**
 * Test cases and end states, and their binary form on the pipe to the native
 * runner (little-endian u32 words; runner.c reads and writes the same).
 *
 * case:   len id flags codeOffset codeLen code[32] regs[8] eflags
 *         npatch {offset len bytes(padded to 4)}* [fpu image 108]
 * result: len id signal trapno err regs[8] eip eflags cs ss ds es fs gs cr2
 *         ndiff {offset | byte << 16}* [fpu image 108]
 */
import { CASE_FPU, CASE_LDT, FPU_IMAGE, MAX_CODE } from './layout';

export interface Patch {
  /** Offset in the scratch area. */
  offset: number;
  bytes: Uint8Array;
}

export interface Case {
  id: number;
  /** Instruction bytes, placed at CODE_ADDR + codeOffset; int3 everywhere else in the code area. */
  code: Uint8Array;
  codeOffset: number;
  /** EAX ECX EDX EBX ESP EBP ESI EDI. */
  regs: Uint32Array;
  /** Arithmetic flags and DF; the machine adds IF and bit 1. */
  eflags: number;
  /** Chosen bytes over the scratch pattern: operands, return addresses. */
  patches: Patch[];
  /** Data segments are the LDT segment based at the scratch area instead of flat. */
  ldt: boolean;
  /** Initial x87 state (fnsave image); x87 state is compared only when given. */
  fpu?: Uint8Array;
}

/** Where a case ended: the machine state at its last trap. */
export interface EndState {
  /** Exception vector that ended the case: 3 for the int3 after the instruction; -2 = timeout. */
  vector: number;
  err: number;
  regs: Uint32Array;
  eip: number;
  eflags: number;
  /** cs ss ds es fs gs selectors. */
  segs: Uint16Array;
  /** Scratch bytes that differ from their initial value, as offset | byte << 16, ascending. */
  memDiff: Uint32Array;
  fpu?: Uint8Array;
  /** Why the case did not end normally, when it did not (core side only). */
  message?: string;
}

export const SEG_NAMES = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'];

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function encodeCases(cases: readonly Case[]): Buffer {
  let total = 0;
  for (const c of cases) total += caseLength(c);
  const buf = Buffer.alloc(total);
  let o = 0;
  for (const c of cases) {
    if (c.code.length > MAX_CODE) throw new Error(`case ${c.id}: ${c.code.length} code bytes`);
    const len = caseLength(c);
    buf.writeUInt32LE(len, o);
    buf.writeUInt32LE(c.id, o + 4);
    buf.writeUInt32LE((c.fpu ? CASE_FPU : 0) | (c.ldt ? CASE_LDT : 0), o + 8);
    buf.writeUInt32LE(c.codeOffset, o + 12);
    buf.writeUInt32LE(c.code.length, o + 16);
    buf.set(c.code, o + 20);
    let p = o + 20 + MAX_CODE;
    for (let i = 0; i < 8; i++) buf.writeUInt32LE(c.regs[i] >>> 0, p + 4 * i);
    buf.writeUInt32LE(c.eflags >>> 0, p + 32);
    buf.writeUInt32LE(c.patches.length, p + 36);
    p += 40;
    for (const pt of c.patches) {
      buf.writeUInt32LE(pt.offset, p);
      buf.writeUInt32LE(pt.bytes.length, p + 4);
      buf.set(pt.bytes, p + 8);
      p += 8 + pad4(pt.bytes.length);
    }
    if (c.fpu) {
      buf.set(c.fpu, p);
      p += FPU_IMAGE;
    }
    o += len;
  }
  return buf;
}

function caseLength(c: Case): number {
  let n = 20 + MAX_CODE + 40;
  for (const pt of c.patches) n += 8 + pad4(pt.bytes.length);
  return n + (c.fpu ? FPU_IMAGE : 0);
}

/** Decodes the runner's output into end states by case id. */
export function decodeResults(buf: Buffer): Map<number, EndState> {
  const out = new Map<number, EndState>();
  let o = 0;
  while (o < buf.length) {
    const len = buf.readUInt32LE(o);
    const id = buf.readUInt32LE(o + 4);
    const w = (i: number): number => buf.readUInt32LE(o + 8 + 4 * i);
    const regs = new Uint32Array(8);
    for (let i = 0; i < 8; i++) regs[i] = w(3 + i);
    const segs = new Uint16Array(6);
    for (let i = 0; i < 6; i++) segs[i] = w(13 + i);
    const ndiff = w(20);
    const memDiff = new Uint32Array(ndiff);
    for (let i = 0; i < ndiff; i++) memDiff[i] = w(21 + i);
    const fpuAt = o + 8 + 4 * (21 + ndiff);
    out.set(id, {
      vector: w(1) | 0,
      err: w(2),
      regs,
      eip: w(11),
      eflags: w(12),
      segs,
      memDiff,
      fpu: fpuAt < o + len ? new Uint8Array(buf.subarray(fpuAt, fpuAt + FPU_IMAGE)) : undefined,
    });
    o += len;
  }
  return out;
}
