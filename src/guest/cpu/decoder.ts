import { H } from './handler-ids';
import { x87Lookup } from './fpu/fpu-opcodes';
import { ALU_NAMES, OPCODES, OpcodeEntry, REG32, REG8, SEG_NAMES, SHIFT_NAMES } from './opcodes';

/**
 * The decoder: x86 bytes -> fixed-size records in an Int32Array, built once
 * per basic block and executed many times.
 *
 * Everything it knows about instructions comes from the opcode table: which
 * bytes follow the opcode (from the operand spec), which entry a group opcode
 * selects (ModRM.reg and register/memory form), and which handler runs it.
 */

/** Int32 slots per decoded instruction. */
export const STRIDE = 8;

/** Record slots. */
export const enum R {
  H = 0, // handler
  OFFS = 1, // start offset | end offset << 16, relative to the block's first byte
  M = 2, // ModRM-ish fields, sizes and prefixes (M bits below)
  EA = 3, // memory operand: base | index << 4 | scale << 8 | seg << 12 | a16 << 15
  DISP = 4,
  IMM = 5, // immediate; for relative jumps, the target's offset from the block start
  IMM2 = 6, // second immediate (enter's level, far pointer selector)
  X = 7, // opcode byte << 8 | ModRM byte (x87)
}

/** Bits of the R.M slot. */
export const enum M {
  RM_SHIFT = 3,
  MEM = 0x40,
  O16 = 0x80,
  A16 = 0x100,
  REP = 0x200, // F3
  REPNE = 0x400, // F2
  LOCK = 0x800,
  KIND_SHIFT = 12, // 4 bits
}

/** Bits of the R.EA slot. */
export const enum EA {
  NONE = 8, // no base / no index
  SEG_SHIFT = 12,
  A16 = 0x8000,
}

export const SEG_ES = 0;
export const SEG_CS = 1;
export const SEG_SS = 2;
export const SEG_DS = 3;

const enum Imm { NONE, B, W, Z, JB, JZ, AP, O, ONE }

interface Spec {
  entry: OpcodeEntry;
  imm1: Imm;
  imm2: Imm;
  kind: number;
  fixedRm: number; // register or segment encoded in the opcode, -1 if none
  moffs: boolean;
  rel: boolean;
}

const specs: Spec[] = [];
/** (opcode * 16 + ModRM.reg * 2 + isMem) -> spec index + 1, 0 = invalid. */
const lookup = new Int16Array(0x200 * 16);
const hasModrm = new Uint8Array(0x200);
/** 0F 20-23: the r/m field names a register whatever mod says. */
const forceReg = new Uint8Array(0x200);

/** Handlers a lock prefix is allowed on (with a memory destination; cmp and bt excepted by kind). */
const LOCKABLE = new Uint8Array(H.COUNT);
for (const h of [
  H.ALU_EbGb, H.ALU_EvGv, H.ALU_EbI, H.ALU_EvI, H.INC_Eb, H.INC_Ev, H.DEC_Eb, H.DEC_Ev, H.NOT_Eb, H.NOT_Ev,
  H.NEG_Eb, H.NEG_Ev, H.XCHG_EbGb, H.XCHG_EvGv, H.CMPXCHG_Eb, H.CMPXCHG_Ev, H.CMPXCHG8B, H.XADD_Eb, H.XADD_Ev,
  H.BT_EvGv, H.BT_EvI,
]) LOCKABLE[h] = 1;

/** Handlers after which a block ends: they change EIP, the mode, or the interrupt shadow. */
export const ENDS_BLOCK = new Uint8Array(H.COUNT);
for (const h of [
  H.UD, H.GP0, H.EXIT, H.JCC, H.JMP_J, H.CALL_J, H.RET, H.RET_I, H.JMP_Ev, H.CALL_Ev, H.JMPF_A, H.CALLF_A,
  H.JMPF_Ep, H.CALLF_Ep, H.RETF, H.RETF_I, H.LOOP, H.LOOPE, H.LOOPNE, H.JCXZ, H.INT3, H.INT_I, H.INTO,
  H.IRET, H.HLT, H.STI, H.POPF, H.MOV_SwEw, H.POP_SEG, H.LXS, H.MOV_CdRd, H.LMSW, H.CLTS, H.INVLPG,
  H.SYSENTER, H.SYSEXIT, H.UD2, H.WRMSR, H.LLDT, H.LTR, H.LGDT, H.LIDT,
]) ENDS_BLOCK[h] = 1;

function immKind(tok: string): Imm {
  switch (tok) {
    case '1': return Imm.ONE;
    case 'Ib': return Imm.B;
    case 'Iw': return Imm.W;
    case 'Iz': case 'Iv': return Imm.Z;
    case 'Jb': return Imm.JB;
    case 'Jz': return Imm.JZ;
    case 'Ap': return Imm.AP;
    case 'Ob': case 'Ov': return Imm.O;
    default: return Imm.NONE;
  }
}

function kindOf(e: OpcodeEntry): number {
  switch (e.h) {
    case H.ALU_EbGb: case H.ALU_EvGv: case H.ALU_GbEb: case H.ALU_GvEv: case H.ALU_EbI: case H.ALU_EvI:
      return ALU_NAMES.indexOf(e.mnemonic);
    case H.SHIFT_EbI: case H.SHIFT_EvI: case H.SHIFT_EbCL: case H.SHIFT_EvCL:
      return SHIFT_NAMES.indexOf(e.mnemonic) === 6 ? 4 : SHIFT_NAMES.indexOf(e.mnemonic);
    case H.JCC: case H.CMOV: case H.SETCC:
      return e.opcode & 15;
    case H.BT_EvGv: case H.BT_EvI:
      return ['bt', 'bts', 'btr', 'btc'].indexOf(e.mnemonic);
    case H.LXS:
      return ['les', 'lcs', 'lss', 'lds', 'lfs', 'lgs'].indexOf(e.mnemonic);
    default:
      return 0;
  }
}

for (const e of OPCODES) {
  const toks = e.operands === '' ? [] : e.operands.split(',');
  // x87 entries stand for a whole escape byte, which is always followed by a ModRM byte.
  const modrm = e.h === H.X87 || e.ext !== undefined || toks.some((t) => /^[EGMRCDS][a-z]?$/.test(t));
  const imms = toks.map(immKind).filter((k) => k !== Imm.NONE);
  let fixedRm = -1;
  if (toks.length > 0) {
    const t = toks[0];
    if (REG8.includes(t)) fixedRm = REG8.indexOf(t);
    else if (REG32.includes(t)) fixedRm = REG32.indexOf(t);
    else if (SEG_NAMES.includes(t)) fixedRm = SEG_NAMES.indexOf(t);
  }
  const spec: Spec = {
    entry: e,
    imm1: imms[0] ?? Imm.NONE,
    imm2: imms[1] ?? Imm.NONE,
    kind: kindOf(e),
    fixedRm,
    moffs: imms.includes(Imm.O),
    rel: imms.includes(Imm.JB) || imms.includes(Imm.JZ),
  };
  const idx = specs.push(spec);
  const op = e.opcode;
  if (modrm) hasModrm[op] = 1;
  if (toks.some((t) => t[0] === 'R')) forceReg[op] = 1;
  for (let reg = 0; reg < 8; reg++) {
    if (e.ext !== undefined && e.ext !== reg) continue;
    for (let mem = 0; mem < 2; mem++) {
      if (e.form === 'reg' && mem === 1) continue;
      if (e.form === 'mem' && mem === 0) continue;
      lookup[op * 16 + reg * 2 + mem] = idx;
    }
  }
}

/** The table entry a decoded handler came from, for logging (#UD bytes, dumps). */
export function entryFor(opcode: number, reg: number, mem: boolean): OpcodeEntry | undefined {
  const i = lookup[opcode * 16 + reg * 2 + (mem ? 1 : 0)];
  return i ? specs[i - 1].entry : undefined;
}

/** decodeOne's result when the bytes run out before the instruction does. */
export const TRUNCATED = -1;

// 16-bit addressing: base and index for each r/m value.
const BASE16 = [3, 3, 5, 5, 6, 7, 5, 3];
const INDEX16 = [6, 7, 6, 7, EA.NONE, EA.NONE, EA.NONE, EA.NONE];

/**
 * Decode one instruction from `bytes[pos..limit)` into `out[p..p+STRIDE)`.
 * Returns its length, or TRUNCATED if it extends past `limit`. Slot OFFS is
 * left to the caller; relative jump immediates are the raw displacement.
 */
export function decodeOne(bytes: Uint8Array, pos: number, limit: number, csD: boolean, out: Int32Array, p: number): number {
  let i = pos;
  let o16 = !csD;
  let a16 = !csD;
  let seg = -1;
  let rep = 0;
  let lock = 0;
  for (;;) {
    if (i >= limit) return TRUNCATED;
    if (i - pos >= 15) return gp0(out, p, 15);
    const b = bytes[i];
    if (b === 0x66) o16 = csD;
    else if (b === 0x67) a16 = csD;
    else if (b === 0xf0) lock = M.LOCK;
    else if (b === 0xf3) rep = M.REP;
    else if (b === 0xf2) rep = M.REPNE;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) seg = (b >> 3) & 3;
    else if (b === 0x64 || b === 0x65) seg = b - 0x60;
    else break;
    i++;
  }
  let op = bytes[i++];
  if (op === 0x0f) {
    if (i >= limit) return TRUNCATED;
    op = 0x100 | bytes[i++];
  }
  let reg = 0;
  let rm = 0;
  let mem = 0;
  let modrmByte = 0;
  let base: number = EA.NONE;
  let index: number = EA.NONE;
  let scale = 0;
  let disp = 0;
  let defSeg = SEG_DS;
  if (hasModrm[op]) {
    if (i >= limit) return TRUNCATED;
    modrmByte = bytes[i++];
    const mod = modrmByte >> 6;
    reg = (modrmByte >> 3) & 7;
    rm = modrmByte & 7;
    if (mod !== 3 && !forceReg[op]) {
      mem = 1;
      if (a16) {
        if (mod === 0 && rm === 6) {
          if (i + 2 > limit) return TRUNCATED;
          disp = bytes[i] | (bytes[i + 1] << 8);
          i += 2;
        } else {
          base = BASE16[rm];
          index = INDEX16[rm];
          if (base === 5) defSeg = SEG_SS;
          if (mod === 1) {
            if (i + 1 > limit) return TRUNCATED;
            disp = (bytes[i++] << 24) >> 24;
          } else if (mod === 2) {
            if (i + 2 > limit) return TRUNCATED;
            disp = bytes[i] | (bytes[i + 1] << 8);
            i += 2;
          }
        }
      } else {
        let noBaseDisp32 = false;
        if (rm === 4) {
          if (i >= limit) return TRUNCATED;
          const sib = bytes[i++];
          scale = sib >> 6;
          const ix = (sib >> 3) & 7;
          if (ix !== 4) index = ix;
          const b = sib & 7;
          if (b === 5 && mod === 0) noBaseDisp32 = true;
          else base = b;
        } else if (rm === 5 && mod === 0) {
          noBaseDisp32 = true;
        } else {
          base = rm;
        }
        if (base === 4 || base === 5) defSeg = SEG_SS;
        if (mod === 1) {
          if (i + 1 > limit) return TRUNCATED;
          disp = (bytes[i++] << 24) >> 24;
        } else if (mod === 2 || noBaseDisp32) {
          if (i + 4 > limit) return TRUNCATED;
          disp = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
          i += 4;
        }
      }
    }
  }
  const si = lookup[op * 16 + reg * 2 + mem];
  if (si === 0 || (op >= 0xd8 && op <= 0xdf && x87Lookup(op, modrmByte) === undefined)) {
    if (i - pos > 15) return gp0(out, p, i - pos);
    out[p + R.H] = H.UD;
    out[p + R.X] = (op << 8) | modrmByte;
    return i - pos;
  }
  const spec = specs[si - 1];
  if (spec.fixedRm >= 0) rm = spec.fixedRm;
  let imm = 0;
  let imm2 = 0;
  for (let n = 0; n < 2; n++) {
    const k = n === 0 ? spec.imm1 : spec.imm2;
    if (k === Imm.NONE) break;
    let v = 0;
    switch (k) {
      case Imm.ONE:
        v = 1;
        break;
      case Imm.B: case Imm.JB:
        if (i + 1 > limit) return TRUNCATED;
        v = (bytes[i++] << 24) >> 24;
        break;
      case Imm.W:
        if (i + 2 > limit) return TRUNCATED;
        v = bytes[i] | (bytes[i + 1] << 8);
        i += 2;
        break;
      case Imm.Z: case Imm.JZ: case Imm.AP: case Imm.O: {
        const wide = k === Imm.O ? !a16 : !o16;
        if (wide) {
          if (i + 4 > limit) return TRUNCATED;
          v = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
          i += 4;
        } else {
          if (i + 2 > limit) return TRUNCATED;
          v = bytes[i] | (bytes[i + 1] << 8);
          if (k === Imm.JZ) v = (v << 16) >> 16;
          i += 2;
        }
        if (k === Imm.AP) {
          if (i + 2 > limit) return TRUNCATED;
          imm2 = bytes[i] | (bytes[i + 1] << 8);
          i += 2;
        }
        break;
      }
    }
    if (k === Imm.O) {
      mem = 1;
      disp = v;
    } else if (n === 0) {
      imm = v;
    } else {
      imm2 = v;
    }
  }
  if (i - pos > 15) return gp0(out, p, i - pos);
  if (spec.moffs) rm = 0;
  const h = spec.entry.h;
  if (lock && (!LOCKABLE[h] || !mem || (spec.kind === 7 && h !== H.BT_EvGv && h !== H.BT_EvI) ||
      ((h === H.BT_EvGv || h === H.BT_EvI) && spec.kind === 0))) {
    out[p + R.H] = H.UD;
    out[p + R.X] = (op << 8) | modrmByte;
    return i - pos;
  }
  out[p + R.H] = h;
  out[p + R.M] =
    reg | (rm << M.RM_SHIFT) | (mem ? M.MEM : 0) | (o16 ? M.O16 : 0) | (a16 ? M.A16 : 0) | rep | lock | (spec.kind << M.KIND_SHIFT);
  out[p + R.EA] = base | (index << 4) | (scale << 8) | ((seg >= 0 ? seg : defSeg) << EA.SEG_SHIFT) | (a16 ? EA.A16 : 0);
  out[p + R.DISP] = disp;
  out[p + R.IMM] = imm;
  out[p + R.IMM2] = imm2;
  out[p + R.X] = (op << 8) | modrmByte;
  return i - pos;
}

function gp0(out: Int32Array, p: number, len: number): number {
  out[p + R.H] = H.GP0;
  return len;
}

/** True for handlers whose IMM is a relative jump displacement. */
export function isRelative(h: number): boolean {
  return h === H.JCC || h === H.JMP_J || h === H.CALL_J || h === H.LOOP || h === H.LOOPE || h === H.LOOPNE || h === H.JCXZ;
}
