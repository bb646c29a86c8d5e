import {
  alu, cond, dec, DIV_REM, divu64, inc, logic, MASK, materialize, MUL_HI, mulu32, muls32, neg, setRes, shift,
  shiftDouble,
} from './alu';
import type { Cpu } from './cpu';
import { CR0_EM, CR0_TS, SS } from './control';
import { M, R } from './decoder';
import { deliverEvent, Src } from './delivery';
import { peekCode } from './dump';
import { farCall, farJump } from './far';
import { fault, Vec } from './fault';
import { AF, CF, ZF } from './flags';
import { H } from './handler-ids';
import { loadSeg } from './segments';
import * as sys from './system';

/**
 * The less frequent halves of the executor: operand forms that are not the
 * 32-bit fast path, and instructions with more logic than belongs inline in
 * exec.ts's switch. Arguments follow exec.ts: `p` is the record, `m` its
 * R.M slot.
 */

// ---- EIPs -----------------------------------------------------------------------

export function curEip(cpu: Cpu, beip: number, p: number): number {
  const e = beip + (cpu.code[p + R.OFFS] & 0xffff);
  return cpu.csD ? e | 0 : e & 0xffff;
}

export function nextEip(cpu: Cpu, beip: number, p: number): number {
  const e = beip + (cpu.code[p + R.OFFS] >>> 16);
  return cpu.csD ? e | 0 : e & 0xffff;
}

/** Relative jump target; `rel` is already relative to the block start. */
export function jumpTarget(beip: number, rel: number, m: number): number {
  const t = beip + rel;
  return m & M.O16 ? t & 0xffff : t | 0;
}

// ---- operands ---------------------------------------------------------------------

export function readEv(cpu: Cpu, p: number, m: number): number {
  if (m & M.MEM) return m & M.O16 ? cpu.mmu.rd16(cpu.linR(p, 2)) : cpu.mmu.rd32(cpu.linR(p, 4));
  const r = cpu.regs[(m >> 3) & 7];
  return m & M.O16 ? r & 0xffff : r;
}

export function readEb(cpu: Cpu, p: number, m: number): number {
  return m & M.MEM ? cpu.mmu.rd8(cpu.linR(p, 1)) : cpu.reg8((m >> 3) & 7);
}

export function writeEv(cpu: Cpu, p: number, m: number, v: number): void {
  if (m & M.MEM) {
    if (m & M.O16) cpu.mmu.wr16(cpu.linW(p, 2), v & 0xffff);
    else cpu.mmu.wr32(cpu.linW(p, 4), v);
  } else if (m & M.O16) {
    cpu.setReg16((m >> 3) & 7, v);
  } else {
    cpu.regs[(m >> 3) & 7] = v;
  }
}

export function writeEb(cpu: Cpu, p: number, m: number, v: number): void {
  if (m & M.MEM) cpu.mmu.wr8(cpu.linW(p, 1), v & 0xff);
  else cpu.setReg8((m >> 3) & 7, v);
}

function rd(cpu: Cpu, lin: number, s: number): number {
  return s === 0 ? cpu.mmu.rd8(lin) : s === 1 ? cpu.mmu.rd16(lin) : cpu.mmu.rd32(lin);
}

function wr(cpu: Cpu, lin: number, s: number, v: number): void {
  if (s === 0) cpu.mmu.wr8(lin, v & 0xff);
  else if (s === 1) cpu.mmu.wr16(lin, v & 0xffff);
  else cpu.mmu.wr32(lin, v);
}

/** Register `r` of size s (0 byte, 1 word, 2 dword). */
function getReg(cpu: Cpu, r: number, s: number): number {
  return s === 0 ? cpu.reg8(r) : s === 1 ? cpu.regs[r] & 0xffff : cpu.regs[r];
}

function setReg(cpu: Cpu, r: number, s: number, v: number): void {
  if (s === 0) cpu.setReg8(r, v);
  else if (s === 1) cpu.setReg16(r, v);
  else cpu.regs[r] = v;
}

function vsize(m: number): number {
  return m & M.O16 ? 1 : 2;
}

const BYTES = [1, 2, 4];

// ---- ALU forms off the fast path -------------------------------------------------------

export function aluEvGv16(cpu: Cpu, p: number, m: number, k: number): void {
  aluE(cpu, p, m, k, cpu.regs[m & 7] & 0xffff, 1);
}

export function aluEvI16(cpu: Cpu, p: number, m: number, k: number, imm: number): void {
  aluE(cpu, p, m, k, imm, 1);
}

export function aluEb(cpu: Cpu, p: number, m: number, k: number, b: number): void {
  aluE(cpu, p, m, k, b, 0);
}

function aluE(cpu: Cpu, p: number, m: number, k: number, b: number, s: number): void {
  if (k === 7) {
    const a = m & M.MEM ? rd(cpu, cpu.linR(p, BYTES[s]), s) : getReg(cpu, (m >> 3) & 7, s);
    alu(cpu, 7, a, b, s);
    return;
  }
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    wr(cpu, lin, s, alu(cpu, k, rd(cpu, lin, s), b, s));
  } else {
    const rm = (m >> 3) & 7;
    setReg(cpu, rm, s, alu(cpu, k, getReg(cpu, rm, s), b, s));
  }
}

export function incDecEv(cpu: Cpu, p: number, m: number, up: boolean): void {
  const s = vsize(m);
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const v = rd(cpu, lin, s);
    wr(cpu, lin, s, up ? inc(cpu, v, s) : dec(cpu, v, s));
  } else {
    const rm = (m >> 3) & 7;
    const v = getReg(cpu, rm, s);
    setReg(cpu, rm, s, up ? inc(cpu, v, s) : dec(cpu, v, s));
  }
}

export function incDecEb(cpu: Cpu, p: number, m: number, up: boolean): void {
  if (m & M.MEM) {
    const lin = cpu.linW(p, 1);
    const v = cpu.mmu.rd8(lin);
    cpu.mmu.wr8(lin, up ? inc(cpu, v, 0) : dec(cpu, v, 0));
  } else {
    const rm = (m >> 3) & 7;
    const v = cpu.reg8(rm);
    cpu.setReg8(rm, up ? inc(cpu, v, 0) : dec(cpu, v, 0));
  }
}

/** not (op 0) / neg (op 1) of a byte. */
export function rmwEb(cpu: Cpu, p: number, m: number, op: number): void {
  rmwOp(cpu, p, m, op, 0);
}

export function rmwEv(cpu: Cpu, p: number, m: number, op: number): void {
  rmwOp(cpu, p, m, op, vsize(m));
}

function rmwOp(cpu: Cpu, p: number, m: number, op: number, s: number): void {
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const v = rd(cpu, lin, s);
    wr(cpu, lin, s, op === 0 ? ~v & MASK[s] : neg(cpu, v, s));
  } else {
    const rm = (m >> 3) & 7;
    const v = getReg(cpu, rm, s);
    setReg(cpu, rm, s, op === 0 ? ~v & MASK[s] : neg(cpu, v, s));
  }
}

// ---- multiply and divide --------------------------------------------------------------------

export function mulDivEb(cpu: Cpu, h: number, src: number): void {
  const regs = cpu.regs;
  switch (h) {
    case H.MUL_Eb: {
      const r = (regs[0] & 0xff) * src;
      cpu.setReg16(0, r);
      const cf = r > 0xff ? 1 : 0;
      setRes(cpu, r & 0xff, 0, cf, cf);
      break;
    }
    case H.IMUL_Eb: {
      const r = ((regs[0] << 24) >> 24) * ((src << 24) >> 24);
      cpu.setReg16(0, r);
      const cf = r !== (r << 24) >> 24 ? 1 : 0;
      setRes(cpu, r & 0xff, 0, cf, cf);
      break;
    }
    case H.DIV_Eb: {
      if (src === 0) fault(Vec.DE);
      const n = regs[0] & 0xffff;
      const q = Math.floor(n / src);
      if (q > 0xff) fault(Vec.DE);
      cpu.setReg16(0, ((n % src) << 8) | q);
      break;
    }
    default: {
      const d = (src << 24) >> 24;
      if (d === 0) fault(Vec.DE);
      const n = (regs[0] << 16) >> 16;
      const q = Math.trunc(n / d);
      if (q > 127 || q < -128) fault(Vec.DE);
      cpu.setReg16(0, (((n % d) & 0xff) << 8) | (q & 0xff));
    }
  }
}

export function mulDivEv(cpu: Cpu, h: number, src: number, o16: boolean): void {
  const regs = cpu.regs;
  if (o16) {
    switch (h) {
      case H.MUL_Ev: {
        const r = (regs[0] & 0xffff) * src;
        cpu.setReg16(0, r);
        cpu.setReg16(2, r >>> 16);
        const cf = r > 0xffff ? 1 : 0;
        setRes(cpu, r & 0xffff, 1, cf, cf);
        break;
      }
      case H.IMUL_Ev: {
        const r = ((regs[0] << 16) >> 16) * ((src << 16) >> 16);
        cpu.setReg16(0, r);
        cpu.setReg16(2, r >> 16);
        const cf = r !== (r << 16) >> 16 ? 1 : 0;
        setRes(cpu, r & 0xffff, 1, cf, cf);
        break;
      }
      case H.DIV_Ev: {
        if (src === 0) fault(Vec.DE);
        const n = (((regs[2] & 0xffff) << 16) | (regs[0] & 0xffff)) >>> 0;
        const q = Math.floor(n / src);
        if (q > 0xffff) fault(Vec.DE);
        cpu.setReg16(0, q);
        cpu.setReg16(2, n % src);
        break;
      }
      default: {
        const d = (src << 16) >> 16;
        if (d === 0) fault(Vec.DE);
        const n = (regs[2] << 16) | (regs[0] & 0xffff);
        const q = Math.trunc(n / d);
        if (q > 32767 || q < -32768) fault(Vec.DE);
        cpu.setReg16(0, q);
        cpu.setReg16(2, n % d);
      }
    }
    return;
  }
  switch (h) {
    case H.MUL_Ev: {
      regs[0] = mulu32(regs[0], src);
      regs[2] = MUL_HI[0];
      const cf = regs[2] !== 0 ? 1 : 0;
      setRes(cpu, regs[0], 2, cf, cf);
      break;
    }
    case H.IMUL_Ev: {
      regs[0] = muls32(regs[0], src);
      regs[2] = MUL_HI[0];
      const cf = regs[2] !== regs[0] >> 31 ? 1 : 0;
      setRes(cpu, regs[0], 2, cf, cf);
      break;
    }
    case H.DIV_Ev: {
      const d = src >>> 0;
      if (d === 0) fault(Vec.DE);
      const hi = regs[2] >>> 0;
      if (hi >= d) fault(Vec.DE);
      const q = divu64(hi, regs[0], d);
      regs[0] = q;
      regs[2] = DIV_REM[0];
      break;
    }
    default:
      idiv32(cpu, src);
  }
}

function idiv32(cpu: Cpu, src: number): void {
  const regs = cpu.regs;
  if (src === 0) fault(Vec.DE);
  const negN = regs[2] < 0;
  let lo = regs[0] >>> 0;
  let hi = regs[2] >>> 0;
  if (negN) {
    // two's complement of the 64-bit dividend
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    lo = -lo >>> 0;
  }
  const negD = src < 0;
  const d = negD ? -src >>> 0 : src >>> 0;
  if (hi >= d) fault(Vec.DE);
  const q = divu64(hi, lo, d);
  const r = DIV_REM[0];
  const negQ = negN !== negD;
  if (negQ ? q > 0x80000000 : q > 0x7fffffff) fault(Vec.DE);
  regs[0] = negQ ? -q : q;
  regs[2] = negN ? -r : r;
}

/** imul Gv, Ev[, imm]. */
export function imul2(cpu: Cpu, m: number, a: number, b: number): void {
  const g = m & 7;
  if (m & M.O16) {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    cpu.setReg16(g, r);
    const cf = r !== (r << 16) >> 16 ? 1 : 0;
    setRes(cpu, r & 0xffff, 1, cf, cf);
  } else {
    // The exact product fits a double unless it is far outside int32 anyway.
    const lo = Math.imul(a, b);
    const cf = a * b !== lo ? 1 : 0;
    cpu.regs[g] = lo;
    setRes(cpu, lo, 2, cf, cf);
  }
}

// ---- shifts and bits -------------------------------------------------------------------------

export function shiftEv(cpu: Cpu, p: number, m: number, count: number): void {
  shiftE(cpu, p, m, count, vsize(m));
}

export function shiftEb(cpu: Cpu, p: number, m: number, count: number): void {
  shiftE(cpu, p, m, count, 0);
}

/** A zero count changes nothing, but a memory operand is still checked for writing, as hardware does. */
function shiftE(cpu: Cpu, p: number, m: number, count: number, s: number): void {
  const k = (m >> M.KIND_SHIFT) & 7;
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const v = rd(cpu, lin, s);
    if (count !== 0) wr(cpu, lin, s, shift(cpu, k, v, count, s));
  } else if (count !== 0) {
    const rm = (m >> 3) & 7;
    setReg(cpu, rm, s, shift(cpu, k, getReg(cpu, rm, s), count, s));
  }
}

export function shiftDoubleEv(cpu: Cpu, p: number, m: number, left: boolean, count: number): void {
  const s = vsize(m);
  const src = getReg(cpu, m & 7, s);
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const v = rd(cpu, lin, s);
    if (count !== 0) wr(cpu, lin, s, shiftDouble(cpu, left, v, src, count, s));
  } else if (count !== 0) {
    const rm = (m >> 3) & 7;
    setReg(cpu, rm, s, shiftDouble(cpu, left, getReg(cpu, rm, s), src, count, s));
  }
}

/** bt/bts/btr/btc; `off` is the bit offset (a register: may address outside the operand in memory). */
export function bitTest(cpu: Cpu, p: number, m: number, off: number, regOffset: boolean): void {
  const k = (m >> M.KIND_SHIFT) & 3;
  const s = vsize(m);
  const bits = s === 1 ? 16 : 32;
  let v: number;
  let bit: number;
  let lin = 0;
  if (m & M.MEM) {
    let disp = 0;
    if (regOffset) {
      const o = s === 1 ? (off << 16) >> 16 : off;
      disp = s === 1 ? (o >> 4) * 2 : (o >> 5) * 4;
      bit = o & (bits - 1);
    } else {
      bit = off & (bits - 1);
    }
    let ea = (cpu.ea(p) + disp) | 0;
    if (m & M.A16) ea &= 0xffff;
    lin = cpu.segLin((cpu.code[p + R.EA] >> 12) & 7, ea, BYTES[s], k !== 0);
    v = rd(cpu, lin, s);
  } else {
    bit = off & (bits - 1);
    v = getReg(cpu, (m >> 3) & 7, s);
  }
  const cf = (v >>> bit) & 1;
  if (k !== 0) {
    const nv = k === 1 ? v | (1 << bit) : k === 2 ? v & ~(1 << bit) : v ^ (1 << bit);
    if (m & M.MEM) wr(cpu, lin, s, nv);
    else setReg(cpu, (m >> 3) & 7, s, nv);
  }
  materialize(cpu);
  cpu.flags = (cpu.flags & ~CF) | cf;
}

export function bitScan(cpu: Cpu, m: number, v: number, reverse: boolean): void {
  materialize(cpu);
  if (v === 0) {
    cpu.flags |= ZF;
    return;
  }
  cpu.flags &= ~ZF;
  const idx = reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v);
  if (m & M.O16) cpu.setReg16(m & 7, idx);
  else cpu.regs[m & 7] = idx;
}

// ---- atomics -------------------------------------------------------------------------------------

export function cmpxchg(cpu: Cpu, p: number, m: number, s: number): void {
  const acc = getReg(cpu, 0, s);
  const src = getReg(cpu, m & 7, s);
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const dest = rd(cpu, lin, s);
    alu(cpu, 7, acc, dest, s);
    if (acc === dest) {
      wr(cpu, lin, s, src);
    } else {
      wr(cpu, lin, s, dest);
      setReg(cpu, 0, s, dest);
    }
  } else {
    const rm = (m >> 3) & 7;
    const dest = getReg(cpu, rm, s);
    alu(cpu, 7, acc, dest, s);
    if (acc === dest) setReg(cpu, rm, s, src);
    else setReg(cpu, 0, s, dest);
  }
}

export function cmpxchg8b(cpu: Cpu, p: number): void {
  const regs = cpu.regs;
  const lin = cpu.linW(p, 8);
  cpu.mmu.checkWrite(lin, 8);
  const lo = cpu.mmu.rd32(lin);
  const hi = cpu.mmu.rd32((lin + 4) | 0);
  materialize(cpu);
  if (lo === regs[0] && hi === regs[2]) {
    cpu.mmu.wr32(lin, regs[3]);
    cpu.mmu.wr32((lin + 4) | 0, regs[1]);
    cpu.flags |= ZF;
  } else {
    regs[0] = lo;
    regs[2] = hi;
    cpu.flags &= ~ZF;
  }
}

export function xadd(cpu: Cpu, p: number, m: number, s: number): void {
  const g = m & 7;
  const src = getReg(cpu, g, s);
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const dest = rd(cpu, lin, s);
    const sum = alu(cpu, 0, dest, src, s);
    wr(cpu, lin, s, sum);
    setReg(cpu, g, s, dest);
  } else {
    const rm = (m >> 3) & 7;
    const dest = getReg(cpu, rm, s);
    const sum = alu(cpu, 0, dest, src, s);
    setReg(cpu, g, s, dest);
    setReg(cpu, rm, s, sum);
  }
}

export function xchg(cpu: Cpu, p: number, m: number, s: number): void {
  const g = m & 7;
  const src = getReg(cpu, g, s);
  if (m & M.MEM) {
    const lin = cpu.linW(p, BYTES[s]);
    const old = rd(cpu, lin, s);
    wr(cpu, lin, s, src);
    setReg(cpu, g, s, old);
  } else {
    const rm = (m >> 3) & 7;
    setReg(cpu, g, s, getReg(cpu, rm, s));
    setReg(cpu, rm, s, src);
  }
}

// ---- BCD ------------------------------------------------------------------------------------------

/** daa das aaa aas, as the SDM's pseudocode has them (aaa/aas: the P6 AX +/- 106h form). */
export function bcdAdjust(cpu: Cpu, h: number): void {
  materialize(cpu);
  const f = cpu.flags;
  const al = cpu.reg8(0);
  const oldCf = f & CF;
  const adjust = (al & 0xf) > 9 || (f & AF) !== 0;
  let cf = 0;
  let af = 0;
  switch (h) {
    case H.DAA: {
      let v = al;
      if (adjust) {
        v = al + 6;
        cf = oldCf | (v > 0xff ? 1 : 0);
        af = AF;
        v &= 0xff;
      }
      if (al > 0x99 || oldCf) {
        v = (v + 0x60) & 0xff;
        cf = 1;
      } else {
        cf = 0;
      }
      setDecimal(cpu, v, cf, af);
      return;
    }
    case H.DAS: {
      let v = al;
      if (adjust) {
        cf = oldCf | (al < 6 ? 1 : 0);
        v = (al - 6) & 0xff;
        af = AF;
      }
      if (al > 0x99 || oldCf) {
        v = (v - 0x60) & 0xff;
        cf = 1;
      }
      setDecimal(cpu, v, cf, af);
      return;
    }
    case H.AAA: {
      if (adjust) cpu.setReg16(0, cpu.regs[0] + 0x106);
      cpu.setReg8(0, cpu.reg8(0) & 0xf);
      cpu.flags = (cpu.flags & ~(CF | AF)) | (adjust ? CF | AF : 0);
      return;
    }
    default: {
      if (adjust) {
        cpu.setReg16(0, cpu.regs[0] - 6);
        cpu.setReg8(4, cpu.reg8(4) - 1);
      }
      cpu.setReg8(0, cpu.reg8(0) & 0xf);
      cpu.flags = (cpu.flags & ~(CF | AF)) | (adjust ? CF | AF : 0);
    }
  }
}

/** AL = v with SF ZF PF from it, CF and AF as given, OF cleared. */
function setDecimal(cpu: Cpu, v: number, cf: number, af: number): void {
  cpu.setReg8(0, v);
  logic(cpu, v, 0);
  materialize(cpu);
  cpu.flags = (cpu.flags & ~(CF | AF)) | cf | af;
}

export function aam(cpu: Cpu, imm: number): void {
  if (imm === 0) fault(Vec.DE);
  const al = cpu.reg8(0);
  const v = al % imm;
  cpu.setReg16(0, (Math.floor(al / imm) << 8) | v);
  logic(cpu, v, 0);
}

export function aad(cpu: Cpu, imm: number): void {
  const v = (cpu.reg8(0) + cpu.reg8(4) * imm) & 0xff;
  cpu.setReg16(0, v);
  logic(cpu, v, 0);
}

// ---- misc ---------------------------------------------------------------------------------------------

export function bound(cpu: Cpu, p: number, m: number): void {
  const o16 = (m & M.O16) !== 0;
  const lin = cpu.linR(p, o16 ? 4 : 8);
  let lo: number;
  let hi: number;
  let idx: number;
  if (o16) {
    lo = (cpu.mmu.rd16(lin) << 16) >> 16;
    hi = (cpu.mmu.rd16((lin + 2) | 0) << 16) >> 16;
    idx = (cpu.regs[m & 7] << 16) >> 16;
  } else {
    lo = cpu.mmu.rd32(lin);
    hi = cpu.mmu.rd32((lin + 4) | 0);
    idx = cpu.regs[m & 7];
  }
  if (idx < lo || idx > hi) fault(Vec.BR);
}

/** les lds lss lfs lgs. */
export function loadFarPointer(cpu: Cpu, p: number, m: number): void {
  const seg = (m >> M.KIND_SHIFT) & 7;
  const o16 = (m & M.O16) !== 0;
  const n = o16 ? 2 : 4;
  const lin = cpu.linR(p, n + 2);
  const off = o16 ? cpu.mmu.rd16(lin) : cpu.mmu.rd32(lin);
  const sel = cpu.mmu.rd16((lin + n) | 0);
  loadSeg(cpu, seg, sel);
  if (o16) cpu.setReg16(m & 7, off);
  else cpu.regs[m & 7] = off;
  if (seg === SS) cpu.shadow = true;
}

/** pop Ev: a memory destination based on ESP sees ESP after the pop. */
export function popEv(cpu: Cpu, p: number, m: number): void {
  const o16 = (m & M.O16) !== 0;
  const v = o16 ? cpu.stackRead16(0) : cpu.stackRead32(0);
  const esp = cpu.regs[4];
  cpu.setSp(esp + (o16 ? 2 : 4));
  try {
    writeEv(cpu, p, m, v);
  } catch (e) {
    cpu.regs[4] = esp;
    throw e;
  }
}

export function pusha(cpu: Cpu, o16: boolean): void {
  const n = o16 ? 2 : 4;
  const regs = cpu.regs;
  const sp = (regs[4] - 8 * n) & cpu.ssMask;
  const lin = cpu.segLin(SS, sp, 8 * n, true);
  cpu.mmu.checkWrite(lin, 8 * n);
  for (let i = 0; i < 8; i++) {
    const a = (lin + (7 - i) * n) | 0;
    if (o16) cpu.mmu.wr16(a, regs[i] & 0xffff);
    else cpu.mmu.wr32(a, regs[i]);
  }
  cpu.setSp(sp);
}

const POPA = new Int32Array(8);
export function popa(cpu: Cpu, o16: boolean): void {
  const n = o16 ? 2 : 4;
  for (let i = 0; i < 8; i++) POPA[i] = o16 ? cpu.stackRead16((7 - i) * n) : cpu.stackRead32((7 - i) * n);
  for (let i = 0; i < 8; i++) {
    if (i === 4) continue;
    if (o16) cpu.setReg16(i, POPA[i]);
    else cpu.regs[i] = POPA[i];
  }
  cpu.setSp(cpu.regs[4] + 8 * n);
}

export function enter(cpu: Cpu, o16: boolean, size: number, level: number): void {
  const regs = cpu.regs;
  const esp = regs[4];
  const ebp = regs[5];
  const n = o16 ? 2 : 4;
  const push = (v: number): void => (o16 ? cpu.push16(v) : cpu.push32(v));
  try {
    push(ebp);
    const frame = regs[4] & cpu.ssMask;
    if (level > 0) {
      let bp = ebp & cpu.ssMask;
      for (let i = 1; i < level; i++) {
        bp = (bp - n) & cpu.ssMask;
        const lin = cpu.segLin(SS, bp, n, false);
        push(o16 ? cpu.mmu.rd16(lin) : cpu.mmu.rd32(lin));
      }
      push(frame);
    }
    if (o16) cpu.setReg16(5, frame);
    else regs[5] = frame;
    cpu.setSp(regs[4] - size);
  } catch (e) {
    regs[4] = esp;
    regs[5] = ebp;
    throw e;
  }
}

export function leave(cpu: Cpu, o16: boolean): void {
  const bp = cpu.regs[5] & cpu.ssMask;
  const n = o16 ? 2 : 4;
  const lin = cpu.segLin(SS, bp, n, false);
  const v = o16 ? cpu.mmu.rd16(lin) : cpu.mmu.rd32(lin);
  cpu.setSp(bp + n);
  if (o16) cpu.setReg16(5, v);
  else cpu.regs[5] = v;
}

/** loop/loope/loopne/jcxz: whether to jump (the count register is updated here). */
export function loop(cpu: Cpu, h: number, m: number): boolean {
  const regs = cpu.regs;
  const a16 = (m & M.A16) !== 0;
  if (h === H.JCXZ) return (a16 ? regs[1] & 0xffff : regs[1]) === 0;
  let c: number;
  if (a16) {
    c = (regs[1] - 1) & 0xffff;
    cpu.setReg16(1, c);
  } else {
    c = regs[1] = (regs[1] - 1) | 0;
  }
  if (c === 0) return false;
  if (h === H.LOOPE) return cond(cpu, 4);
  if (h === H.LOOPNE) return cond(cpu, 5);
  return true;
}

/** jmp far / call far through a memory pointer (m16:16 or m16:32). */
export function farIndirect(cpu: Cpu, p: number, m: number, call: boolean, next: number): void {
  const o16 = (m & M.O16) !== 0;
  const n = o16 ? 2 : 4;
  const lin = cpu.linR(p, n + 2);
  const off = o16 ? cpu.mmu.rd16(lin) : cpu.mmu.rd32(lin);
  const sel = cpu.mmu.rd16((lin + n) | 0);
  if (call) farCall(cpu, sel, off, o16, next);
  else farJump(cpu, sel, off, next);
}

/** int n / int3 / into: a fault in the delivery belongs to this instruction. */
export function softInt(cpu: Cpu, beip: number, p: number, vector: number): void {
  cpu.eip = curEip(cpu, beip, p);
  deliverEvent(cpu, vector, Src.SOFT, false, 0, nextEip(cpu, beip, p));
}

export function strSize(h: number, byteHandler: number, m: number): number {
  return h === byteHandler ? 1 : m & M.O16 ? 2 : 4;
}

/** cmps/scas repeat: 0 none, 1 repe (F3), 2 repne (F2). */
export function repKind(m: number): number {
  return m & M.REP ? 1 : m & M.REPNE ? 2 : 0;
}

export function fxsaveRestore(cpu: Cpu, p: number, save: boolean): void {
  if (cpu.cr0 & CR0_EM) fault(Vec.UD);
  if (cpu.cr0 & CR0_TS) fault(Vec.NM);
  const lin = save ? cpu.linW(p, 512) : cpu.linR(p, 512);
  if (lin & 15) fault(Vec.GP, 0);
  if (save) cpu.fpu.fxsave(lin);
  else cpu.fpu.fxrstor(lin);
}

export function undefinedOpcode(cpu: Cpu, beip: number, p: number): never {
  cpu.eip = curEip(cpu, beip, p);
  cpu.log(`#UD at ${cpu.segSel[1].toString(16)}:${(cpu.eip >>> 0).toString(16)}: ${peekCode(cpu, 8)}`);
  return fault(Vec.UD);
}

// ---- system instructions ----------------------------------------------------------------------------

function readEw(cpu: Cpu, p: number, m: number): number {
  return m & M.MEM ? cpu.mmu.rd16(cpu.linR(p, 2)) : cpu.regs[(m >> 3) & 7] & 0xffff;
}

/** Store a selector-sized result: 16 bits to memory, zero-extended into a 32-bit register. */
function storeSel(cpu: Cpu, p: number, m: number, v: number): void {
  if (m & M.MEM) cpu.mmu.wr16(cpu.linW(p, 2), v & 0xffff);
  else if (m & M.O16) cpu.setReg16((m >> 3) & 7, v);
  else cpu.regs[(m >> 3) & 7] = v;
}

function setZF(cpu: Cpu, on: boolean): void {
  materialize(cpu);
  cpu.flags = on ? cpu.flags | ZF : cpu.flags & ~ZF;
}

/**
 * Privileged and descriptor-table instructions. Returns true when the
 * instruction transferred control (sysenter, sysexit): EIP is already set.
 */
export function system(cpu: Cpu, p: number, m: number, h: number, beip: number): boolean {
  const regs = cpu.regs;
  switch (h) {
    case H.ARPL: {
      sys.requireProtected(cpu);
      const dest = readEw(cpu, p, m);
      const src = regs[m & 7] & 0xffff;
      if ((dest & 3) < (src & 3)) {
        const v = (dest & ~3) | (src & 3);
        if (m & M.MEM) cpu.mmu.wr16(cpu.linW(p, 2), v);
        else cpu.setReg16((m >> 3) & 7, v);
        setZF(cpu, true);
      } else {
        setZF(cpu, false);
      }
      return false;
    }
    case H.LAR: case H.LSL: {
      const v = sys.larLsl(cpu, readEw(cpu, p, m), h === H.LSL);
      if (v !== -1) {
        if (m & M.O16) cpu.setReg16(m & 7, v);
        else regs[m & 7] = v;
      }
      setZF(cpu, v !== -1);
      return false;
    }
    case H.VERR: case H.VERW:
      setZF(cpu, sys.verify(cpu, readEw(cpu, p, m), h === H.VERW));
      return false;
    case H.SLDT:
      sys.requireProtected(cpu);
      storeSel(cpu, p, m, cpu.ldtSel);
      return false;
    case H.STR:
      sys.requireProtected(cpu);
      storeSel(cpu, p, m, cpu.trSel);
      return false;
    case H.LLDT:
      sys.lldt(cpu, readEw(cpu, p, m));
      return false;
    case H.LTR:
      sys.ltr(cpu, readEw(cpu, p, m));
      return false;
    case H.SGDT: case H.SIDT: {
      const lin = cpu.linW(p, 6);
      cpu.mmu.checkWrite(lin, 6);
      const gdt = h === H.SGDT;
      cpu.mmu.wr16(lin, gdt ? cpu.gdtLimit : cpu.idtLimit);
      const base = gdt ? cpu.gdtBase : cpu.idtBase;
      cpu.mmu.wr32((lin + 2) | 0, m & M.O16 ? base & 0xffffff : base);
      return false;
    }
    case H.LGDT: case H.LIDT: {
      sys.requireCpl0(cpu);
      const lin = cpu.linR(p, 6);
      const limit = cpu.mmu.rd16(lin);
      let base = cpu.mmu.rd32((lin + 2) | 0);
      if (m & M.O16) base &= 0xffffff;
      if (h === H.LGDT) {
        cpu.gdtBase = base;
        cpu.gdtLimit = limit;
      } else {
        cpu.idtBase = base;
        cpu.idtLimit = limit;
      }
      return false;
    }
    case H.SMSW:
      if (m & M.MEM) cpu.mmu.wr16(cpu.linW(p, 2), cpu.cr0 & 0xffff);
      else if (m & M.O16) cpu.setReg16((m >> 3) & 7, cpu.cr0);
      else regs[(m >> 3) & 7] = cpu.cr0;
      return false;
    case H.LMSW: {
      sys.requireCpl0(cpu);
      const v = readEw(cpu, p, m);
      cpu.cr0 = (cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & 1);
      return false;
    }
    case H.INVLPG:
      sys.requireCpl0(cpu);
      cpu.mmu.invlpg((cpu.segBase[(cpu.code[p + R.EA] >> 12) & 7] + cpu.ea(p)) | 0);
      return false;
    case H.CLTS:
      sys.requireCpl0(cpu);
      cpu.cr0 = cpu.cr0 & ~CR0_TS;
      return false;
    case H.INVD: case H.WBINVD:
      sys.requireCpl0(cpu);
      return false;
    case H.MOV_RdCd:
      regs[(m >> 3) & 7] = sys.movFromCr(cpu, m & 7);
      return false;
    case H.MOV_CdRd:
      sys.movToCr(cpu, m & 7, regs[(m >> 3) & 7]);
      return false;
    case H.MOV_RdDd:
      regs[(m >> 3) & 7] = sys.movFromDr(cpu, m & 7);
      return false;
    case H.MOV_DdRd:
      sys.movToDr(cpu, m & 7, regs[(m >> 3) & 7]);
      return false;
    case H.RDMSR:
      sys.rdmsr(cpu);
      return false;
    case H.WRMSR:
      sys.wrmsr(cpu);
      return false;
    case H.SYSENTER:
      sys.sysenter(cpu);
      return true;
    case H.SYSEXIT:
      sys.sysexit(cpu);
      return true;
    default:
      throw new Error(`no handler for decoded instruction ${h} at ${curEip(cpu, beip, p).toString(16)}`);
  }
}
