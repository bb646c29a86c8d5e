import { GuestError } from '../guest-error';
import type { Cpu } from './cpu';
import { fault, Vec } from './fault';

/**
 * Segment descriptors: reading them from the GDT/LDT, the checks a segment
 * register load makes (SDM vol. 3 §5 and the MOV/POP instruction pages), and
 * the limit check of an access that the one-compare fast path in Cpu.linR()
 * could not settle.
 *
 * Descriptor bits are kept as the high dword has them: type 8-11, S 12,
 * DPL 13-14, P 15, AVL 20, D/B 22, G 23.
 */
export const D_ACCESSED = 0x100;
export const D_S = 0x1000;
export const D_P = 0x8000;
export const D_DB = 0x400000;
export const D_G = 0x800000;
/** The descriptor-cache bits kept in Cpu.segFlags. */
export const D_CACHE = 0x00f0ff00;

export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

export function descType(hi: number): number {
  return (hi >> 8) & 15;
}

export function descDpl(hi: number): number {
  return (hi >> 13) & 3;
}

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & D_G ? (raw * 4096 + 4095) : raw;
}

export function isCode(hi: number): boolean {
  return (hi & D_S) !== 0 && (hi & 0x800) !== 0;
}

export function isConforming(hi: number): boolean {
  return (hi & 0xc00) === 0xc00;
}

/**
 * Read the descriptor `sel` names into cpu.dLo/dHi (its address in
 * cpu.dAddr). False when it lies beyond the GDT or LDT limit.
 */
export function fetchDesc(cpu: Cpu, sel: number): boolean {
  const index = sel & 0xfff8;
  let base: number;
  let limit: number;
  if (sel & 4) {
    if ((cpu.ldtSel & 0xfffc) === 0) return false;
    base = cpu.ldtBase;
    limit = cpu.ldtLimit;
  } else {
    base = cpu.gdtBase;
    limit = cpu.gdtLimit;
  }
  if (index + 7 > limit) return false;
  const addr = (base + index) | 0;
  cpu.dAddr = addr;
  cpu.dLo = cpu.mmu.rdSys32(addr);
  cpu.dHi = cpu.mmu.rdSys32((addr + 4) | 0);
  return true;
}

/** Set the accessed bit of the descriptor last fetched, as every load does. */
export function markAccessed(cpu: Cpu): void {
  if ((cpu.dHi & D_ACCESSED) === 0) {
    cpu.dHi |= D_ACCESSED;
    cpu.mmu.wrSys32((cpu.dAddr + 4) | 0, cpu.dHi);
  }
}

/** Load segment register `seg` from the descriptor in cpu.dLo/dHi. */
export function loadFromDesc(cpu: Cpu, seg: number, sel: number): void {
  cpu.setSeg(seg, sel, descBase(cpu.dLo, cpu.dHi), descLimit(cpu.dLo, cpu.dHi), cpu.dHi & D_CACHE);
}

/** A null selector in DS/ES/FS/GS: the register is unusable until reloaded. */
export function loadNull(cpu: Cpu, seg: number, sel: number): void {
  cpu.setSeg(seg, sel, 0, 0, 0);
}

/** Real mode: base = selector * 16, the rest of the cache as it was. */
export function loadReal(cpu: Cpu, seg: number, sel: number): void {
  const fl = cpu.segFlags[seg] !== 0 ? cpu.segFlags[seg] : 0x9300;
  cpu.setSeg(seg, sel, (sel & 0xffff) << 4, cpu.segLimit[seg], fl);
}

/**
 * mov/pop/lds-family load of a data segment register or SS, with the
 * protected-mode checks and their error codes.
 */
export function loadSeg(cpu: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  if (!cpu.protectedMode) return loadReal(cpu, seg, sel);
  const err = sel & 0xfffc;
  const rpl = sel & 3;
  if (seg === 2) {
    if (err === 0) fault(Vec.GP, 0);
    if (!fetchDesc(cpu, sel)) fault(Vec.GP, err);
    const hi = cpu.dHi;
    const type = descType(hi);
    if (rpl !== cpu.cpl || descDpl(hi) !== cpu.cpl || (hi & D_S) === 0 || (type & 0xa) !== 0x2) fault(Vec.GP, err);
    if ((hi & D_P) === 0) fault(Vec.SS, err);
  } else {
    if (err === 0) return loadNull(cpu, seg, sel);
    if (!fetchDesc(cpu, sel)) fault(Vec.GP, err);
    const hi = cpu.dHi;
    const type = descType(hi);
    if ((hi & D_S) === 0 || (type & 0xa) === 0x8) fault(Vec.GP, err); // system, or execute-only code
    if (!isConforming(hi) && (rpl > descDpl(hi) || cpu.cpl > descDpl(hi))) fault(Vec.GP, err);
    if ((hi & D_P) === 0) fault(Vec.NP, err);
  }
  markAccessed(cpu);
  loadFromDesc(cpu, seg, sel);
}

/**
 * The loader's state: segments come from the GDT it wrote, so the CPU sees
 * what the guest could read back. Real mode (PE clear) takes selector * 16.
 */
export function loadBootSegment(cpu: Cpu, seg: number, sel: number): void {
  if (!cpu.protectedMode) {
    cpu.setSeg(seg, sel, (sel & 0xffff) << 4, 0xffff, seg === 1 ? 0x9b00 : 0x9300);
    return;
  }
  if (!fetchDesc(cpu, sel) || (cpu.dHi & D_P) === 0) {
    throw new GuestError(`boot state: selector 0x${sel.toString(16)} is not a present descriptor in the GDT`);
  }
  loadFromDesc(cpu, seg, sel);
}

/**
 * After a return to an outer ring: data segment registers the new CPL may
 * not use are nulled (iret, retf).
 */
export function nullInaccessible(cpu: Cpu): void {
  for (const seg of [0, 3, 4, 5]) {
    const fl = cpu.segFlags[seg];
    if (fl === 0) continue;
    const dataOrNonconf = (fl & 0x800) === 0 || (fl & 0xc00) === 0x800;
    if (dataOrNonconf && descDpl(fl) < cpu.cpl) loadNull(cpu, seg, 0);
  }
}

/**
 * The full limit/type check of an access at `off` in `seg`, for what the
 * fast compare rejected: unusable segments, writes to read-only or code
 * segments, reads of execute-only code, expand-down segments, and real
 * limit violations. Returns the linear address or raises #GP(0) / #SS(0).
 */
export function segCheck(cpu: Cpu, seg: number, off: number, size: number, write: boolean): number {
  const vec = seg === 2 ? Vec.SS : Vec.GP;
  const fl = cpu.segFlags[seg];
  const o = off >>> 0;
  if (!cpu.protectedMode) {
    if (o + size - 1 > cpu.segLimit[seg]) fault(vec, 0);
    return (cpu.segBase[seg] + off) | 0;
  }
  if ((fl & D_P) === 0) fault(vec, 0);
  const type = (fl >> 8) & 15;
  if (type & 8) {
    if (write || (type & 2) === 0) fault(vec, 0);
  } else if (write && (type & 2) === 0) {
    fault(vec, 0);
  }
  const limit = cpu.segLimit[seg];
  if ((type & 0xc) === 0x4) {
    const upper = fl & D_DB ? 0xffffffff : 0xffff;
    if (o <= limit || o + size - 1 > upper) fault(vec, 0);
  } else if (o + size - 1 > limit) {
    fault(vec, 0);
  }
  return (cpu.segBase[seg] + off) | 0;
}
