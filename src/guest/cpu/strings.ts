import type { AccessSize } from '../io-bus';
import { alu, MASK } from './alu';
import type { Cpu } from './cpu';
import { ES } from './control';
import { DF } from './flags';
import { checkIo } from './system';

/**
 * String instructions. A rep prefix runs the whole loop here, committing
 * ESI/EDI/ECX after every element (or chunk), so a fault part way leaves the
 * registers describing exactly the work left, and the instruction restarts.
 *
 * rep movs and rep stos with 32-bit addressing and DF clear (the kernel's
 * memcpy and memset) go a page-sized chunk at a time straight into the RAM
 * buffer once both ends are translated.
 */

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
  if (!a16 && (cpu.flags & DF) === 0) return movsForward(cpu, size, seg);
  while (count(cpu, a16) !== 0) {
    movsOnce(cpu, size, seg, a16);
    decCount(cpu, a16);
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
  }
}

function stosOnce(cpu: Cpu, size: number, a16: boolean): void {
  wr(cpu, cpu.segLin(ES, index(cpu, 7, a16), size, true), size, cpu.regs[0]);
  advance(cpu, 7, step(cpu, size), a16);
}

export function stos(cpu: Cpu, size: number, a16: boolean, rep: boolean): void {
  if (!rep) return stosOnce(cpu, size, a16);
  if (!a16 && (cpu.flags & DF) === 0) return stosForward(cpu, size);
  while (count(cpu, a16) !== 0) {
    stosOnce(cpu, size, a16);
    decCount(cpu, a16);
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
      continue;
    }
    const bytes = n * size;
    cpu.segLin(ES, (edi + bytes - size) | 0, size, true);
    const dst = mmu.lookup(dstLin, true);
    if (dst + bytes > mmu.memSize) {
      for (let i = 0; i < n; i++) {
        stosOnce(cpu, size, false);
        regs[1]--;
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
  }
}

function setAcc(cpu: Cpu, size: number, v: number): void {
  if (size === 1) cpu.setReg8(0, v);
  else if (size === 2) cpu.setReg16(0, v);
  else cpu.regs[0] = v;
}

export function lods(cpu: Cpu, size: number, seg: number, a16: boolean, rep: boolean): void {
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    setAcc(cpu, size, rd(cpu, cpu.segLin(seg, index(cpu, 6, a16), size, false), size));
    advance(cpu, 6, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
  }
}

/** cmps: compare DS:[ESI] with ES:[EDI]. `rep`: 0 none, 1 repe, 2 repne. */
export function cmps(cpu: Cpu, size: number, seg: number, a16: boolean, rep: number): void {
  const s = SIZE_LOG[size];
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
  }
}

/** scas: compare the accumulator with ES:[EDI]. */
export function scas(cpu: Cpu, size: number, a16: boolean, rep: number): void {
  const s = SIZE_LOG[size];
  const acc = cpu.regs[0] & MASK[s];
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    const b = rd(cpu, cpu.segLin(ES, index(cpu, 7, a16), size, false), size);
    alu(cpu, 7, acc, b, s);
    advance(cpu, 7, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
    if ((cpu.lres === 0) !== (rep === 1)) return;
  }
}

export function ins(cpu: Cpu, size: number, a16: boolean, rep: boolean): void {
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, size);
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    const lin = cpu.segLin(ES, index(cpu, 7, a16), size, true);
    // Translate before reading the port: a read from a device must not be lost to a page fault.
    cpu.mmu.checkWrite(lin, size);
    wr(cpu, lin, size, cpu.bus.in(port, size as AccessSize));
    advance(cpu, 7, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
  }
}

export function outs(cpu: Cpu, size: number, seg: number, a16: boolean, rep: boolean): void {
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, size);
  for (;;) {
    if (rep && count(cpu, a16) === 0) return;
    cpu.bus.out(port, size as AccessSize, rd(cpu, cpu.segLin(seg, index(cpu, 6, a16), size, false), size) >>> 0);
    advance(cpu, 6, step(cpu, size), a16);
    if (!rep) return;
    decCount(cpu, a16);
  }
}
