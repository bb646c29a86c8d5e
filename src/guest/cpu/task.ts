import { GuestError } from '../guest-error';
import type { Cpu } from './cpu';
import { CR0_PG, CR0_TS, CS, SS } from './control';
import { fault, Vec } from './fault';
import { NT, VM } from './flags';
import {
  D_P, D_S, descBase, descDpl, descLimit, descType, fetchDesc, isCode, isConforming, loadFromDesc, loadNull, markAccessed,
} from './segments';

/** Why a task switch happens: it decides the busy bits, NT and the back link (SDM vol. 3 §7.3). */
export const enum TaskReason {
  JMP,
  CALL,
  IRET,
  INT,
}

/** The incoming task's TSS, read before anything is changed. Fields: EIP EFLAGS EAX..EDI ES CS SS DS FS GS LDT CR3. */
const NEW = new Int32Array(19);
const N_EIP = 0;
const N_FLAGS = 1;
const N_REGS = 2;
const N_SEGS = 10;
const N_LDT = 16;
const N_CR3 = 17;

/**
 * Hardware task switch to the TSS selected by `sel` (from a task gate, a
 * far jmp/call to a TSS, or iret with NT set). `retEip` is saved as the
 * outgoing task's EIP. i386 Linux meets this when a double fault arrives
 * through its task gate, and returns with iret.
 */
export function taskSwitch(cpu: Cpu, sel: number, reason: TaskReason, retEip: number, ext: number): void {
  const mmu = cpu.mmu;
  const iret = reason === TaskReason.IRET;
  const badVec = iret ? Vec.TS : Vec.GP;
  const err = (sel & 0xfffc) + ext;
  if (sel & 4 || !fetchDesc(cpu, sel)) fault(badVec, err);
  const nLo = cpu.dLo;
  const nHi = cpu.dHi;
  const nAddr = cpu.dAddr;
  const type = descType(nHi);
  if ((nHi & D_S) !== 0 || (type & 5) !== 1) fault(badVec, err);
  const busy = (type & 2) !== 0;
  if (iret !== busy) fault(badVec, err);
  if ((nHi & D_P) === 0) fault(Vec.NP, err);
  const is32 = (type & 8) !== 0;
  const nBase = descBase(nLo, nHi);
  const nLimit = descLimit(nLo, nHi);
  if (nLimit < (is32 ? 0x67 : 0x2b)) fault(Vec.TS, err);

  // Read the whole incoming TSS first: a page fault here changes nothing.
  if (is32) {
    NEW[N_CR3] = mmu.rdSys32((nBase + 0x1c) | 0);
    NEW[N_EIP] = mmu.rdSys32((nBase + 0x20) | 0);
    NEW[N_FLAGS] = mmu.rdSys32((nBase + 0x24) | 0);
    for (let i = 0; i < 8; i++) NEW[N_REGS + i] = mmu.rdSys32((nBase + 0x28 + 4 * i) | 0);
    for (let i = 0; i < 6; i++) NEW[N_SEGS + i] = mmu.rdSys16((nBase + 0x48 + 4 * i) | 0);
    NEW[N_LDT] = mmu.rdSys16((nBase + 0x60) | 0);
  } else {
    NEW[N_CR3] = cpu.cr3;
    NEW[N_EIP] = mmu.rdSys16((nBase + 0x0e) | 0);
    NEW[N_FLAGS] = mmu.rdSys16((nBase + 0x10) | 0);
    for (let i = 0; i < 8; i++) NEW[N_REGS + i] = mmu.rdSys16((nBase + 0x12 + 2 * i) | 0);
    for (let i = 0; i < 4; i++) NEW[N_SEGS + i] = mmu.rdSys16((nBase + 0x22 + 2 * i) | 0);
    NEW[N_SEGS + 4] = 0;
    NEW[N_SEGS + 5] = 0;
    NEW[N_LDT] = mmu.rdSys16((nBase + 0x2a) | 0);
  }
  if (NEW[N_FLAGS] & VM) throw new GuestError('task switch into virtual-8086 mode: not supported');

  // Save the outgoing task.
  let oldFlags = cpu.getEflags();
  if (reason === TaskReason.JMP || iret) oldFlags &= ~NT;
  const ob = cpu.trBase;
  if (cpu.trType & 8) {
    mmu.wrSys32((ob + 0x20) | 0, retEip);
    mmu.wrSys32((ob + 0x24) | 0, oldFlags);
    for (let i = 0; i < 8; i++) mmu.wrSys32((ob + 0x28 + 4 * i) | 0, cpu.regs[i]);
    for (let i = 0; i < 6; i++) mmu.wrSys16((ob + 0x48 + 4 * i) | 0, cpu.segSel[i]);
  } else {
    mmu.wrSys16((ob + 0x0e) | 0, retEip);
    mmu.wrSys16((ob + 0x10) | 0, oldFlags);
    for (let i = 0; i < 8; i++) mmu.wrSys16((ob + 0x12 + 2 * i) | 0, cpu.regs[i]);
    for (let i = 0; i < 4; i++) mmu.wrSys16((ob + 0x22 + 2 * i) | 0, cpu.segSel[i]);
  }

  // Busy bits and the back link.
  if ((reason === TaskReason.JMP || iret) && (cpu.trSel & 0xfffc) !== 0 && fetchDesc(cpu, cpu.trSel)) {
    mmu.wrSys32((cpu.dAddr + 4) | 0, cpu.dHi & ~0x200);
  }
  let newFlags = NEW[N_FLAGS];
  if (reason === TaskReason.CALL || reason === TaskReason.INT) {
    mmu.wrSys16(nBase, cpu.trSel);
    newFlags |= NT;
  }
  const nHiBusy = nHi | 0x200;
  if (!iret) mmu.wrSys32((nAddr + 4) | 0, nHiBusy);

  cpu.trSel = sel & 0xffff;
  cpu.trBase = nBase;
  cpu.trLimit = nLimit;
  cpu.trType = type | 2;
  cpu.cr0 = cpu.cr0 | CR0_TS;

  // From here on, faults belong to the incoming task.
  if (is32 && cpu.cr0 & CR0_PG) cpu.cr3 = NEW[N_CR3];
  for (let i = 0; i < 8; i++) cpu.regs[i] = is32 ? NEW[N_REGS + i] : (cpu.regs[i] & ~0xffff) | NEW[N_REGS + i];
  cpu.setEflags(newFlags);
  cpu.eip = NEW[N_EIP];
  const cs = NEW[N_SEGS + CS];
  cpu.setCpl(cs & 3);
  for (let i = 0; i < 6; i++) cpu.segSel[i] = NEW[N_SEGS + i];
  loadTaskLdt(cpu, NEW[N_LDT]);
  loadTaskCs(cpu, cs);
  loadTaskSs(cpu, NEW[N_SEGS + SS]);
  for (const s of [0, 3, 4, 5]) loadTaskData(cpu, s, NEW[N_SEGS + s]);
}

function loadTaskLdt(cpu: Cpu, sel: number): void {
  cpu.ldtSel = sel;
  if ((sel & 0xfffc) === 0) {
    cpu.ldtLimit = -1;
    return;
  }
  if (sel & 4 || !fetchDesc(cpu, sel) || (cpu.dHi & D_S) !== 0 || descType(cpu.dHi) !== 2) fault(Vec.TS, sel & 0xfffc);
  if ((cpu.dHi & D_P) === 0) fault(Vec.TS, sel & 0xfffc);
  cpu.ldtBase = descBase(cpu.dLo, cpu.dHi);
  cpu.ldtLimit = descLimit(cpu.dLo, cpu.dHi);
}

function loadTaskCs(cpu: Cpu, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0 || !fetchDesc(cpu, sel) || !isCode(cpu.dHi)) fault(Vec.TS, err);
  const dpl = descDpl(cpu.dHi);
  if (isConforming(cpu.dHi) ? dpl > (sel & 3) : dpl !== (sel & 3)) fault(Vec.TS, err);
  if ((cpu.dHi & D_P) === 0) fault(Vec.NP, err);
  markAccessed(cpu);
  loadFromDesc(cpu, CS, sel);
}

function loadTaskSs(cpu: Cpu, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0 || !fetchDesc(cpu, sel)) fault(Vec.TS, err);
  const hi = cpu.dHi;
  if ((sel & 3) !== cpu.cpl || descDpl(hi) !== cpu.cpl || (hi & D_S) === 0 || (descType(hi) & 0xa) !== 2) fault(Vec.TS, err);
  if ((hi & D_P) === 0) fault(Vec.SS, err);
  markAccessed(cpu);
  loadFromDesc(cpu, SS, sel);
}

function loadTaskData(cpu: Cpu, seg: number, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0) return loadNull(cpu, seg, sel);
  if (!fetchDesc(cpu, sel)) fault(Vec.TS, err);
  const hi = cpu.dHi;
  if ((hi & D_S) === 0 || (descType(hi) & 0xa) === 0x8) fault(Vec.TS, err);
  if (!isConforming(hi) && (descDpl(hi) < cpu.cpl || descDpl(hi) < (sel & 3))) fault(Vec.TS, err);
  if ((hi & D_P) === 0) fault(Vec.NP, err);
  markAccessed(cpu);
  loadFromDesc(cpu, seg, sel);
}

/** After a task switch through a task gate, an exception's error code goes on the new task's stack. */
export function pushErrorOnNewTask(cpu: Cpu, err: number): void {
  if (cpu.trType & 8) cpu.push32(err);
  else cpu.push16(err);
}
