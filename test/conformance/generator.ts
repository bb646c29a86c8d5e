/**
 * Turns the opcode table into test cases: for every entry, every operand
 * form (register and memory ModRM forms, with and without 66 and 67, the
 * prefix sets the semantics ask for), the semantics' enumerated operands
 * plus seeded random ones. The seed is the entry's name, so a failing case
 * is the same case on every run.
 */
import type { OpcodeInfo } from '../../src/guest/cpu/opcodes';
import { Builder, Form, Operand, parseOperands, sizeOf, hex, ESP } from './builder';
import { CODE_ADDR, CODE_SIZE } from './layout';
import { Rng } from './rng';
import { SEMANTICS, Semantics, farTarget, selector } from './semantics';
import type { Case } from './wire';

/**
 * Agreement required of approximate x87 results: 2^-50 relative, or, for the
 * trigonometric instructions, an absolute error growing with the argument
 * (2^absExp, times the derivative 1 + tan^2 for fptan, any tangent once that
 * reaches half a radian; at most 2 for sin and cos, which must stay within
 * [-1, 1] whatever the reduction error).
 */
export interface Tolerance {
  absExp?: number;
  tan?: boolean;
}

export interface TestCase extends Case {
  /** The table entry (entryKey) or group the case belongs to. */
  key: string;
  /** One line naming the case: mnemonic, form, bytes. */
  text: string;
  /** EFLAGS bits this case leaves undefined (not compared). */
  undef: number;
  /** x87 status-word bits (C0-C3) the instruction leaves undefined. */
  fpuCcUndef?: number;
  /** x87 register results are approximate (transcendentals): how closely they must agree. */
  approx?: Tolerance;
  /** Scratch ranges [offset, length] not compared (stored x87 instruction/data pointers). */
  memIgnore?: [number, number][];
}

/** A stable name for a table entry: opcode bytes, /ext, form, mnemonic, operands. */
export function entryKey(e: OpcodeInfo): string {
  const op = e.opcode >= 0x100 ? `0f ${hex(e.opcode & 0xff)}` : hex(e.opcode);
  const ext = e.ext !== undefined ? `/${e.ext}` : '';
  const form = e.form ? ` (${e.form})` : '';
  return `${op}${ext}${form} ${e.mnemonic} ${e.operands}`.trim();
}

/**
 * System entries the suite cannot compare with a user process on the host,
 * and why. Every other system entry runs at CPL 3, where the host shows what
 * a ring-3 program sees (mostly #GP), which the core must reproduce too.
 */
const SKIPPED_SYSTEM: Record<string, string> = {
  sgdt: 'UMIP: the host kernel emulates it for 32-bit processes with made-up values',
  sidt: 'UMIP: the host kernel emulates it for 32-bit processes with made-up values',
  sldt: 'UMIP: the host kernel emulates it for 32-bit processes with made-up values',
  str: 'UMIP: the host kernel emulates it for 32-bit processes with made-up values',
  smsw: 'UMIP: the host kernel emulates it for 32-bit processes with made-up values',
  cpuid: 'reports the host CPU, not the core',
  rdtsc: 'nondeterministic',
  sysenter: 'a system call on the host',
  fxsave: 'the image holds host-specific SSE state',
  fxrstor: 'the image holds host-specific SSE state',
};

export function skipReason(e: OpcodeInfo): string | null {
  if (e.mnemonic === 'x87') return null;
  if (!e.system) return null;
  return SKIPPED_SYSTEM[e.mnemonic] ?? null;
}

const SEG_OVERRIDES = [0x26, 0x36, 0x3e, 0x64, 0x65];
const SEG_REGS = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
const OPSIZE_MNEMONICS = new Set(['pushad', 'popad', 'pushfd', 'popfd', 'cwde', 'cdq', 'enter', 'leave', 'iretd',
  'movsd', 'cmpsd', 'stosd', 'lodsd', 'scasd', 'insd', 'outsd']);

/** Instructions that run real code with an ignored rep prefix: rep ret, bnd call/jmp/jcc, pause. */
function repIgnored(e: OpcodeInfo): boolean {
  return ['ret', 'call', 'jmp'].includes(e.mnemonic) || /^J[bz]$/.test(e.operands) && e.mnemonic.startsWith('j') ||
    e.opcode === 0x90;
}

interface FormTemplate {
  o16: boolean;
  a16: boolean;
  mem: boolean;
  extra: number[];
}

function templates(e: OpcodeInfo, sem: Semantics): FormTemplate[] {
  const ops = parseOperands(e.operands);
  const modrm = e.ext !== undefined || ops.some((o) => 'EGMRSCD'.includes(o.k));
  const memOnly = e.form === 'mem' || ops.some((o) => o.k === 'M');
  const regOnly = e.form === 'reg' || ops.some((o) => o.k === 'R');
  const mems = !modrm ? [false] : memOnly ? [true] : regOnly ? [false] : [false, true];
  const sized = !sem.no16 && e.mnemonic !== 'bswap' &&
    (ops.some((o) => 'vzpa'.includes(o.s) && o.k !== 'J') ||
      ops.some((o) => o.name !== undefined && (o.name.startsWith('e') || SEG_REGS.includes(o.name))) ||
      OPSIZE_MNEMONICS.has(e.mnemonic));
  const out: FormTemplate[] = [];
  for (const mem of mems) {
    for (const o16 of sized ? [false, true] : [false]) {
      const a16s = mem || sem.addr16 || ops.some((o) => o.k === 'O' || o.k === 'X' || o.k === 'Y') ? [false, true] : [false];
      for (const a16 of a16s) {
        for (const extra of sem.prefixSets ?? [[]]) out.push({ o16, a16, mem, extra });
      }
    }
  }
  return out;
}

/** Size in bytes of the ModRM operand. */
function modrmOperandSize(op: Operand | undefined, o16: boolean): number {
  if (!op) return 4;
  if (op.k === 'M' && op.s === '') return 4;
  return sizeOf(op.s, o16);
}

/** The size of a register-valued operand (E, G, fixed register), or 0. */
function valueSize(op: Operand, o16: boolean): number {
  if (op.k === 'E' || op.k === 'G') return sizeOf(op.s, o16);
  if (op.k !== 'fixed' || !op.name) return 0;
  if (/^[A-D][LH]$/.test(op.name)) return 1;
  if (op.name.startsWith('e')) return o16 ? 2 : 4;
  return 0;
}

const REG_BY_NAME: Record<string, number> = {
  AL: 0, CL: 1, DL: 2, BL: 3, AH: 4, CH: 5, DH: 6, BH: 7,
  eAX: 0, eCX: 1, eDX: 2, eBX: 3, eSP: 4, eBP: 5, eSI: 6, eDI: 7,
};

/** The register a 1-byte register number lives in (AH..BH are in EAX..EBX). */
function physical(r: number, size: number): number {
  return size === 1 && r >= 4 ? r - 4 : r;
}

/** Gives every register-valued operand not fixed by the semantics a size-appropriate edge-biased value. */
function operandValues(b: Builder): void {
  for (const op of b.ops) {
    const size = valueSize(op, b.form.o16);
    if (!size) continue;
    let r: number;
    if (op.k === 'G') r = b.reg;
    else if (op.k === 'E') {
      if (b.form.mem) continue;
      r = b.rm;
    } else r = REG_BY_NAME[op.name!];
    if (r === undefined || b.fixed.has(physical(r, size))) continue;
    if (physical(r, size) === ESP && b.rng.chance(0.5)) continue; // often keep a stack-like ESP
    b.setRegPart(r, size, b.value(size));
  }
}

function immediates(b: Builder, sem: Semantics, i: number): void {
  const o16 = b.form.o16;
  b.ops.forEach((op, k) => {
    if (op.k === 'I') {
      const size = sizeOf(op.s, o16);
      b.imm('I', size, sem.imm?.(b, k, size, i) ?? b.value(size));
    } else if (op.k === 'J') {
      const size = op.s === 'b' ? 1 : 4;
      const len = b.length() + size;
      const end = b.codeStart(len) + len;
      const t = sem.imm?.(b, k, size, i) ??
        (op.s === 'b' ? b.codeTarget(len, Math.max(end - 128, CODE_ADDR + 0x10), Math.min(end + 127, CODE_ADDR + CODE_SIZE - 0x10))
          : b.codeTarget(len));
      b.imm('J', size, t);
    } else if (op.k === 'O') {
      const size = sizeOf(op.s, o16);
      const off = b.dataOffset(size);
      b.poke(off, size, b.value(size));
      b.imm('O', b.form.a16 ? 2 : 4, b.addr(off));
    } else if (op.k === 'A') {
      const t = farTarget(b, b.length() + b.opBytes + 2);
      b.imm('A', b.opBytes, t.offset, t.sel);
    }
  });
}

/** Segment-register specifics: the Sreg field of mov, selector values for loads and pops. */
function segmentOperands(b: Builder): number | null {
  const ops = b.ops;
  if (ops[0]?.k === 'S') {
    // mov Sreg, Ew: mostly the loadable registers; CS and 6/7 are #UD.
    return b.rng.chance(0.9) ? b.rng.pick([0, 2, 3, 4, 5]) : b.rng.pick([1, 6, 7]);
  }
  if (ops[1]?.k === 'S') return b.rng.chance(0.9) ? b.rng.int(6) : b.rng.pick([6, 7]);
  return null;
}

function makeCase(e: OpcodeInfo, sem: Semantics, t: FormTemplate, i: number, rng: Rng, key: string): TestCase {
  const extra = [...t.extra];
  if (t.mem && rng.chance(0.15)) extra.unshift(rng.pick(SEG_OVERRIDES));
  const form: Form = { o16: t.o16, a16: t.a16, mem: t.mem, ldt: t.a16 || rng.chance(0.2), extra };
  // A CS override reads through the flat code segment and faults on writes; only meaningful with flat data segments.
  if (t.mem && !form.ldt && rng.chance(0.03)) extra.unshift(0x2e);
  const b = new Builder(rng, e, form);
  sem.pre?.(b, i);
  const sreg = segmentOperands(b);
  if (b.needsModrm()) {
    const modrmOp = b.ops.find((o) => 'EMR'.includes(o.k));
    b.layoutModrm(e.ext ?? sreg, modrmOperandSize(modrmOp, t.o16));
  }
  operandValues(b);
  if (b.ops[0]?.k === 'S') b.setE(2, selector(b));
  const segPop = e.mnemonic === 'pop' && SEG_REGS.includes(e.operands);
  sem.post?.(b, i);
  if (segPop) b.poke((b.regs[ESP] - b.addr(0)) >>> 0, b.opBytes, selector(b));
  immediates(b, sem, i);
  const c = b.build();
  const tc: TestCase = { ...c, key, text: b.describe(c.code), undef: b.undef };
  // push Sreg with a 32-bit operand: Intel writes the selector's 16 bits,
  // AMD zero-extends it; the slot's upper half depends on the host's vendor.
  if (e.mnemonic === 'push' && SEG_REGS.includes(e.operands) && !t.o16) tc.memIgnore = [[(b.regs[ESP] - b.addr(0) - 2) >>> 0, 2]];
  return tc;
}

const NONE: Semantics = { n: 16 };

/** All cases for one table entry (x87 entries come from the FPU's own table instead). */
export function casesForEntry(e: OpcodeInfo, scale: number): TestCase[] {
  if (e.mnemonic === 'x87' || skipReason(e)) return [];
  const key = entryKey(e);
  const sem = SEMANTICS.get(e.mnemonic) ?? NONE;
  const rng = Rng.from(key);
  const out: TestCase[] = [];
  const n = Math.max(1, Math.round((sem.n ?? 16) * scale));
  for (const t of templates(e, sem)) {
    for (let i = 0; i < n; i++) out.push(makeCase(e, sem, t, i, rng, key));
  }
  // The rep prefixes real code puts on branches (rep ret, bnd jmp) and nop
  // (pause) are ignored. Elsewhere rep is reserved, and hosts differ (an AMD
  // EPYC does not take "repne loope").
  if (repIgnored(e)) {
    for (const t of plainTemplates(e, sem)) for (const p of [0xf2, 0xf3]) out.push(makeCase(e, sem, { ...t, extra: [p] }, 2, rng, key));
  }
  return out;
}

/** The entry's forms without 66/67 or extra prefixes. */
function plainTemplates(e: OpcodeInfo, sem: Semantics): FormTemplate[] {
  return templates(e, { ...sem, prefixSets: [[]] }).filter((x) => !x.o16 && !x.a16);
}

/** The entry under a lock prefix: #UD except on a read-modify-write of memory (in each ModRM form). */
/**
 * Lock-prefixed encodings on which this AMD host and the Intel CPU the core
 * reports (GenuineIntel) disagree by design; the core follows Intel, whose
 * SDM lists #UD for a LOCK prefix on both.
 */
const LOCK_VENDOR_DIFFERENCES: Record<string, string> = {
  'verw Ew': 'lock verw: AMD executes it, Intel raises #UD',
  'mov Rd,Cd': 'lock mov from CR0 is AMD\'s alternate encoding of CR8 (#GP at CPL 3 there); Intel raises #UD',
  'mov Cd,Rd': 'lock mov to CR0 is AMD\'s alternate encoding of CR8 (#GP at CPL 3 there); Intel raises #UD',
};

/** Why the lock-prefixed forms of `e` are not compared with this host, or null. */
export function lockSkipReason(e: OpcodeInfo): string | null {
  return LOCK_VENDOR_DIFFERENCES[`${e.mnemonic} ${e.operands}`] ?? null;
}

export function lockCasesForEntry(e: OpcodeInfo): TestCase[] {
  if (e.mnemonic === 'x87' || skipReason(e) || lockSkipReason(e)) return [];
  const key = entryKey(e);
  const sem = SEMANTICS.get(e.mnemonic) ?? NONE;
  const rng = Rng.from(key, 1);
  return plainTemplates(e, sem).flatMap((t) => [0, 1].map((i) => makeCase(e, sem, { ...t, extra: [0xf0] }, i, rng, key)));
}
