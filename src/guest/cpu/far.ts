import type { Cpu } from './cpu';
import { CS, SS } from './control';
import { TSS_STACK, tssStack } from './delivery';
import { fault, Vec } from './fault';
import {
  D_CACHE, D_DB, D_P, D_S, descBase, descDpl, descLimit, descType, fetchDesc, isCode, isConforming, loadReal, markAccessed,
  nullInaccessible,
} from './segments';
import { taskSwitch, TaskReason } from './task';

/**
 * Far jmp, far call and far ret: direct to a code segment, through a call
 * gate (with the TSS stack switch and parameter copy of a call to an inner
 * ring), or to another task through a task gate or TSS descriptor.
 */

/** Parameters copied by a call gate (at most 31). */
const PARAMS = new Int32Array(32);

/**
 * Loads the descriptor of a selector a far transfer names into cpu.dLo/dHi:
 * #GP(0) for a null selector, #GP(selector) outside its table. Returns the
 * error code the caller's further checks fault with.
 */
function fetchOrGP(cpu: Cpu, sel: number): number {
  const err = sel & 0xfffc;
  if (err === 0) fault(Vec.GP, 0);
  if (!fetchDesc(cpu, sel)) fault(Vec.GP, err);
  return err;
}

/** The target offset of the call gate in GATE: 32 bits for a 386 gate (type 0xC), 16 for a 286 one. */
function gateOffset(type: number): number {
  return type === 0xc ? (GATE[1] & 0xffff0000) | (GATE[0] & 0xffff) : GATE[0] & 0xffff;
}

function checkDirectTarget(cpu: Cpu, sel: number): void {
  const hi = cpu.dHi;
  const err = sel & 0xfffc;
  if (!isCode(hi)) fault(Vec.GP, err);
  if (isConforming(hi) ? descDpl(hi) > cpu.cpl : (sel & 3) > cpu.cpl || descDpl(hi) !== cpu.cpl) fault(Vec.GP, err);
  if ((hi & D_P) === 0) fault(Vec.NP, err);
}

function loadCs(cpu: Cpu, sel: number, offset: number, rpl: number): void {
  const lo = cpu.dLo;
  const hi = cpu.dHi;
  const limit = descLimit(lo, hi);
  if (offset >>> 0 > limit) fault(Vec.GP, 0);
  markAccessed(cpu);
  cpu.setSeg(CS, (sel & 0xfffc) | rpl, descBase(lo, hi), limit, cpu.dHi & D_CACHE);
  cpu.eip = offset;
}

/** Read a gate and check what it may be used for; leaves the gate in lo/hi returned via GATE. */
const GATE = new Int32Array(2);
function readGate(cpu: Cpu, sel: number): number {
  const hi = cpu.dHi;
  const err = sel & 0xfffc;
  const type = descType(hi);
  if (type !== 4 && type !== 0xc && type !== 5 && type !== 1 && type !== 9) fault(Vec.GP, err);
  if (descDpl(hi) < cpu.cpl || descDpl(hi) < (sel & 3)) fault(Vec.GP, err);
  if ((hi & D_P) === 0) fault(Vec.NP, err);
  GATE[0] = cpu.dLo;
  GATE[1] = hi;
  return type;
}

export function farJump(cpu: Cpu, sel: number, offset: number, nextEip: number): void {
  sel &= 0xffff;
  if (!cpu.protectedMode) {
    loadReal(cpu, CS, sel);
    cpu.eip = offset;
    return;
  }
  fetchOrGP(cpu, sel);
  if (cpu.dHi & D_S) {
    checkDirectTarget(cpu, sel);
    loadCs(cpu, sel, offset, cpu.cpl);
    return;
  }
  const type = readGate(cpu, sel);
  if (type === 1 || type === 9) return taskSwitch(cpu, sel, TaskReason.JMP, nextEip, 0);
  if (type === 5) return taskSwitch(cpu, GATE[0] >>> 16, TaskReason.JMP, nextEip, 0);
  // Call gate: jmp may not change privilege.
  const tsel = GATE[0] >>> 16;
  const toff = gateOffset(type);
  const terr = fetchOrGP(cpu, tsel);
  if (!isCode(cpu.dHi)) fault(Vec.GP, terr);
  if (isConforming(cpu.dHi) ? descDpl(cpu.dHi) > cpu.cpl : descDpl(cpu.dHi) !== cpu.cpl) fault(Vec.GP, terr);
  if ((cpu.dHi & D_P) === 0) fault(Vec.NP, terr);
  loadCs(cpu, tsel, toff, cpu.cpl);
}

/** Push CS and the return EIP on the current stack, undoing ESP if a write faults. */
function pushReturn(cpu: Cpu, o16: boolean, nextEip: number): void {
  const sp = cpu.regs[4];
  try {
    if (o16) {
      cpu.push16(cpu.segSel[CS]);
      cpu.push16(nextEip);
    } else {
      cpu.push32(cpu.segSel[CS]);
      cpu.push32(nextEip);
    }
  } catch (e) {
    cpu.regs[4] = sp;
    throw e;
  }
}

export function farCall(cpu: Cpu, sel: number, offset: number, o16: boolean, nextEip: number): void {
  sel &= 0xffff;
  if (!cpu.protectedMode) {
    pushReturn(cpu, o16, nextEip);
    loadReal(cpu, CS, sel);
    cpu.eip = offset;
    return;
  }
  fetchOrGP(cpu, sel);
  if (cpu.dHi & D_S) {
    checkDirectTarget(cpu, sel);
    if (offset >>> 0 > descLimit(cpu.dLo, cpu.dHi)) fault(Vec.GP, 0);
    const lo = cpu.dLo;
    const hi = cpu.dHi;
    const addr = cpu.dAddr;
    pushReturn(cpu, o16, nextEip);
    cpu.dLo = lo;
    cpu.dHi = hi;
    cpu.dAddr = addr;
    loadCs(cpu, sel, offset, cpu.cpl);
    return;
  }
  const type = readGate(cpu, sel);
  if (type === 1 || type === 9) return taskSwitch(cpu, sel, TaskReason.CALL, nextEip, 0);
  if (type === 5) return taskSwitch(cpu, GATE[0] >>> 16, TaskReason.CALL, nextEip, 0);
  const gate32 = type === 0xc;
  const gHi = GATE[1];
  const tsel = GATE[0] >>> 16;
  const toff = gateOffset(type);
  const terr = fetchOrGP(cpu, tsel);
  if (!isCode(cpu.dHi) || descDpl(cpu.dHi) > cpu.cpl) fault(Vec.GP, terr);
  if ((cpu.dHi & D_P) === 0) fault(Vec.NP, terr);
  const cLo = cpu.dLo;
  const cHi = cpu.dHi;
  const cAddr = cpu.dAddr;
  const dpl = descDpl(cHi);
  if (offsetBeyond(toff, cLo, cHi)) fault(Vec.GP, 0);
  if (isConforming(cHi) || dpl === cpu.cpl) {
    pushReturn(cpu, !gate32, nextEip);
    cpu.dLo = cLo;
    cpu.dHi = cHi;
    cpu.dAddr = cAddr;
    loadCs(cpu, tsel, toff, cpu.cpl);
    return;
  }
  // Call to an inner ring: new stack from the TSS, parameters copied across.
  tssStack(cpu, dpl, 0);
  const ss = TSS_STACK[0];
  const esp = TSS_STACK[1];
  const ssErr = ss & 0xfffc;
  if (ssErr === 0) fault(Vec.TS, 0);
  if (!fetchDesc(cpu, ss)) fault(Vec.TS, ssErr);
  const sLo = cpu.dLo;
  const sHi = cpu.dHi;
  if ((ss & 3) !== dpl || descDpl(sHi) !== dpl || (sHi & D_S) === 0 || (descType(sHi) & 0xa) !== 2) fault(Vec.TS, ssErr);
  if ((sHi & D_P) === 0) fault(Vec.SS, ssErr);
  const n = gate32 ? 4 : 2;
  const count = gHi & 0x1f;
  for (let i = 0; i < count; i++) PARAMS[i] = n === 4 ? cpu.stackRead32(i * 4) : cpu.stackRead16(i * 2);
  const ssBase = descBase(sLo, sHi);
  const ss32 = (sHi & D_DB) !== 0;
  const mask = ss32 ? -1 : 0xffff;
  let sp = esp & mask;
  const total = n * (4 + count);
  if (((sp - total) & mask) >>> 0 > descLimit(sLo, sHi) || (sp >>> 0) - 1 > descLimit(sLo, sHi)) fault(Vec.SS, ssErr);
  const put = (v: number): void => {
    sp = (sp - n) & mask;
    const lin = (ssBase + sp) | 0;
    if (n === 4) cpu.mmu.wrSys32(lin, v);
    else cpu.mmu.wrSys16(lin, v & 0xffff);
  };
  put(cpu.segSel[SS]);
  put(cpu.regs[4]);
  for (let i = count - 1; i >= 0; i--) put(PARAMS[i]);
  put(cpu.segSel[CS]);
  put(nextEip);
  cpu.setSeg(SS, (ss & 0xfffc) | dpl, ssBase, descLimit(sLo, sHi), sHi & D_CACHE);
  cpu.setSp(sp);
  cpu.dLo = cLo;
  cpu.dHi = cHi;
  cpu.dAddr = cAddr;
  cpu.setCpl(dpl);
  loadCs(cpu, tsel, toff, dpl);
}

function offsetBeyond(off: number, lo: number, hi: number): boolean {
  return off >>> 0 > descLimit(lo, hi);
}

/** retf [imm16]. */
export function farRet(cpu: Cpu, o16: boolean, imm: number): void {
  const n = o16 ? 2 : 4;
  const rd = o16 ? (off: number) => cpu.stackRead16(off) : (off: number) => cpu.stackRead32(off);
  const eip = rd(0);
  const cs = rd(n) & 0xffff;
  if (!cpu.protectedMode) {
    loadReal(cpu, CS, cs);
    cpu.eip = o16 ? eip & 0xffff : eip;
    cpu.setSp(cpu.regs[4] + 2 * n + imm);
    return;
  }
  const rpl = cs & 3;
  const err = fetchOrGP(cpu, cs);
  const cLo = cpu.dLo;
  const cHi = cpu.dHi;
  const cAddr = cpu.dAddr;
  if (rpl < cpu.cpl || !isCode(cHi)) fault(Vec.GP, err);
  if (isConforming(cHi) ? descDpl(cHi) > rpl : descDpl(cHi) !== rpl) fault(Vec.GP, err);
  if ((cHi & D_P) === 0) fault(Vec.NP, err);
  const newEip = o16 ? eip & 0xffff : eip;
  if (offsetBeyond(newEip, cLo, cHi)) fault(Vec.GP, 0);
  if (rpl === cpu.cpl) {
    loadCs(cpu, cs, newEip, rpl);
    cpu.setSp(cpu.regs[4] + 2 * n + imm);
    return;
  }
  const esp = rd(2 * n + imm);
  const ss = rd(3 * n + imm) & 0xffff;
  const ssErr = fetchOrGP(cpu, ss);
  const sLo = cpu.dLo;
  const sHi = cpu.dHi;
  if ((ss & 3) !== rpl || descDpl(sHi) !== rpl || (sHi & D_S) === 0 || (descType(sHi) & 0xa) !== 2) fault(Vec.GP, ssErr);
  if ((sHi & D_P) === 0) fault(Vec.SS, ssErr);
  cpu.dLo = cLo;
  cpu.dHi = cHi;
  cpu.dAddr = cAddr;
  loadCs(cpu, cs, newEip, rpl);
  cpu.setCpl(rpl);
  cpu.setSeg(SS, ss, descBase(sLo, sHi), descLimit(sLo, sHi), sHi & D_CACHE);
  cpu.setSp(esp + imm);
  nullInaccessible(cpu);
}
