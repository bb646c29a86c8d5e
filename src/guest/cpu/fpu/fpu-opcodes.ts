/**
 * The x87 part of the opcode table: every D8-DF encoding the FPU executes.
 *
 * Memory forms (ModRM.mod != 3) are listed per ModRM.reg (`ext`); register
 * forms per ModRM byte range (`modrmLo`..`modrmHi`). An encoding not listed
 * here is #UD: the CPU decoder asks x87Lookup() and raises #UD when it
 * returns undefined, before calling Fpu.execute(). fisttp (DB/DD/DF /1) is
 * SSE3 and deliberately absent.
 *
 * The entries have the OpcodeInfo shape of src/guest/cpu/opcodes.ts plus the
 * FPU fields below, so the conformance tests can enumerate and check them.
 */

import { CF, PF, AF, ZF, SF, OF } from '../flags';

/** Condition-code bits of the FPU status word. */
export const FPU_C0 = 0x0100, FPU_C1 = 0x0200, FPU_C2 = 0x0400, FPU_C3 = 0x4000;
const ALL_CC = FPU_C0 | FPU_C1 | FPU_C2 | FPU_C3;

export interface X87OpcodeInfo {
  /** 0xD8..0xDF. */
  opcode: number;
  /** Memory forms: the ModRM.reg value. */
  ext?: number;
  form: 'reg' | 'mem';
  mnemonic: string;
  /** SDM notation: 'm32fp', 'ST,STi', 'STi,ST', 'STi', 'm16int', 'AX', '' … */
  operands: string;
  /** EFLAGS written (fcomi family only) and left undefined. */
  flagsDefined: number;
  flagsUndefined: number;
  system?: boolean;
  /** Register forms: the ModRM bytes covered, inclusive. */
  modrmLo?: number;
  modrmHi?: number;
  /** C0-C3 (FPU_C* masks) written with defined values, and left undefined. */
  ccDefined: number;
  ccUndefined: number;
  /** Checks for a pending unmasked exception first (false for the fn* control instructions). */
  waiting: boolean;
  /** Memory operand size in bytes (32-bit operand size; fnstenv/fnsave are 14/94 with 0x66). */
  memBytes?: number;
  /** The result is rounded to the precision-control setting. */
  precisionControl?: boolean;
  /** Result within the transcendental tolerance only; C1 (round-up) not reproduced. */
  approximate?: boolean;
  /** An undocumented alias that real x87s execute (fstp1, fcom2, ffreep …). */
  undocumented?: boolean;
  /** The stored image holds instruction/data pointers (FIP/FDP/FOP), which differ by address. */
  storesPointers?: boolean;
}

/** EFLAGS written by fcomi/fucomi: ZF PF CF from the compare, OF SF AF cleared. */
const FCOMI_FLAGS = ZF | PF | CF | OF | SF | AF;

type Extra = Partial<X87OpcodeInfo>;

/** C1 only, the rest undefined: loads, stores, arithmetic, most others. */
const C1_ONLY: Extra = { ccDefined: FPU_C1, ccUndefined: FPU_C0 | FPU_C2 | FPU_C3 };
const CC_ALL: Extra = { ccDefined: ALL_CC, ccUndefined: 0 };
const CC_NONE: Extra = { ccDefined: 0, ccUndefined: ALL_CC };
const ARITH: Extra = { ...C1_ONLY, precisionControl: true };
const TRIG: Extra = { ccDefined: FPU_C1 | FPU_C2, ccUndefined: FPU_C0 | FPU_C3, approximate: true };
const APPROX: Extra = { ...C1_ONLY, approximate: true };
/** fcomi leaves C0 C2 C3 alone; C1 is "cleared" per Intel but left alone by AMD. */
const FCOMI: Extra = { ccDefined: FPU_C0 | FPU_C2 | FPU_C3, ccUndefined: FPU_C1, flagsDefined: FCOMI_FLAGS };
const FCMOV: Extra = { ccDefined: 0, ccUndefined: ALL_CC };

function mem(opcode: number, ext: number, mnemonic: string, operands: string, memBytes: number, extra: Extra): X87OpcodeInfo {
  return { opcode, ext, form: 'mem', mnemonic, operands, memBytes, flagsDefined: 0, flagsUndefined: 0,
    ccDefined: 0, ccUndefined: 0, waiting: true, ...extra };
}

function reg(opcode: number, lo: number, hi: number, mnemonic: string, operands: string, extra: Extra): X87OpcodeInfo {
  return { opcode, form: 'reg', modrmLo: lo, modrmHi: hi, mnemonic, operands, flagsDefined: 0, flagsUndefined: 0,
    ccDefined: 0, ccUndefined: 0, waiting: true, ...extra };
}

/** The eight-way arithmetic groups D8/DC/DA/DE with a memory operand. */
function arithMem(opcode: number, prefix: string, operand: string, bytes: number): X87OpcodeInfo[] {
  const names = ['add', 'mul', 'com', 'comp', 'sub', 'subr', 'div', 'divr'];
  return names.map((n, ext) => mem(opcode, ext, prefix + n, operand, bytes, ext === 2 || ext === 3 ? CC_ALL : ARITH));
}

/** Register-form arithmetic of D8 (ST op= STi), DC (STi op= ST) and DE (…p, pop). */
function arithReg(opcode: number): X87OpcodeInfo[] {
  // D8 /4 is ST = ST - STi; DC/DE /4 is STi = ST - STi, called fsubr there (and so on).
  const names = opcode === 0xD8
    ? ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr']
    : ['fadd', 'fmul', 'fcom', 'fcomp', 'fsubr', 'fsub', 'fdivr', 'fdiv'];
  const out: X87OpcodeInfo[] = [];
  names.forEach((n, r) => {
    const lo = 0xC0 + 8 * r;
    if (r === 2 || r === 3) {
      if (opcode === 0xD8) out.push(reg(opcode, lo, lo + 7, n, 'STi', CC_ALL));
      else if (opcode === 0xDC) out.push(reg(opcode, lo, lo + 7, r === 2 ? 'fcom2' : 'fcomp3', 'STi', { ...CC_ALL, undocumented: true }));
      else if (r === 2) out.push(reg(opcode, lo, lo + 7, 'fcomp5', 'STi', { ...CC_ALL, undocumented: true }));
      else out.push(reg(opcode, 0xD9, 0xD9, 'fcompp', '', CC_ALL));
      return;
    }
    if (opcode === 0xDE) out.push(reg(opcode, lo, lo + 7, n + 'p', 'STi,ST', ARITH));
    else out.push(reg(opcode, lo, lo + 7, n, opcode === 0xD8 ? 'ST,STi' : 'STi,ST', ARITH));
  });
  return out;
}

const CONTROL: Extra = { ...CC_NONE, waiting: false };

export const X87_OPCODES: readonly X87OpcodeInfo[] = [
  // D8: float arithmetic with m32fp or ST(i)
  ...arithMem(0xD8, 'f', 'm32fp', 4),
  ...arithReg(0xD8),

  // D9: loads, stores, control, constants, the unary and transcendental group
  mem(0xD9, 0, 'fld', 'm32fp', 4, C1_ONLY),
  mem(0xD9, 2, 'fst', 'm32fp', 4, C1_ONLY),
  mem(0xD9, 3, 'fstp', 'm32fp', 4, C1_ONLY),
  mem(0xD9, 4, 'fldenv', 'm28byte', 28, CC_ALL),
  mem(0xD9, 5, 'fldcw', 'm2byte', 2, CC_NONE),
  mem(0xD9, 6, 'fnstenv', 'm28byte', 28, { ...CONTROL, storesPointers: true }),
  mem(0xD9, 7, 'fnstcw', 'm2byte', 2, CONTROL),
  reg(0xD9, 0xC0, 0xC7, 'fld', 'STi', C1_ONLY),
  reg(0xD9, 0xC8, 0xCF, 'fxch', 'STi', C1_ONLY),
  reg(0xD9, 0xD0, 0xD0, 'fnop', '', CC_NONE),
  reg(0xD9, 0xD8, 0xDF, 'fstp1', 'STi', { ...C1_ONLY, undocumented: true }),
  reg(0xD9, 0xE0, 0xE0, 'fchs', '', C1_ONLY),
  reg(0xD9, 0xE1, 0xE1, 'fabs', '', C1_ONLY),
  reg(0xD9, 0xE4, 0xE4, 'ftst', '', CC_ALL),
  reg(0xD9, 0xE5, 0xE5, 'fxam', '', CC_ALL),
  reg(0xD9, 0xE8, 0xE8, 'fld1', '', C1_ONLY),
  reg(0xD9, 0xE9, 0xE9, 'fldl2t', '', C1_ONLY),
  reg(0xD9, 0xEA, 0xEA, 'fldl2e', '', C1_ONLY),
  reg(0xD9, 0xEB, 0xEB, 'fldpi', '', C1_ONLY),
  reg(0xD9, 0xEC, 0xEC, 'fldlg2', '', C1_ONLY),
  reg(0xD9, 0xED, 0xED, 'fldln2', '', C1_ONLY),
  reg(0xD9, 0xEE, 0xEE, 'fldz', '', C1_ONLY),
  reg(0xD9, 0xF0, 0xF0, 'f2xm1', '', APPROX),
  reg(0xD9, 0xF1, 0xF1, 'fyl2x', '', APPROX),
  reg(0xD9, 0xF2, 0xF2, 'fptan', '', TRIG),
  reg(0xD9, 0xF3, 0xF3, 'fpatan', '', APPROX),
  reg(0xD9, 0xF4, 0xF4, 'fxtract', '', C1_ONLY),
  reg(0xD9, 0xF5, 0xF5, 'fprem1', '', CC_ALL),
  reg(0xD9, 0xF6, 0xF6, 'fdecstp', '', C1_ONLY),
  reg(0xD9, 0xF7, 0xF7, 'fincstp', '', C1_ONLY),
  reg(0xD9, 0xF8, 0xF8, 'fprem', '', CC_ALL),
  reg(0xD9, 0xF9, 0xF9, 'fyl2xp1', '', APPROX),
  reg(0xD9, 0xFA, 0xFA, 'fsqrt', '', ARITH),
  reg(0xD9, 0xFB, 0xFB, 'fsincos', '', TRIG),
  reg(0xD9, 0xFC, 0xFC, 'frndint', '', C1_ONLY),
  reg(0xD9, 0xFD, 0xFD, 'fscale', '', C1_ONLY),
  reg(0xD9, 0xFE, 0xFE, 'fsin', '', TRIG),
  reg(0xD9, 0xFF, 0xFF, 'fcos', '', TRIG),

  // DA: integer arithmetic with m32int; fcmov; fucompp
  ...arithMem(0xDA, 'fi', 'm32int', 4),
  reg(0xDA, 0xC0, 0xC7, 'fcmovb', 'ST,STi', FCMOV),
  reg(0xDA, 0xC8, 0xCF, 'fcmove', 'ST,STi', FCMOV),
  reg(0xDA, 0xD0, 0xD7, 'fcmovbe', 'ST,STi', FCMOV),
  reg(0xDA, 0xD8, 0xDF, 'fcmovu', 'ST,STi', FCMOV),
  reg(0xDA, 0xE9, 0xE9, 'fucompp', '', CC_ALL),

  // DB: m32int loads/stores, m80 load/store, fcmovn, control, fcomi
  mem(0xDB, 0, 'fild', 'm32int', 4, C1_ONLY),
  mem(0xDB, 2, 'fist', 'm32int', 4, C1_ONLY),
  mem(0xDB, 3, 'fistp', 'm32int', 4, C1_ONLY),
  mem(0xDB, 5, 'fld', 'm80fp', 10, C1_ONLY),
  mem(0xDB, 7, 'fstp', 'm80fp', 10, C1_ONLY),
  reg(0xDB, 0xC0, 0xC7, 'fcmovnb', 'ST,STi', FCMOV),
  reg(0xDB, 0xC8, 0xCF, 'fcmovne', 'ST,STi', FCMOV),
  reg(0xDB, 0xD0, 0xD7, 'fcmovnbe', 'ST,STi', FCMOV),
  reg(0xDB, 0xD8, 0xDF, 'fcmovnu', 'ST,STi', FCMOV),
  // 8087/80287 leftovers, no-ops since the 387.
  reg(0xDB, 0xE0, 0xE0, 'fneni', '', { ...CONTROL, undocumented: true }),
  reg(0xDB, 0xE1, 0xE1, 'fndisi', '', { ...CONTROL, undocumented: true }),
  reg(0xDB, 0xE2, 0xE2, 'fnclex', '', CONTROL),
  reg(0xDB, 0xE3, 0xE3, 'fninit', '', { ...CONTROL, ccDefined: ALL_CC, ccUndefined: 0 }),
  reg(0xDB, 0xE4, 0xE4, 'fnsetpm', '', { ...CONTROL, undocumented: true }),
  reg(0xDB, 0xE8, 0xEF, 'fucomi', 'ST,STi', FCOMI),
  reg(0xDB, 0xF0, 0xF7, 'fcomi', 'ST,STi', FCOMI),

  // DC: float arithmetic with m64fp, or into ST(i)
  ...arithMem(0xDC, 'f', 'm64fp', 8),
  ...arithReg(0xDC),

  // DD: m64 loads/stores, state save/restore, ffree, fst/fstp ST(i), fucom
  mem(0xDD, 0, 'fld', 'm64fp', 8, C1_ONLY),
  mem(0xDD, 2, 'fst', 'm64fp', 8, C1_ONLY),
  mem(0xDD, 3, 'fstp', 'm64fp', 8, C1_ONLY),
  mem(0xDD, 4, 'frstor', 'm108byte', 108, CC_ALL),
  mem(0xDD, 6, 'fnsave', 'm108byte', 108, { ...CONTROL, ccDefined: ALL_CC, ccUndefined: 0, storesPointers: true }),
  mem(0xDD, 7, 'fnstsw', 'm2byte', 2, CONTROL),
  reg(0xDD, 0xC0, 0xC7, 'ffree', 'STi', CC_NONE),
  reg(0xDD, 0xC8, 0xCF, 'fxch4', 'STi', { ...C1_ONLY, undocumented: true }),
  reg(0xDD, 0xD0, 0xD7, 'fst', 'STi', C1_ONLY),
  reg(0xDD, 0xD8, 0xDF, 'fstp', 'STi', C1_ONLY),
  reg(0xDD, 0xE0, 0xE7, 'fucom', 'STi', CC_ALL),
  reg(0xDD, 0xE8, 0xEF, 'fucomp', 'STi', CC_ALL),

  // DE: integer arithmetic with m16int; the popping register arithmetic
  ...arithMem(0xDE, 'fi', 'm16int', 2),
  ...arithReg(0xDE),

  // DF: m16/m64 integer loads and stores, packed BCD, fnstsw ax, fcomip
  mem(0xDF, 0, 'fild', 'm16int', 2, C1_ONLY),
  mem(0xDF, 2, 'fist', 'm16int', 2, C1_ONLY),
  mem(0xDF, 3, 'fistp', 'm16int', 2, C1_ONLY),
  mem(0xDF, 4, 'fbld', 'm80dec', 10, C1_ONLY),
  mem(0xDF, 5, 'fild', 'm64int', 8, C1_ONLY),
  mem(0xDF, 6, 'fbstp', 'm80bcd', 10, C1_ONLY),
  mem(0xDF, 7, 'fistp', 'm64int', 8, C1_ONLY),
  reg(0xDF, 0xC0, 0xC7, 'ffreep', 'STi', { ...CC_NONE, undocumented: true }),
  reg(0xDF, 0xC8, 0xCF, 'fxch7', 'STi', { ...C1_ONLY, undocumented: true }),
  reg(0xDF, 0xD0, 0xD7, 'fstp8', 'STi', { ...C1_ONLY, undocumented: true }),
  reg(0xDF, 0xD8, 0xDF, 'fstp9', 'STi', { ...C1_ONLY, undocumented: true }),
  reg(0xDF, 0xE0, 0xE0, 'fnstsw', 'AX', CONTROL),
  reg(0xDF, 0xE8, 0xEF, 'fucomip', 'ST,STi', FCOMI),
  reg(0xDF, 0xF0, 0xF7, 'fcomip', 'ST,STi', FCOMI),
];

/** Dense lookup: index (opcode & 7) * 256 + modrm, memory forms filled for every mod != 3 byte. */
const LOOKUP: (X87OpcodeInfo | undefined)[] = new Array(8 * 256).fill(undefined);
for (const e of X87_OPCODES) {
  const base = (e.opcode & 7) * 256;
  if (e.form === 'mem') {
    for (let m = 0; m < 0xC0; m++) if (((m >> 3) & 7) === e.ext) LOOKUP[base + m] = e;
  } else {
    for (let m = e.modrmLo!; m <= e.modrmHi!; m++) LOOKUP[base + m] = e;
  }
}

/** The entry for an x87 instruction, or undefined if the encoding is #UD. */
export function x87Lookup(opcode: number, modrm: number): X87OpcodeInfo | undefined {
  return LOOKUP[(opcode & 7) * 256 + modrm];
}
