import { AF, CF, DF, IF, OF, PF, SF, ZF } from './flags';
import { H } from './handler-ids';

/**
 * The opcode table: the single source of truth for what this core decodes,
 * how it executes it, and which instructions the conformance tests compare
 * with the host CPU.
 *
 * The decoder reads `operands` to know what follows the opcode (a ModRM byte
 * for E/G/M/R/C/D/S operands; I/J/A/O immediates sized by the letter after
 * them), picks the entry by (opcode, ModRM.reg for groups, register or memory
 * form), and dispatches on `h`. An opcode that is not here is #UD.
 *
 * Operand notation is the SDM's appendix A: E = ModRM r/m, G = ModRM reg,
 * M = memory only, R = register only (mod ignored), S = segment register,
 * C/D = control/debug register, I = immediate, J = relative offset,
 * A = far pointer, O = moffs, X/Y = DS:eSI / ES:eDI string operands;
 * b = byte, w = word, v/z = operand size (z: a 32-bit operand still takes a
 * 32-bit immediate), p = far pointer, q = quadword. A register name (AL,
 * eAX, ES...) is a fixed or opcode-encoded register.
 *
 * Prefixes (26 2E 36 3E 64 65 66 67 F0 F2 F3) are not instructions and are
 * listed in PREFIXES instead.
 */
export interface OpcodeInfo {
  /** One-byte opcode 0x00-0xFF, or 0x100|b for 0x0F b. */
  opcode: number;
  /** For group opcodes: the ModRM.reg value 0-7 this entry covers. */
  ext?: number;
  /** Only register (mod=3) or only memory (mod!=3) ModRM forms, where they differ. */
  form?: 'reg' | 'mem';
  mnemonic: string;
  operands: string;
  /** EFLAGS bits written with defined values / left undefined (SDM). */
  flagsDefined: number;
  flagsUndefined: number;
  /** Privileged or environment-dependent: the conformance suite skips it. */
  system?: boolean;
}

/** An opcode-table entry as the core uses it: the public shape plus its handler. */
export interface OpcodeEntry extends OpcodeInfo {
  readonly h: H;
}

export const PREFIXES: readonly number[] = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3];

const ALL = CF | PF | AF | ZF | SF | OF;
const LOGIC = CF | PF | ZF | SF | OF; // and/or/xor/test: AF undefined
const INCDEC = PF | AF | ZF | SF | OF; // CF unaffected
const MULF = CF | OF; // SF ZF AF PF undefined
const NOTMUL = PF | AF | ZF | SF;

const table: OpcodeEntry[] = [];

function op(
  opcode: number,
  mnemonic: string,
  operands: string,
  h: H,
  flagsDefined = 0,
  flagsUndefined = 0,
  extra: { ext?: number; form?: 'reg' | 'mem'; system?: boolean } = {},
): void {
  const e: OpcodeEntry = { opcode, mnemonic, operands, flagsDefined, flagsUndefined, h };
  if (extra.ext !== undefined) e.ext = extra.ext;
  if (extra.form !== undefined) e.form = extra.form;
  if (extra.system) e.system = true;
  table.push(e);
}

function sys(opcode: number, mnemonic: string, operands: string, h: H, defined = 0, undef = 0, ext?: number, form?: 'reg' | 'mem'): void {
  op(opcode, mnemonic, operands, h, defined, undef, { ext, form, system: true });
}

function grp(opcode: number, ext: number, mnemonic: string, operands: string, h: H, defined = 0, undef = 0, form?: 'reg' | 'mem'): void {
  op(opcode, mnemonic, operands, h, defined, undef, { ext, form });
}

export const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
export const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
export const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
export const REG8 = ['AL', 'CL', 'DL', 'BL', 'AH', 'CH', 'DH', 'BH'];
export const REG32 = ['eAX', 'eCX', 'eDX', 'eBX', 'eSP', 'eBP', 'eSI', 'eDI'];
export const SEG_NAMES = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];

function aluFlags(k: number): [number, number] {
  return k === 1 || k === 4 || k === 6 ? [LOGIC, AF] : [ALL, 0];
}

// 00-3F: the eight ALU operations in six forms each, with the segment pushes,
// prefixes and BCD adjusts in the gaps.
for (let k = 0; k < 8; k++) {
  const base = k << 3;
  const m = ALU_NAMES[k];
  const [d, u] = aluFlags(k);
  op(base + 0, m, 'Eb,Gb', H.ALU_EbGb, d, u);
  op(base + 1, m, 'Ev,Gv', H.ALU_EvGv, d, u);
  op(base + 2, m, 'Gb,Eb', H.ALU_GbEb, d, u);
  op(base + 3, m, 'Gv,Ev', H.ALU_GvEv, d, u);
  op(base + 4, m, 'AL,Ib', H.ALU_EbI, d, u);
  op(base + 5, m, 'eAX,Iz', H.ALU_EvI, d, u);
}
sys(0x06, 'push', 'ES', H.PUSH_SEG);
sys(0x07, 'pop', 'ES', H.POP_SEG);
sys(0x0e, 'push', 'CS', H.PUSH_SEG);
sys(0x16, 'push', 'SS', H.PUSH_SEG);
sys(0x17, 'pop', 'SS', H.POP_SEG);
sys(0x1e, 'push', 'DS', H.PUSH_SEG);
sys(0x1f, 'pop', 'DS', H.POP_SEG);
op(0x27, 'daa', '', H.DAA, CF | AF | SF | ZF | PF, OF);
op(0x2f, 'das', '', H.DAS, CF | AF | SF | ZF | PF, OF);
op(0x37, 'aaa', '', H.AAA, AF | CF, OF | SF | ZF | PF);
op(0x3f, 'aas', '', H.AAS, AF | CF, OF | SF | ZF | PF);

// 40-5F: inc, dec, push, pop with the register in the opcode.
for (let r = 0; r < 8; r++) {
  op(0x40 + r, 'inc', REG32[r], H.INC_Ev, INCDEC);
  op(0x48 + r, 'dec', REG32[r], H.DEC_Ev, INCDEC);
  op(0x50 + r, 'push', REG32[r], H.PUSH_R);
  op(0x58 + r, 'pop', REG32[r], H.POP_R);
}
op(0x60, 'pushad', '', H.PUSHA);
op(0x61, 'popad', '', H.POPA);
op(0x62, 'bound', 'Gv,Ma', H.BOUND, 0, 0, { form: 'mem' });
op(0x63, 'arpl', 'Ew,Gw', H.ARPL, ZF, 0, { system: true }); // #UD in real mode; selector values are environment-specific
op(0x68, 'push', 'Iz', H.PUSH_I);
op(0x69, 'imul', 'Gv,Ev,Iz', H.IMUL_GvEvI, MULF, NOTMUL);
op(0x6a, 'push', 'Ib', H.PUSH_I);
op(0x6b, 'imul', 'Gv,Ev,Ib', H.IMUL_GvEvI, MULF, NOTMUL);
sys(0x6c, 'insb', 'Yb,DX', H.INSB);
sys(0x6d, 'insd', 'Yz,DX', H.INSV);
sys(0x6e, 'outsb', 'DX,Xb', H.OUTSB);
sys(0x6f, 'outsd', 'DX,Xz', H.OUTSV);
for (let c = 0; c < 16; c++) op(0x70 + c, 'j' + CC_NAMES[c], 'Jb', H.JCC);

// 80-83: group 1, the ALU operations with an immediate. 82 is 80's alias.
for (let k = 0; k < 8; k++) {
  const [d, u] = aluFlags(k);
  grp(0x80, k, ALU_NAMES[k], 'Eb,Ib', H.ALU_EbI, d, u);
  grp(0x81, k, ALU_NAMES[k], 'Ev,Iz', H.ALU_EvI, d, u);
  grp(0x82, k, ALU_NAMES[k], 'Eb,Ib', H.ALU_EbI, d, u);
  grp(0x83, k, ALU_NAMES[k], 'Ev,Ib', H.ALU_EvI, d, u);
}
op(0x84, 'test', 'Eb,Gb', H.TEST_EbGb, LOGIC, AF);
op(0x85, 'test', 'Ev,Gv', H.TEST_EvGv, LOGIC, AF);
op(0x86, 'xchg', 'Eb,Gb', H.XCHG_EbGb);
op(0x87, 'xchg', 'Ev,Gv', H.XCHG_EvGv);
op(0x88, 'mov', 'Eb,Gb', H.MOV_EbGb);
op(0x89, 'mov', 'Ev,Gv', H.MOV_EvGv);
op(0x8a, 'mov', 'Gb,Eb', H.MOV_GbEb);
op(0x8b, 'mov', 'Gv,Ev', H.MOV_GvEv);
sys(0x8c, 'mov', 'Ev,Sw', H.MOV_EvSw);
op(0x8d, 'lea', 'Gv,M', H.LEA, 0, 0, { form: 'mem' });
sys(0x8e, 'mov', 'Sw,Ew', H.MOV_SwEw);
grp(0x8f, 0, 'pop', 'Ev', H.POP_Ev);

// 90-9F
op(0x90, 'nop', '', H.NOP);
for (let r = 1; r < 8; r++) op(0x90 + r, 'xchg', REG32[r] + ',eAX', H.XCHG_AX);
op(0x98, 'cwde', '', H.CBW);
op(0x99, 'cdq', '', H.CWD);
sys(0x9a, 'call', 'Ap', H.CALLF_A);
op(0x9b, 'fwait', '', H.FWAIT);
op(0x9c, 'pushfd', 'Fv', H.PUSHF);
sys(0x9d, 'popfd', 'Fv', H.POPF, ALL | DF | IF);
op(0x9e, 'sahf', '', H.SAHF, SF | ZF | AF | PF | CF);
op(0x9f, 'lahf', '', H.LAHF);

// A0-AF: moffs moves, strings, test with the accumulator.
op(0xa0, 'mov', 'AL,Ob', H.MOV_GbEb);
op(0xa1, 'mov', 'eAX,Ov', H.MOV_GvEv);
op(0xa2, 'mov', 'Ob,AL', H.MOV_EbGb);
op(0xa3, 'mov', 'Ov,eAX', H.MOV_EvGv);
op(0xa4, 'movsb', 'Yb,Xb', H.MOVSB);
op(0xa5, 'movsd', 'Yv,Xv', H.MOVSV);
op(0xa6, 'cmpsb', 'Xb,Yb', H.CMPSB, ALL);
op(0xa7, 'cmpsd', 'Xv,Yv', H.CMPSV, ALL);
op(0xa8, 'test', 'AL,Ib', H.TEST_EbI, LOGIC, AF);
op(0xa9, 'test', 'eAX,Iz', H.TEST_EvI, LOGIC, AF);
op(0xaa, 'stosb', 'Yb,AL', H.STOSB);
op(0xab, 'stosd', 'Yv,eAX', H.STOSV);
op(0xac, 'lodsb', 'AL,Xb', H.LODSB);
op(0xad, 'lodsd', 'eAX,Xv', H.LODSV);
op(0xae, 'scasb', 'AL,Yb', H.SCASB, ALL);
op(0xaf, 'scasd', 'eAX,Yv', H.SCASV, ALL);
for (let r = 0; r < 8; r++) {
  op(0xb0 + r, 'mov', REG8[r] + ',Ib', H.MOV_EbI);
  op(0xb8 + r, 'mov', REG32[r] + ',Iv', H.MOV_EvI);
}

// C0-CF
const SHIFT_FLAGS: [number, number][] = [
  [CF, OF], [CF, OF], [CF, OF], [CF, OF], // rotates: OF defined only for a count of 1
  [CF | SF | ZF | PF, OF | AF], [CF | SF | ZF | PF, OF | AF], [CF | SF | ZF | PF, OF | AF], [CF | SF | ZF | PF, OF | AF],
];
for (let k = 0; k < 8; k++) {
  const [d, u] = SHIFT_FLAGS[k];
  // By one, OF is defined for every shift and rotate.
  const [d1, u1] = [d | OF, u & ~OF];
  grp(0xc0, k, SHIFT_NAMES[k], 'Eb,Ib', H.SHIFT_EbI, d, u);
  grp(0xc1, k, SHIFT_NAMES[k], 'Ev,Ib', H.SHIFT_EvI, d, u);
  grp(0xd0, k, SHIFT_NAMES[k], 'Eb,1', H.SHIFT_EbI, d1, u1);
  grp(0xd1, k, SHIFT_NAMES[k], 'Ev,1', H.SHIFT_EvI, d1, u1);
  grp(0xd2, k, SHIFT_NAMES[k], 'Eb,CL', H.SHIFT_EbCL, d, u);
  grp(0xd3, k, SHIFT_NAMES[k], 'Ev,CL', H.SHIFT_EvCL, d, u);
}
op(0xc2, 'ret', 'Iw', H.RET_I);
op(0xc3, 'ret', '', H.RET);
sys(0xc4, 'les', 'Gz,Mp', H.LXS, 0, 0, undefined, 'mem');
sys(0xc5, 'lds', 'Gz,Mp', H.LXS, 0, 0, undefined, 'mem');
grp(0xc6, 0, 'mov', 'Eb,Ib', H.MOV_EbI);
grp(0xc7, 0, 'mov', 'Ev,Iz', H.MOV_EvI);
op(0xc8, 'enter', 'Iw,Ib', H.ENTER);
op(0xc9, 'leave', '', H.LEAVE);
sys(0xca, 'retf', 'Iw', H.RETF_I);
sys(0xcb, 'retf', '', H.RETF);
sys(0xcc, 'int3', '', H.INT3);
sys(0xcd, 'int', 'Ib', H.INT_I);
sys(0xce, 'into', '', H.INTO);
sys(0xcf, 'iretd', '', H.IRET, ALL | DF | IF);

// D4-D7, D8-DF
op(0xd4, 'aam', 'Ib', H.AAM, SF | ZF | PF, OF | AF | CF);
op(0xd5, 'aad', 'Ib', H.AAD, SF | ZF | PF, OF | AF | CF);
op(0xd7, 'xlat', '', H.XLAT);
for (let b = 0xd8; b <= 0xdf; b++) op(b, 'x87', '', H.X87);

// E0-EF
op(0xe0, 'loopne', 'Jb', H.LOOPNE);
op(0xe1, 'loope', 'Jb', H.LOOPE);
op(0xe2, 'loop', 'Jb', H.LOOP);
op(0xe3, 'jecxz', 'Jb', H.JCXZ);
sys(0xe4, 'in', 'AL,Ib', H.IN_B_I);
sys(0xe5, 'in', 'eAX,Ib', H.IN_V_I);
sys(0xe6, 'out', 'Ib,AL', H.OUT_B_I);
sys(0xe7, 'out', 'Ib,eAX', H.OUT_V_I);
op(0xe8, 'call', 'Jz', H.CALL_J);
op(0xe9, 'jmp', 'Jz', H.JMP_J);
sys(0xea, 'jmp', 'Ap', H.JMPF_A);
op(0xeb, 'jmp', 'Jb', H.JMP_J);
sys(0xec, 'in', 'AL,DX', H.IN_B_DX);
sys(0xed, 'in', 'eAX,DX', H.IN_V_DX);
sys(0xee, 'out', 'DX,AL', H.OUT_B_DX);
sys(0xef, 'out', 'DX,eAX', H.OUT_V_DX);

// F4-FF
sys(0xf4, 'hlt', '', H.HLT);
op(0xf5, 'cmc', '', H.CMC, CF);
const F6 = ['test', 'test', 'not', 'neg', 'mul', 'imul', 'div', 'idiv'];
const F6B = [H.TEST_EbI, H.TEST_EbI, H.NOT_Eb, H.NEG_Eb, H.MUL_Eb, H.IMUL_Eb, H.DIV_Eb, H.IDIV_Eb];
const F7V = [H.TEST_EvI, H.TEST_EvI, H.NOT_Ev, H.NEG_Ev, H.MUL_Ev, H.IMUL_Ev, H.DIV_Ev, H.IDIV_Ev];
const F6FLAGS: [number, number][] = [[LOGIC, AF], [LOGIC, AF], [0, 0], [ALL, 0], [MULF, NOTMUL], [MULF, NOTMUL], [0, ALL], [0, ALL]];
for (let k = 0; k < 8; k++) {
  const [d, u] = F6FLAGS[k];
  grp(0xf6, k, F6[k], k < 2 ? 'Eb,Ib' : 'Eb', F6B[k], d, u);
  grp(0xf7, k, F6[k], k < 2 ? 'Ev,Iz' : 'Ev', F7V[k], d, u);
}
op(0xf8, 'clc', '', H.CLC, CF);
op(0xf9, 'stc', '', H.STC, CF);
sys(0xfa, 'cli', '', H.CLI, IF);
sys(0xfb, 'sti', '', H.STI, IF);
op(0xfc, 'cld', '', H.CLD, DF);
op(0xfd, 'std', '', H.STD, DF);
grp(0xfe, 0, 'inc', 'Eb', H.INC_Eb, INCDEC);
grp(0xfe, 1, 'dec', 'Eb', H.DEC_Eb, INCDEC);
grp(0xff, 0, 'inc', 'Ev', H.INC_Ev, INCDEC);
grp(0xff, 1, 'dec', 'Ev', H.DEC_Ev, INCDEC);
grp(0xff, 2, 'call', 'Ev', H.CALL_Ev);
sys(0xff, 'callf', 'Mp', H.CALLF_Ep, 0, 0, 3, 'mem');
grp(0xff, 4, 'jmp', 'Ev', H.JMP_Ev);
sys(0xff, 'jmpf', 'Mp', H.JMPF_Ep, 0, 0, 5, 'mem');
grp(0xff, 6, 'push', 'Ev', H.PUSH_Ev);

// 0F xx: two-byte opcodes.
const T = 0x100;
const G6 = ['sldt', 'str', 'lldt', 'ltr', 'verr', 'verw'];
const G6H = [H.SLDT, H.STR, H.LLDT, H.LTR, H.VERR, H.VERW];
for (let k = 0; k < 6; k++) sys(T | 0x00, G6[k], 'Ew', G6H[k], k >= 4 ? ZF : 0, 0, k);
sys(T | 0x01, 'sgdt', 'Ms', H.SGDT, 0, 0, 0, 'mem');
sys(T | 0x01, 'sidt', 'Ms', H.SIDT, 0, 0, 1, 'mem');
sys(T | 0x01, 'lgdt', 'Ms', H.LGDT, 0, 0, 2, 'mem');
sys(T | 0x01, 'lidt', 'Ms', H.LIDT, 0, 0, 3, 'mem');
sys(T | 0x01, 'smsw', 'Ew', H.SMSW, 0, 0, 4);
sys(T | 0x01, 'lmsw', 'Ew', H.LMSW, 0, 0, 6);
sys(T | 0x01, 'invlpg', 'Mb', H.INVLPG, 0, 0, 7, 'mem');
sys(T | 0x02, 'lar', 'Gv,Ew', H.LAR, ZF);
sys(T | 0x03, 'lsl', 'Gv,Ew', H.LSL, ZF);
sys(T | 0x06, 'clts', '', H.CLTS);
sys(T | 0x08, 'invd', '', H.INVD);
sys(T | 0x09, 'wbinvd', '', H.WBINVD);
sys(T | 0x0b, 'ud2', '', H.UD2);
// 0F 18-1F: hint NOPs (0F 1F /0 is the multi-byte NOP assemblers pad with).
for (let b = 0x18; b <= 0x1f; b++) op(T | b, 'nop', 'Ev', H.NOP);
sys(T | 0x20, 'mov', 'Rd,Cd', H.MOV_RdCd);
sys(T | 0x21, 'mov', 'Rd,Dd', H.MOV_RdDd);
sys(T | 0x22, 'mov', 'Cd,Rd', H.MOV_CdRd);
sys(T | 0x23, 'mov', 'Dd,Rd', H.MOV_DdRd);
sys(T | 0x30, 'wrmsr', '', H.WRMSR);
sys(T | 0x31, 'rdtsc', '', H.RDTSC);
sys(T | 0x32, 'rdmsr', '', H.RDMSR);
sys(T | 0x34, 'sysenter', '', H.SYSENTER);
sys(T | 0x35, 'sysexit', '', H.SYSEXIT);
for (let c = 0; c < 16; c++) {
  op(T | (0x40 + c), 'cmov' + CC_NAMES[c], 'Gv,Ev', H.CMOV);
  op(T | (0x80 + c), 'j' + CC_NAMES[c], 'Jz', H.JCC);
  op(T | (0x90 + c), 'set' + CC_NAMES[c], 'Eb', H.SETCC);
}
sys(T | 0xa0, 'push', 'FS', H.PUSH_SEG);
sys(T | 0xa1, 'pop', 'FS', H.POP_SEG);
sys(T | 0xa2, 'cpuid', '', H.CPUID);
const BTF: [number, number] = [CF, OF | SF | AF | PF]; // ZF unaffected
op(T | 0xa3, 'bt', 'Ev,Gv', H.BT_EvGv, ...BTF);
const SHXD: [number, number] = [CF | SF | ZF | PF, OF | AF]; // OF defined for a count of 1 only
op(T | 0xa4, 'shld', 'Ev,Gv,Ib', H.SHLD_I, ...SHXD);
op(T | 0xa5, 'shld', 'Ev,Gv,CL', H.SHLD_CL, ...SHXD);
sys(T | 0xa8, 'push', 'GS', H.PUSH_SEG);
sys(T | 0xa9, 'pop', 'GS', H.POP_SEG);
op(T | 0xab, 'bts', 'Ev,Gv', H.BT_EvGv, ...BTF);
op(T | 0xac, 'shrd', 'Ev,Gv,Ib', H.SHRD_I, ...SHXD);
op(T | 0xad, 'shrd', 'Ev,Gv,CL', H.SHRD_CL, ...SHXD);
// fxsave/fxrstor: the image holds host-specific state (no SSE here), so the
// FPU's own tests cover them rather than the host oracle.
sys(T | 0xae, 'fxsave', 'M', H.FXSAVE, 0, 0, 0, 'mem');
sys(T | 0xae, 'fxrstor', 'M', H.FXRSTOR, 0, 0, 1, 'mem');
op(T | 0xaf, 'imul', 'Gv,Ev', H.IMUL_GvEv, MULF, NOTMUL);
op(T | 0xb0, 'cmpxchg', 'Eb,Gb', H.CMPXCHG_Eb, ALL);
op(T | 0xb1, 'cmpxchg', 'Ev,Gv', H.CMPXCHG_Ev, ALL);
sys(T | 0xb2, 'lss', 'Gz,Mp', H.LXS, 0, 0, undefined, 'mem');
op(T | 0xb3, 'btr', 'Ev,Gv', H.BT_EvGv, ...BTF);
sys(T | 0xb4, 'lfs', 'Gz,Mp', H.LXS, 0, 0, undefined, 'mem');
sys(T | 0xb5, 'lgs', 'Gz,Mp', H.LXS, 0, 0, undefined, 'mem');
op(T | 0xb6, 'movzx', 'Gv,Eb', H.MOVZX_Eb);
op(T | 0xb7, 'movzx', 'Gv,Ew', H.MOVZX_Ew);
grp(T | 0xba, 4, 'bt', 'Ev,Ib', H.BT_EvI, ...BTF);
grp(T | 0xba, 5, 'bts', 'Ev,Ib', H.BT_EvI, ...BTF);
grp(T | 0xba, 6, 'btr', 'Ev,Ib', H.BT_EvI, ...BTF);
grp(T | 0xba, 7, 'btc', 'Ev,Ib', H.BT_EvI, ...BTF);
op(T | 0xbb, 'btc', 'Ev,Gv', H.BT_EvGv, ...BTF);
op(T | 0xbc, 'bsf', 'Gv,Ev', H.BSF, ZF, CF | OF | SF | AF | PF);
op(T | 0xbd, 'bsr', 'Gv,Ev', H.BSR, ZF, CF | OF | SF | AF | PF);
op(T | 0xbe, 'movsx', 'Gv,Eb', H.MOVSX_Eb);
op(T | 0xbf, 'movsx', 'Gv,Ew', H.MOVSX_Ew);
op(T | 0xc0, 'xadd', 'Eb,Gb', H.XADD_Eb, ALL);
op(T | 0xc1, 'xadd', 'Ev,Gv', H.XADD_Ev, ALL);
grp(T | 0xc7, 1, 'cmpxchg8b', 'Mq', H.CMPXCHG8B, ZF, 0, 'mem');
for (let r = 0; r < 8; r++) op(T | (0xc8 + r), 'bswap', REG32[r], H.BSWAP);

export const OPCODES: readonly OpcodeEntry[] = table;
