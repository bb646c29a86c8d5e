import type { Cpu } from './cpu';
import { CS, SS } from './control';
import { FAULT, fault, isContributory, VECTOR_NAMES, Vec } from './fault';
import { AC, AF, CF, DF, ID, IF, IOPL, NT, OF, PF, RF, SF, TF, VM, ZF } from './flags';
import {
  D_DB, D_P, descBase, descDpl, descLimit, descType, fetchDesc, isCode, isConforming, loadReal, nullInaccessible,
  D_CACHE, D_S,
} from './segments';
import { pushErrorOnNewTask, taskSwitch, TaskReason } from './task';
import { GuestError } from '../guest-error';

/** Where an event comes from: it decides the DPL check and the EXT bit of error codes. */
export const enum Src {
  /** A CPU exception (#PF, #GP, #DB...). */
  EXC = 0,
  /** int n, int3, into: the gate's DPL is checked against CPL. */
  SOFT = 1,
  /** An external interrupt from the PIC. */
  HW = 2,
}

/** Values pushed by one delivery, reused so delivery does not allocate. */
const FRAME = new Int32Array(6);

/**
 * Deliver an exception or interrupt, with the double-fault rules: a
 * contributory fault while delivering a contributory one, or a page fault or
 * contributory fault while delivering a page fault, becomes #DF; any fault
 * while delivering #DF is a triple fault, which ends the guest. Other nested
 * faults are delivered in turn. `retEip` is the EIP the handler returns to
 * (the faulting instruction for faults, the next one for traps and
 * interrupts); a fault during delivery reports cpu.eip, which is still the
 * instruction that caused the event.
 */
export function deliverEvent(cpu: Cpu, vector: number, src: Src, hasErr: boolean, err: number, retEip: number): void {
  let v = vector;
  let s = src;
  let he = hasErr;
  let ec = err;
  let ret = retEip;
  const firstVector = vector;
  const firstSrc = src;
  const firstErr = err;
  for (;;) {
    try {
      deliverOnce(cpu, v, s, he, ec, ret);
      cpu.delivered = true;
      return;
    } catch (e) {
      if (e !== FAULT) throw e;
      const v2 = FAULT.vector;
      if (s === Src.EXC && v === Vec.DF) {
        cpu.tripleFault(
          `${describe(v2, FAULT.errorCode)} while delivering #DF double fault ` +
            `(first: ${firstSrc === Src.EXC ? describe(firstVector, firstErr) : `interrupt 0x${firstVector.toString(16)}`})`,
        );
      }
      if (s === Src.EXC && ((isContributory(v) && isContributory(v2)) || (v === Vec.PF && (v2 === Vec.PF || isContributory(v2))))) {
        v = Vec.DF;
        he = true;
        ec = 0;
      } else {
        v = v2;
        he = FAULT.hasErrorCode;
        ec = FAULT.errorCode;
      }
      s = Src.EXC;
      ret = cpu.eip;
    }
  }
}

function describe(v: number, err: number): string {
  return `${VECTOR_NAMES[v] ?? `vector ${v}`} (error 0x${err.toString(16)})`;
}

function deliverOnce(cpu: Cpu, v: number, src: Src, hasErr: boolean, err: number, ret: number): void {
  if (!cpu.protectedMode) return deliverReal(cpu, v, ret);
  if (cpu.flags & VM) throw new GuestError('virtual-8086 mode is not supported');
  const mmu = cpu.mmu;
  const ext = src === Src.SOFT ? 0 : 1;
  const gateErr = v * 8 + 2 + ext;
  if (v * 8 + 7 > cpu.idtLimit) fault(Vec.GP, gateErr);
  const addr = (cpu.idtBase + v * 8) | 0;
  const lo = mmu.rdSys32(addr);
  const hi = mmu.rdSys32((addr + 4) | 0);
  const type = (hi >> 8) & 0x1f;
  if (type !== 0x5 && type !== 0x6 && type !== 0x7 && type !== 0xe && type !== 0xf) fault(Vec.GP, gateErr);
  if (src === Src.SOFT && descDpl(hi) < cpu.cpl) fault(Vec.GP, gateErr);
  if ((hi & D_P) === 0) fault(Vec.NP, gateErr);

  if (type === 0x5) {
    taskSwitch(cpu, lo >>> 16, TaskReason.INT, ret, ext);
    if (hasErr) pushErrorOnNewTask(cpu, err);
    return;
  }

  const gate32 = (type & 8) !== 0;
  const intGate = (type & 1) === 0;
  const sel = lo >>> 16;
  const offset = gate32 ? (hi & 0xffff0000) | (lo & 0xffff) : lo & 0xffff;
  const selErr = (sel & 0xfffc) + ext;
  if ((sel & 0xfffc) === 0) fault(Vec.GP, ext);
  if (!fetchDesc(cpu, sel)) fault(Vec.GP, selErr);
  const cLo = cpu.dLo;
  const cHi = cpu.dHi;
  const dpl = descDpl(cHi);
  if (!isCode(cHi) || dpl > cpu.cpl) fault(Vec.GP, selErr);
  if ((cHi & D_P) === 0) fault(Vec.NP, selErr);
  if (offset >>> 0 > descLimit(cLo, cHi)) fault(Vec.GP, ext);

  const eflags = cpu.getEflags();
  const n = gate32 ? 4 : 2;
  let k = 0;
  const csBase = descBase(cLo, cHi);
  const csLimit = descLimit(cLo, cHi);
  const csFlags = cHi & D_CACHE;

  if (!isConforming(cHi) && dpl < cpu.cpl) {
    // To an inner ring: the handler's stack comes from the TSS.
    tssStack(cpu, dpl, ext);
    const ss = TSS_STACK[0];
    const esp = TSS_STACK[1];
    const ssErr = (ss & 0xfffc) + ext;
    if ((ss & 0xfffc) === 0) fault(Vec.TS, ext);
    if (!fetchDesc(cpu, ss)) fault(Vec.TS, ssErr);
    const sHi = cpu.dHi;
    const sLo = cpu.dLo;
    if ((ss & 3) !== dpl || descDpl(sHi) !== dpl || (sHi & D_S) === 0 || (descType(sHi) & 0xa) !== 0x2) fault(Vec.TS, ssErr);
    if ((sHi & D_P) === 0) fault(Vec.SS, ssErr);
    FRAME[k++] = cpu.segSel[SS];
    FRAME[k++] = cpu.regs[4];
    FRAME[k++] = eflags;
    FRAME[k++] = cpu.segSel[CS];
    FRAME[k++] = ret;
    if (hasErr) FRAME[k++] = err;
    const ss32 = (sHi & D_DB) !== 0;
    const newSp = writeFrame(cpu, descBase(sLo, sHi), descLimit(sLo, sHi), sHi, ss32, esp, n, k, true, ssErr);
    cpu.setSeg(SS, (ss & 0xfffc) | dpl, descBase(sLo, sHi), descLimit(sLo, sHi), sHi & D_CACHE);
    cpu.setSp(newSp);
    cpu.setSeg(CS, (sel & 0xfffc) | dpl, csBase, csLimit, csFlags);
    cpu.setCpl(dpl);
  } else if (isConforming(cHi) || dpl === cpu.cpl) {
    FRAME[k++] = eflags;
    FRAME[k++] = cpu.segSel[CS];
    FRAME[k++] = ret;
    if (hasErr) FRAME[k++] = err;
    const newSp = writeFrame(cpu, cpu.segBase[SS], cpu.segLimit[SS], cpu.segFlags[SS], cpu.ss32, cpu.regs[4], n, k, cpu.cpl < 3, 0);
    cpu.setSp(newSp);
    cpu.setSeg(CS, (sel & 0xfffc) | cpu.cpl, csBase, csLimit, csFlags);
  } else {
    fault(Vec.GP, selErr);
  }
  cpu.setEflags(eflags & ~(TF | NT | RF | VM | (intGate ? IF : 0)));
  cpu.eip = offset;
}

/**
 * Push FRAME[0..count) (first value highest) below `sp` on a stack segment
 * described by base/limit/flags, after checking that the whole frame fits.
 * Returns the new stack pointer. Nothing is committed to registers here, so a
 * fault leaves the CPU as it was.
 */
function writeFrame(
  cpu: Cpu, base: number, limit: number, flags: number, ss32: boolean, sp: number,
  n: number, count: number, supervisor: boolean, ssErr: number,
): number {
  const mask = ss32 ? -1 : 0xffff;
  const top = sp & mask;
  const bottom = (top - n * count) & mask;
  const expandDown = (flags & 0xc00) === 0x400;
  const lo = bottom >>> 0;
  const hi = lo + n * count - 1;
  if (expandDown ? lo <= limit || hi > (flags & D_DB ? 0xffffffff : 0xffff) : hi > limit) fault(Vec.SS, ssErr);
  const mmu = cpu.mmu;
  for (let i = 0; i < count; i++) {
    const lin = (base + ((top - n * (i + 1)) & mask)) | 0;
    const v = FRAME[i];
    if (n === 4) {
      if (supervisor) mmu.wrSys32(lin, v);
      else mmu.wr32(lin, v);
    } else if (supervisor) {
      mmu.wrSys16(lin, v & 0xffff);
    } else {
      mmu.wr16(lin, v & 0xffff);
    }
  }
  return bottom;
}

/** tssStack()'s result: SS, ESP. */
export const TSS_STACK = new Int32Array(2);

/** The inner-ring stack for privilege level `dpl`, from the current TSS, into TSS_STACK. */
export function tssStack(cpu: Cpu, dpl: number, ext: number): void {
  const mmu = cpu.mmu;
  const tr = (cpu.trSel & 0xfffc) + ext;
  if (cpu.trType & 8) {
    const off = 4 + dpl * 8;
    if (off + 7 > cpu.trLimit) fault(Vec.TS, tr);
    TSS_STACK[1] = mmu.rdSys32((cpu.trBase + off) | 0);
    TSS_STACK[0] = mmu.rdSys16((cpu.trBase + off + 4) | 0);
  } else {
    const off = 2 + dpl * 4;
    if (off + 3 > cpu.trLimit) fault(Vec.TS, tr);
    TSS_STACK[1] = mmu.rdSys16((cpu.trBase + off) | 0);
    TSS_STACK[0] = mmu.rdSys16((cpu.trBase + off + 2) | 0);
  }
}

/** Real mode: the IVT at IDTR.base, a 16-bit frame, IF/TF/AC cleared. */
function deliverReal(cpu: Cpu, v: number, ret: number): void {
  if (v * 4 + 3 > cpu.idtLimit) fault(Vec.GP, 0);
  const ent = cpu.mmu.rdSys32((cpu.idtBase + v * 4) | 0);
  const flags = cpu.getEflags();
  const sp = cpu.regs[4];
  try {
    cpu.push16(flags);
    cpu.push16(cpu.segSel[CS]);
    cpu.push16(ret);
  } catch (e) {
    cpu.regs[4] = sp;
    throw e;
  }
  cpu.setEflags(flags & ~(IF | TF | AC));
  loadReal(cpu, CS, ent >>> 16);
  cpu.eip = ent & 0xffff;
}

/**
 * EFLAGS as iret/popf may change them at privilege `cpl`: IOPL only at CPL 0,
 * IF only when CPL <= IOPL; VM/VIF/VIP never (no virtual-8086 mode).
 */
export function restoreFlags(cpu: Cpu, v: number, o16: boolean, cpl: number, keepRF: boolean): void {
  let mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT | AC | ID | (keepRF ? RF : 0);
  if (cpl === 0) mask |= IOPL | IF;
  else if (cpl <= cpu.iopl) mask |= IF;
  if (o16) mask &= 0xffff;
  const old = cpu.getEflags() & (keepRF ? ~0 : ~RF);
  cpu.setEflags((old & ~mask) | (v & mask));
}

function stackVal(cpu: Cpu, o16: boolean, off: number): number {
  return o16 ? cpu.stackRead16(off) : cpu.stackRead32(off);
}

/** iret / iretd (`o16`: the 16-bit form): same ring, to an outer ring, or back to the previous task (NT). */
export function iret(cpu: Cpu, o16: boolean): void {
  const n = o16 ? 2 : 4;
  if (!cpu.protectedMode) {
    const ip = stackVal(cpu, o16, 0);
    const cs = stackVal(cpu, o16, n) & 0xffff;
    const fl = stackVal(cpu, o16, 2 * n);
    cpu.setSp(cpu.regs[4] + 3 * n);
    loadReal(cpu, CS, cs);
    cpu.eip = o16 ? ip & 0xffff : ip;
    restoreFlags(cpu, fl, o16, 0, true);
    return;
  }
  if (cpu.flags & NT) {
    const back = cpu.mmu.rdSys16(cpu.trBase);
    taskSwitch(cpu, back, TaskReason.IRET, 0, 0);
    return;
  }
  const eip = stackVal(cpu, o16, 0);
  const cs = stackVal(cpu, o16, n) & 0xffff;
  const fl = stackVal(cpu, o16, 2 * n);
  if (!o16 && (fl & VM) && cpu.cpl === 0) throw new GuestError('iret to virtual-8086 mode: not supported');
  const rpl = cs & 3;
  const csErr = cs & 0xfffc;
  if (csErr === 0) fault(Vec.GP, 0);
  if (!fetchDesc(cpu, cs)) fault(Vec.GP, csErr);
  const cLo = cpu.dLo;
  const cHi = cpu.dHi;
  if (rpl < cpu.cpl || !isCode(cHi)) fault(Vec.GP, csErr);
  if (isConforming(cHi) ? descDpl(cHi) > rpl : descDpl(cHi) !== rpl) fault(Vec.GP, csErr);
  if ((cHi & D_P) === 0) fault(Vec.NP, csErr);
  const newEip = o16 ? eip & 0xffff : eip;
  const csLimit = descLimit(cLo, cHi);
  if (newEip >>> 0 > csLimit) fault(Vec.GP, 0);
  const oldCpl = cpu.cpl;
  if (rpl === oldCpl) {
    cpu.setSp(cpu.regs[4] + 3 * n);
    cpu.setSeg(CS, cs, descBase(cLo, cHi), csLimit, cHi & D_CACHE);
    cpu.eip = newEip;
    restoreFlags(cpu, fl, o16, oldCpl, true);
    return;
  }
  // Return to an outer ring: SS:ESP come off the stack too.
  const esp = stackVal(cpu, o16, 3 * n);
  const ss = stackVal(cpu, o16, 4 * n) & 0xffff;
  const ssErr = ss & 0xfffc;
  if (ssErr === 0) fault(Vec.GP, 0);
  if (!fetchDesc(cpu, ss)) fault(Vec.GP, ssErr);
  const sLo = cpu.dLo;
  const sHi = cpu.dHi;
  if ((ss & 3) !== rpl || descDpl(sHi) !== rpl || (sHi & D_S) === 0 || (descType(sHi) & 0xa) !== 0x2) fault(Vec.GP, ssErr);
  if ((sHi & D_P) === 0) fault(Vec.SS, ssErr);
  restoreFlags(cpu, fl, o16, oldCpl, true);
  cpu.setSeg(CS, cs, descBase(cLo, cHi), csLimit, cHi & D_CACHE);
  cpu.setCpl(rpl);
  cpu.setSeg(SS, ss, descBase(sLo, sHi), descLimit(sLo, sHi), sHi & D_CACHE);
  if (o16) cpu.regs[4] = (cpu.regs[4] & ~0xffff) | (esp & 0xffff);
  else cpu.regs[4] = esp;
  cpu.eip = newEip;
  nullInaccessible(cpu);
}
