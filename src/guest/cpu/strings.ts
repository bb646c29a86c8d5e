import type { AccessSize } from '../io-bus';
import { alu, MASK } from './alu';
import type { Cpu } from './cpu';
import { ES } from './control';
import { R, STRIDE } from './decoder';
import { DF } from './flags';
import { checkIo } from './system';

/**
 * String instructions. A rep prefix runs the whole loop here, committing
 * ESI/EDI/ECX after every element (or chunk), so a fault part way leaves the
 * registers describing exactly the work left, and the instruction restarts.
 *
 * rep movs and rep stos with 32-bit addressing and DF clear (the kernel's
 * memcpy and memset) go a page-sized chunk at a time straight into the RAM
 * buffer once both ends are translated; rep lods (whose only result is the
 * last element) skips to the end of each page in the same way.
 *
 * A rep instruction may repeat 2^32 times, which is minutes of work: on real
 * hardware interrupts are taken between iterations. Here one execution does
 * at most STEP_UNITS of work (an element the slow way is one unit, a page
 * chunk PAGE_UNITS), then leaves with EIP still on the instruction and the
 * registers describing the rest, exactly as after a fault, by throwing
 * STRING_YIELD out of the core. Whoever runs the CPU catches it and treats it
 * as a used budget: the launcher then serves input, signals and timers, and
 * the next run starts the instruction again where it stopped.
 */

/** Thrown (one preallocated object, like FAULT) when a rep instruction yields part way. */
export class StringYield {
  readonly reason = 'rep string instruction yielded';
}
export const STRING_YIELD = new StringYield();

/**
 * Work one execution may do before yielding: a few milliseconds at most
 * (measured: 64K elements the slow way take under 1 ms; 1K pages of the
 * page-chunk paths 1-3 ms, up to 6 ms for a memset that first touches 4 MiB).
 */
export const STEP_UNITS = 1 << 16;
const PAGE_UNITS = 64;

/** Units left in the running rep instruction (reset by each rep entry). */
let units = 0;

/**
 * Spend `n` units; past the step, put EIP back on the instruction and leave
 * (the registers already describe the iterations left). Only called while
 * iterations remain. Without a current record (a caller that did not set
 * cpu.ip) there is no EIP to restart at, so the instruction runs to the end.
 */
function spend(cpu: Cpu, n: number): void {
  units -= n;
  if (units > 0) return;
  const p = cpu.ip;
  if (p < 0) return;
  // The instructions before this one in the block retired, as on a fault;
  // the partial step counts as one so a guest clock run from the
  // instruction count still moves.
  cpu.instructionCount += (p - cpu.blockStart) / STRIDE + 1;
  const e = cpu.blockEip + (cpu.code[p + R.OFFS] & 0xffff);
  cpu.eip = cpu.csD ? e | 0 : e & 0xffff;
  cpu.ip = -1;
  throw STRING_YIELD;
}

const SIZE_LOG = [0, 0, 1, 0, 2];

function rd(cpu: Cpu, lin: number, size: number): number {
  return size === 1 ? cpu.mmu.rd8(lin) : size === 2 ? cpu.mmu.rd16(lin) : cpu.mmu.rd32(lin);
}

function wr(cpu: Cpu, lin: number, size: number, v: number): void {
  if (size === 1) cpu.mmu.wr8(lin, v);
  else if (size === 2) cpu.mmu.wr16(lin, v);
  else cpu.mmu.wr32(lin, v);
}

function index(cpu: Cpu, r: number, a16: boolean): number {
  return a16 ? cpu.regs[r] & 0xffff : cpu.regs[r];
}

function advance(cpu: Cpu, r: number, delta: number, a16: boolean): void {
  if (a16) cpu.setReg16(r, cpu.regs[r] + delta);
  else cpu.regs[r] = (cpu.regs[r] + delta) | 0;
}

function count(cpu: Cpu, a16: boolean): number {
  return a16 ? cpu.regs[1] & 0xffff : cpu.regs[1];
}

function decCount(cpu: Cpu, a16: boolean): void {
  if (a16) cpu.setReg16(1, cpu.regs[1] - 1);
  else cpu.regs[1] = (cpu.regs[1] - 1) | 0;
}

function step(cpu: Cpu, size: number): number {
  return cpu.flags & DF ? -size : size;
}

function movsOnce(cpu: Cpu, size: number, seg: number, a16: boolean): void {
  const v = rd(cpu, cpu.segLin(seg, index(cpu, 6, a16), size, false), size);
  wr(cpu, cpu.segLin(ES, index(cpu, 7, a16), size, true), size, v);
  const d = step(cpu, size);
  advance(cpu, 6, d, a16);
  advance(cpu, 7, d, a16);
}

export function movs(cpu: Cpu, size: number, seg: number, a16: boolean, rep: boolean): void {
  if (!rep) return movsOnce(cpu, size, seg, a16);
  units = STEP_UNITS;
  if (!a16 && (cpu.flags & DF) === 0) return movsForward(cpu, size, seg);
  while (count(cpu, a16) !== 0) {
    movsOnce(cpu, size, seg, a16);
    decCount(cpu, a16);
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}

/** Elements of `size` bytes that fit in the page of `lin` (0 if the first one straddles). */
function room(lin: number, size: number): number {
  return (0x1000 - (lin & 0xfff)) >> SIZE_LOG[size];
}

function movsForward(cpu: Cpu, size: number, seg: number): void {
  const regs = cpu.regs;
  const mmu = cpu.mmu;
  while (regs[1] !== 0) {
    const esi = regs[6];
    const edi = regs[7];
    const srcLin = cpu.segLin(seg, esi, size, false);
    const dstLin = cpu.segLin(ES, edi, size, true);
    const n = Math.min(regs[1] >>> 0, room(srcLin, size), room(dstLin, size));
    if (n <= 1) {
      movsOnce(cpu, size, seg, false);
      regs[1]--;
      if (regs[1] !== 0) spend(cpu, 1);
      continue;
    }
    const bytes = n * size;
    cpu.segLin(seg, (esi + bytes - size) | 0, size, false);
    cpu.segLin(ES, (edi + bytes - size) | 0, size, true);
    const src = mmu.lookup(srcLin, false);
    const dst = mmu.lookup(dstLin, true);
    if (src + bytes > mmu.memSize || dst + bytes > mmu.memSize) {
      for (let i = 0; i < n; i++) {
        movsOnce(cpu, size, seg, false);
        regs[1]--;
        if (regs[1] !== 0) spend(cpu, 1);
      }
      continue;
    }
    if (mmu.codePage[dst >>> 12]) cpu.codeWritten(dst >>> 12);
    const u8 = mmu.u8;
    if (dst > src && dst < src + bytes) {
      // Overlapping forwards: element by element, as the hardware does (it replicates a pattern).
      if (size === 1) for (let i = 0; i < bytes; i++) u8[dst + i] = u8[src + i];
      else if (size === 2) for (let i = 0; i < bytes; i += 2) mmu.dv.setUint16(dst + i, mmu.dv.getUint16(src + i, true), true);
      else for (let i = 0; i < bytes; i += 4) mmu.dv.setInt32(dst + i, mmu.dv.getInt32(src + i, true), true);
    } else {
      u8.copyWithin(dst, src, src + bytes);
    }
    regs[6] = (esi + bytes) | 0;
    regs[7] = (edi + bytes) | 0;
    regs[1] = (regs[1] - n) | 0;
    if (regs[1] !== 0) spend(cpu, PAGE_UNITS);
  }
}

function stosOnce(cpu: Cpu, size: number, a16: boolean): void {
  wr(cpu, cpu.segLin(ES, index(cpu, 7, a16), size, true), size, cpu.regs[0]);
  advance(cpu, 7, step(cpu, size), a16);
}

export function stos(cpu: Cpu, size: number, a16: boolean, rep: boolean): void {
  if (!rep) return stosOnce(cpu, size, a16);
  units = STEP_UNITS;
  if (!a16 && (cpu.flags & DF) === 0) return stosForward(cpu, size);
  while (count(cpu, a16) !== 0) {
    stosOnce(cpu, size, a16);
    decCount(cpu, a16);
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}

function stosForward(cpu: Cpu, size: number): void {
  const regs = cpu.regs;
  const mmu = cpu.mmu;
  const v = regs[0] & MASK[SIZE_LOG[size]];
  while (regs[1] !== 0) {
    const edi = regs[7];
    const dstLin = cpu.segLin(ES, edi, size, true);
    const n = Math.min(regs[1] >>> 0, room(dstLin, size));
    if (n <= 1) {
      stosOnce(cpu, size, false);
      regs[1]--;
      if (regs[1] !== 0) spend(cpu, 1);
      continue;
    }
    const bytes = n * size;
    cpu.segLin(ES, (edi + bytes - size) | 0, size, true);
    const dst = mmu.lookup(dstLin, true);
    if (dst + bytes > mmu.memSize) {
      for (let i = 0; i < n; i++) {
        stosOnce(cpu, size, false);
        regs[1]--;
        if (regs[1] !== 0) spend(cpu, 1);
      }
      continue;
    }
    if (mmu.codePage[dst >>> 12]) cpu.codeWritten(dst >>> 12);
    if (size === 1) mmu.u8.fill(v, dst, dst + bytes);
    else if (size === 4 && (dst & 3) === 0) mmu.i32.fill(v, dst >> 2, (dst >> 2) + n);
    else if (size === 4) for (let i = 0; i < bytes; i += 4) mmu.dv.setInt32(dst + i, v, true);
    else for (let i = 0; i < bytes; i += 2) mmu.dv.setUint16(dst + i, v, true);
    regs[7] = (edi + bytes) | 0;
    regs[1] = (regs[1] - n) | 0;
    if (regs[1] !== 0) spend(cpu, PAGE_UNITS);
  }
}

function setAcc(cpu: Cpu, size: number, v: number): void {
  if (size === 1) cpu.setReg8(0, v);
  else if (size === 2) cpu.setReg16(0, v);
  else cpu.regs[0] = v;
}

function lodsOnce(cpu: Cpu, size: number, seg: number, a16: boolean): void {
  setAcc(cpu, size, rd(cpu, cpu.segLin(seg, index(cpu, 6, a16), size, false), size));
  advance(cpu, 6, step(cpu, size), a16);
}

export function lods(cpu: Cpu, size: number, seg: number, a16: boolean, rep: boolean): void {
  if (!rep) return lodsOnce(cpu, size, seg, a16);
  units = STEP_UNITS;
  if (!a16) return lodsPages(cpu, size, seg);
  while (count(cpu, a16) !== 0) {
    lodsOnce(cpu, size, seg, a16);
    decCount(cpu, a16);
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}

/**
 * rep lods with 32-bit addressing: only the last element loaded is seen, so
 * each run of elements inside one page of RAM is one check of the page (the
 * first element is read first, so a fault reports the address the hardware
 * would) and one read of the last element.
 */
function lodsPages(cpu: Cpu, size: number, seg: number): void {
  const regs = cpu.regs;
  const mmu = cpu.mmu;
  const down = (cpu.flags & DF) !== 0;
  while (regs[1] !== 0) {
    const esi = regs[6];
    const lin = cpu.segLin(seg, esi, size, false);
    // Elements wholly inside this page in the direction of travel.
    const off = lin & 0xfff;
    const fit = !down ? room(lin, size) : off + size > 0x1000 ? 0 : (off >> SIZE_LOG[size]) + 1;
    let n = Math.min(regs[1] >>> 0, fit);
    const bytes = n * size;
    const last = (esi + (down ? -(bytes - size) : bytes - size)) | 0;
    // The slow way when the offset would wrap inside the run or the last
    // element is past the segment limit: there the hardware stops part way.
    const wraps = down ? esi >>> 0 < bytes - size : (esi >>> 0) + bytes > 0x100000000;
    if (n < 2 || wraps || (last >>> 0) + size - 1 > cpu.segRLim[seg]) n = 1;
    // Translating the first element faults as the hardware would; a page
    // that is not RAM (MMIO) is read element by element.
    else if ((mmu.lookup(lin, false) & ~0xfff) + 0x1000 > mmu.memSize) n = 1;
    if (n === 1) {
      lodsOnce(cpu, size, seg, false);
      regs[1]--;
      if (regs[1] !== 0) spend(cpu, 1);
      continue;
    }
    setAcc(cpu, size, rd(cpu, (cpu.segBase[seg] + last) | 0, size));
    regs[6] = (esi + (down ? -bytes : bytes)) | 0;
    regs[1] = (regs[1] - n) | 0;
    if (regs[1] !== 0) spend(cpu, PAGE_UNITS);
  }
}

/** cmps: compare DS:[ESI] with ES:[EDI]. `rep`: 0 none, 1 repe, 2 repne. */
export function cmps(cpu: Cpu, size: number, seg: number, a16: boolean, rep: number): void {
  const s = SIZE_LOG[size];
  units = STEP_UNITS;
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    const a = rd(cpu, cpu.segLin(seg, index(cpu, 6, a16), size, false), size);
    const b = rd(cpu, cpu.segLin(ES, index(cpu, 7, a16), size, false), size);
    alu(cpu, 7, a, b, s);
    const d = step(cpu, size);
    advance(cpu, 6, d, a16);
    advance(cpu, 7, d, a16);
    if (!rep) return;
    decCount(cpu, a16);
    if ((cpu.lres === 0) !== (rep === 1)) return;
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}

/** scas: compare the accumulator with ES:[EDI]. */
export function scas(cpu: Cpu, size: number, a16: boolean, rep: number): void {
  const s = SIZE_LOG[size];
  const acc = cpu.regs[0] & MASK[s];
  units = STEP_UNITS;
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    const b = rd(cpu, cpu.segLin(ES, index(cpu, 7, a16), size, false), size);
    alu(cpu, 7, acc, b, s);
    advance(cpu, 7, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
    if ((cpu.lres === 0) !== (rep === 1)) return;
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}

export function ins(cpu: Cpu, size: number, a16: boolean, rep: boolean): void {
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, size);
  units = STEP_UNITS;
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    const lin = cpu.segLin(ES, index(cpu, 7, a16), size, true);
    // Translate before reading the port: a read from a device must not be lost to a page fault.
    cpu.mmu.checkWrite(lin, size);
    wr(cpu, lin, size, cpu.bus.in(port, size as AccessSize));
    advance(cpu, 7, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}

export function outs(cpu: Cpu, size: number, seg: number, a16: boolean, rep: boolean): void {
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, size);
  units = STEP_UNITS;
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    cpu.bus.out(port, size as AccessSize, rd(cpu, cpu.segLin(seg, index(cpu, 6, a16), size, false), size) >>> 0);
    advance(cpu, 6, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
    if (count(cpu, a16) !== 0) spend(cpu, 1);
  }
}
