import { GuestMemory } from '../memory';
import { IoBus } from '../io-bus';
import { InterruptLine } from '../interrupts';
import { VirtualClock } from '../clock';
import { BootState } from '../boot-state';
import { GuestError } from '../guest-error';
import { eflagsOf, FlagState, L } from './alu';
import { BlockCache } from './block-cache';
import { R, STRIDE } from './decoder';
import { deliverEvent, Src } from './delivery';
import { dumpState } from './dump';
import { execBlocks } from './exec';
import { FAULT, fault, Vec } from './fault';
import { FIXED_ONE, IF, IOPL, TF, WRITABLE } from './flags';
import { Fpu, FpuHost } from './fpu/fpu';
import { Mmu, MmuHost } from './mmu';
import { CR0_ET, CR0_NE, CR0_PE, CR0_PG, CR0_WP, CR4_PGE, CR4_PSE, CS, ES, SS, DS, FS, GS } from './control';
import { loadBootSegment, segCheck } from './segments';
import { CpuState, S } from './state';
import { Regions } from './wasm/regions';

export const enum RunExit {
  Budget = 0,
  Halt = 1,
}

/**
 * An i386 CPU of the P6 family, interpreted.
 *
 * The run loop looks up the decoded block at CS:EIP (block-cache.ts) and runs
 * it with the switch in exec.ts, which chains from block to block and
 * samples the interrupt line between them; once a block turns out hot, its
 * physical page is compiled to a WebAssembly region (wasm/) that runs from
 * block to block without coming back here. Guest faults unwind to
 * run() as the preallocated FAULT object and are delivered through the IDT
 * there (delivery.ts); a fault while delivering a double fault ends the
 * guest with a GuestError.
 *
 * The interrupt line is sampled before every block, so it may change at any
 * time between run() calls or during a port or MMIO access.
 *
 * Not implemented: virtual-8086 mode (a guest entering it is ended with a
 * GuestError), hardware breakpoints (DR0-7 are stored only), SMM, and the
 * features CPUID does not report (PAE, APIC, MMX/SSE, MTRRs, MCE, PAT).
 *
 * State is kept in numeric fields and typed arrays; the fields below that
 * are not part of the public contract are still public because exec.ts and
 * its helper modules work on them directly.
 */
export class Cpu implements FlagState, MmuHost {
  /**
   * The registers and a ninth slot that is always zero, so an effective
   * address adds "base" and "index" without asking whether they exist
   * (the decoder names slot 8 for a missing one).
   */
  readonly eaRegs: Int32Array;
  /** General registers in encoding order: EAX ECX EDX EBX ESP EBP ESI EDI. */
  readonly regs: Int32Array;
  eip = 0;

  // EFLAGS, with the arithmetic flags computed lazily (alu.ts).
  flags = FIXED_ONE;
  lop = 0;
  lres = 0;
  la = 0;
  lb = 0;
  lc = 0;

  // Segment registers ES CS SS DS FS GS: the visible selector and the hidden
  // descriptor cache. segFlags keeps the access-rights bits of the high
  // dword (type, S, DPL, P, AVL, D/B, G, in place); 0 = unusable.
  readonly segSel = new Int32Array(6);
  readonly segBase: Int32Array;
  readonly segLimit = new Float64Array(6);
  readonly segFlags = new Int32Array(6);
  /** Highest offset an access may end at and pass with one compare; -1 sends it to segCheck(). */
  readonly segRLim: Float64Array;
  readonly segWLim: Float64Array;
  /** CS.D: 1 for a 32-bit code segment. */
  csD = 1;
  /** CS limit below 4 GiB: blocks are cut where they would cross it. */
  csLimited = true;
  /** SS.B: 32-bit stack pointer. */
  ss32 = true;
  ssMask = -1;
  cpl = 0;

  private cr0v = CR0_ET;
  cr2 = 0;
  private cr3v = 0;
  private cr4v = 0;
  readonly dr = new Int32Array(8);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0x3ff;
  ldtSel = 0;
  ldtBase = 0;
  ldtLimit = -1;
  trSel = 0;
  trBase = 0;
  trLimit = -1;
  /** Type field of the TSS descriptor in TR (0xB busy 32-bit, 0x3 busy 16-bit). */
  trType = 0;

  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  /** TSC = virtual-clock nanoseconds + tscOffset (a 1 GHz TSC; wrmsr 0x10 moves it). */
  tscOffset = 0;

  /** hlt executed; waiting for an interrupt. */
  halted = false;
  /** The previous instruction was sti / mov ss / pop ss: no interrupt before the next one. */
  shadow = false;

  /** Instructions retired since start. */
  instructionCount = 0;
  /** Times the CPU entered user mode (CPL 3): an idle kernel never does. */
  userEntries = 0;
  /** Record of the running instruction, -1 between blocks. */
  ip = -1;
  blockStart = 0;
  blockEip = 0;
  blockId = -1;
  /**
   * Interpreted runs of a block after which its page is compiled to a wasm
   * region (wasm/). High enough that code run once at boot is not compiled;
   * tests set 1 to run everything through the compiler (pages rewritten
   * again and again included), Infinity for none.
   */
  compileAfter = 2000;
  /** The physical page of the region running now, or -1. */
  regionPage = -1;
  /** Set by interrupt delivery: an instruction that delivered an event does not single-step trap. */
  delivered = false;

  // Scratch for descriptor reads (segments.ts), so none allocate.
  dLo = 0;
  dHi = 0;
  dAddr = 0;

  /** Registers, segment bases and limits and the TLB live here, after guest RAM (state.ts). */
  readonly state: CpuState;
  readonly mmu: Mmu;
  readonly cache: BlockCache;
  readonly regions: Regions;
  readonly code: Int32Array;
  readonly fpu: Fpu;
  log: (msg: string) => void = () => {};

  private readonly fetchNext = (lin: number): number => this.mmu.translate(lin, false, this.mmu.user);

  constructor(
    readonly mem: GuestMemory,
    readonly bus: IoBus,
    readonly intr: InterruptLine,
    readonly clock: VirtualClock,
  ) {
    this.state = new CpuState(mem);
    this.eaRegs = this.state.int32(S.REGS, 9);
    this.regs = this.eaRegs.subarray(0, 8);
    this.segBase = this.state.int32(S.SEG_BASE, 6);
    this.segRLim = this.state.float64(S.SEG_RLIM, 6);
    this.segWLim = this.state.float64(S.SEG_WLIM, 6);
    this.mmu = new Mmu(mem, bus, this, this.state);
    this.cache = new BlockCache(this.mmu);
    this.code = this.cache.code;
    this.regions = new Regions(this);
    this.cache.onRewrite = (page) => this.regions.rewritten(page);
    this.fpu = new Fpu(new FpuBridge(this));
    clock.followInstructions(() => this.retired());
    for (let i = 0; i < 6; i++) this.setSeg(i, 0, 0, 0xffff, 0x9300);
  }

  // ---- public state access ---------------------------------------------------

  get cr0(): number {
    return this.cr0v;
  }
  set cr0(v: number) {
    const changed = this.cr0v ^ v;
    this.cr0v = v | CR0_ET;
    this.mmu.setControl(this.cr0v, this.cr3v, this.cr4v);
    if (changed & (CR0_PG | CR0_WP | CR0_PE)) this.mmu.flush(false);
  }

  get cr3(): number {
    return this.cr3v;
  }
  set cr3(v: number) {
    this.cr3v = v;
    this.mmu.setControl(this.cr0v, this.cr3v, this.cr4v);
    this.mmu.flush(true);
  }

  get cr4(): number {
    return this.cr4v;
  }
  set cr4(v: number) {
    const changed = this.cr4v ^ v;
    this.cr4v = v;
    this.mmu.setControl(this.cr0v, this.cr3v, this.cr4v);
    if (changed & (CR4_PSE | CR4_PGE)) this.mmu.flush(false);
  }

  getEflags(): number {
    return eflagsOf(this) | FIXED_ONE;
  }

  setEflags(value: number): void {
    this.flags = (value & WRITABLE) | FIXED_ONE;
    this.lop = L.NONE;
  }

  getSegment(i: number): { selector: number; base: number; limit: number; flags: number } {
    return { selector: this.segSel[i], base: this.segBase[i] >>> 0, limit: this.segLimit[i], flags: this.segFlags[i] };
  }

  /** Instructions retired, counting the ones already run in the current block. */
  retired(): number {
    return this.ip < 0 ? this.instructionCount : this.instructionCount + (this.ip - this.blockStart) / STRIDE;
  }

  /**
   * A device wrote guest RAM behind the CPU's back (DMA): drop code decoded
   * from those pages, as a CPU write would.
   */
  invalidatePhys(addr: number, len: number): void {
    const last = Math.min(addr + len, this.mmu.memSize) - 1;
    for (let page = addr >>> 12; page <= last >>> 12; page++) {
      if (this.mmu.codePage[page]) this.codeWritten(page);
    }
  }

  /** MmuHost: a write hit a page holding decoded code. */
  codeWritten(page: number): void {
    this.cache.invalidatePage(page, this.ip < 0 ? -2 : this.blockId, this.ip);
  }

  // ---- entry -----------------------------------------------------------------

  reset(state: BootState): void {
    const r = this.regs;
    r[0] = state.eax;
    r[1] = state.ecx;
    r[2] = state.edx;
    r[3] = state.ebx;
    r[4] = state.esp;
    r[5] = state.ebp;
    r[6] = state.esi;
    r[7] = state.edi;
    this.eip = state.eip | 0;
    this.setEflags(state.eflags);
    this.cr4v = state.cr4;
    this.cr3v = state.cr3;
    this.cr0 = state.cr0;
    this.mmu.flush(false);
    this.cache.flush();
    this.gdtBase = state.gdtBase | 0;
    this.gdtLimit = state.gdtLimit;
    this.idtBase = 0;
    this.idtLimit = 0x3ff;
    this.ldtSel = 0;
    this.ldtLimit = -1;
    this.trSel = 0;
    this.trLimit = -1;
    this.trType = 0;
    this.setCpl(0);
    this.halted = false;
    this.shadow = false;
    this.fpu.reset();
    loadBootSegment(this, CS, state.cs);
    for (const s of [ES, SS, DS, FS, GS]) loadBootSegment(this, s, state.ds);
    this.setCpl(this.cr0v & CR0_PE ? state.cs & 3 : 0);
  }

  // ---- segments and privilege ---------------------------------------------------

  /** Fill a segment register's selector and descriptor cache. */
  setSeg(i: number, sel: number, base: number, limit: number, fl: number): void {
    // Block links hold EIPs: they go stale only when CS maps EIPs to other
    // linear addresses or decodes or limits them differently. Interrupts and
    // iret reload the same kernel CS on every tick, and dropping every link
    // then would make each block of the tick path look itself up again.
    if (i === CS && ((base | 0) !== this.segBase[CS] || limit !== this.segLimit[CS] || ((fl >> 22) & 1) !== this.csD)) {
      this.mmu.gen++;
    }
    this.segSel[i] = sel & 0xffff;
    this.segBase[i] = base | 0;
    this.segLimit[i] = limit;
    this.segFlags[i] = fl;
    let rl = -1;
    let wl = -1;
    if ((fl & 0x9000) === 0x9000) {
      // present code/data segment
      const type = (fl >> 8) & 15;
      if (type & 8) {
        if (type & 2) rl = limit;
      } else if ((type & 4) === 0) {
        rl = limit;
        if (type & 2) wl = limit;
      }
    }
    this.segRLim[i] = rl;
    this.segWLim[i] = wl;
    if (i === CS) {
      this.csD = (fl >> 22) & 1;
      this.csLimited = limit < 0xffffffff;
    } else if (i === SS) {
      this.ss32 = (fl & 0x400000) !== 0;
      this.ssMask = this.ss32 ? -1 : 0xffff;
    }
  }

  setCpl(c: number): void {
    if (c === 3 && this.cpl !== 3) this.userEntries++;
    this.cpl = c;
    this.mmu.setUser(c === 3);
  }

  get protectedMode(): boolean {
    return (this.cr0v & CR0_PE) !== 0;
  }

  get iopl(): number {
    return (this.flags & IOPL) >> 12;
  }

  // ---- operand helpers used by exec.ts -------------------------------------

  /** Effective address (segment offset) of the record's memory operand. */
  ea(p: number): number {
    const code = this.code;
    const e = code[p + R.EA];
    const r = this.eaRegs;
    const a = (code[p + R.DISP] + r[e & 15] + (r[(e >> 4) & 15] << ((e >> 8) & 3))) | 0;
    return (e & 0x8000) !== 0 ? a & 0xffff : a;
  }

  /** Linear address of a `size`-byte read of the record's memory operand, limit-checked. */
  linR(p: number, size: number): number {
    const seg = (this.code[p + R.EA] >> 12) & 7;
    const off = this.ea(p);
    if ((off >>> 0) + size - 1 > this.segRLim[seg]) return segCheck(this, seg, off, size, false);
    return (this.segBase[seg] + off) | 0;
  }

  /** Linear address of a `size`-byte write (or read-modify-write). */
  linW(p: number, size: number): number {
    const seg = (this.code[p + R.EA] >> 12) & 7;
    const off = this.ea(p);
    if ((off >>> 0) + size - 1 > this.segWLim[seg]) return segCheck(this, seg, off, size, true);
    return (this.segBase[seg] + off) | 0;
  }

  /** Linear address of segment `seg` offset `off`, limit-checked. */
  segLin(seg: number, off: number, size: number, write: boolean): number {
    const lim = write ? this.segWLim[seg] : this.segRLim[seg];
    if ((off >>> 0) + size - 1 > lim) return segCheck(this, seg, off, size, write);
    return (this.segBase[seg] + off) | 0;
  }

  reg8(r: number): number {
    return r < 4 ? this.regs[r] & 0xff : (this.regs[r - 4] >> 8) & 0xff;
  }

  setReg8(r: number, v: number): void {
    if (r < 4) this.regs[r] = (this.regs[r] & ~0xff) | (v & 0xff);
    else this.regs[r - 4] = (this.regs[r - 4] & ~0xff00) | ((v & 0xff) << 8);
  }

  setReg16(r: number, v: number): void {
    this.regs[r] = (this.regs[r] & ~0xffff) | (v & 0xffff);
  }

  // ---- stack -----------------------------------------------------------------

  setSp(v: number): void {
    this.regs[4] = this.ss32 ? v | 0 : (this.regs[4] & ~0xffff) | (v & 0xffff);
  }

  push32(v: number): void {
    const sp = (this.regs[4] - 4) & this.ssMask;
    this.mmu.wr32(this.segLin(SS, sp, 4, true), v);
    this.setSp(sp);
  }

  push16(v: number): void {
    const sp = (this.regs[4] - 2) & this.ssMask;
    this.mmu.wr16(this.segLin(SS, sp, 2, true), v);
    this.setSp(sp);
  }

  /**
   * A selector pushed with a 32-bit operand: a 4-byte slot of which only the
   * low 16 bits are written, as recent Intel CPUs do (the SDM allows this or
   * zero extension; AMD zero-extends).
   */
  pushSel32(sel: number): void {
    const sp = (this.regs[4] - 4) & this.ssMask;
    this.mmu.wr16(this.segLin(SS, sp, 4, true), sel);
    this.setSp(sp);
  }

  pop32(): number {
    const sp = this.regs[4] & this.ssMask;
    const v = this.mmu.rd32(this.segLin(SS, sp, 4, false));
    this.setSp(sp + 4);
    return v;
  }

  pop16(): number {
    const sp = this.regs[4] & this.ssMask;
    const v = this.mmu.rd16(this.segLin(SS, sp, 2, false));
    this.setSp(sp + 2);
    return v;
  }

  /** Read the stack `off` bytes above ESP without popping (for instructions that can still fault). */
  stackRead32(off: number): number {
    return this.mmu.rd32(this.segLin(SS, (this.regs[4] + off) & this.ssMask, 4, false));
  }

  stackRead16(off: number): number {
    return this.mmu.rd16(this.segLin(SS, (this.regs[4] + off) & this.ssMask, 2, false));
  }

  // ---- the run loop ------------------------------------------------------------

  /**
   * Run up to `maxInstructions` instructions. Returns Halt when the guest
   * executed hlt and nothing is pending; Budget when the budget ran out.
   */
  run(maxInstructions: number): RunExit {
    const target = this.instructionCount + maxInstructions;
    while (this.instructionCount < target) {
      if (this.halted) {
        if ((this.flags & IF) === 0 || !this.intr.pending()) return RunExit.Halt;
        this.halted = false;
      }
      try {
        this.runBlocks(target);
      } catch (e) {
        if (e !== FAULT) throw e;
        this.onFault();
      }
    }
    return RunExit.Budget;
  }

  private runBlocks(target: number): void {
    const cache = this.cache;
    while (this.instructionCount < target) {
      // After sti / mov ss / pop ss exactly one instruction runs before
      // interrupts are looked at again, so a window as short as
      // `sti; nop; cli` still lets a pending interrupt in.
      const shadow = this.shadow;
      if (shadow) this.shadow = false;
      else if ((this.flags & IF) !== 0 && this.intr.pending()) this.acceptInterrupt();
      const tf = this.flags & TF;
      this.lookupBlock();
      const start = cache.start;
      let end = cache.end;
      this.blockStart = start;
      this.blockId = cache.id;
      this.blockEip = this.eip;
      if (this.csLimited) end = this.clampToCsLimit(start, end);
      // One instruction at a time under TF or the shadow; a block cut at the CS
      // limit is neither chained nor compiled.
      const single = tf !== 0 || shadow;
      if (single) end = start + STRIDE;
      this.delivered = false;
      execBlocks(this, start, end, this.eip, target, !single && !this.csLimited);
      if (tf && !this.delivered) this.singleStepTrap();
      if (this.halted) return;
    }
  }

  private lookupBlock(): void {
    const eip = this.eip;
    const lin = (this.segBase[CS] + eip) | 0;
    const e = this.mmu.r[lin >>> 12];
    const phys = e !== -1 ? (e ^ lin) >>> 0 : this.mmu.translate(lin, false, this.mmu.user);
    const cache = this.cache;
    if (!cache.find(phys, this.csD) || (cache.page2 >= 0 && this.fetchNext(((lin | 0xfff) + 1) | 0) >>> 12 !== cache.page2)) {
      cache.decode(phys, lin, this.csD, this.fetchNext);
    }
  }

  /** Cut a block at the first instruction that would cross the CS limit; #GP(0) if that is the first. */
  private clampToCsLimit(start: number, end: number): number {
    const limit = this.segLimit[CS];
    for (let p = start; p < end; p += STRIDE) {
      if (this.eip + (this.code[p + R.OFFS] >>> 16) - 1 > limit) {
        if (p === start) fault(Vec.GP, 0);
        return p;
      }
    }
    return end;
  }

  private acceptInterrupt(): void {
    const vector = this.intr.acknowledge() & 0xff;
    this.halted = false;
    deliverEvent(this, vector, Src.HW, false, 0, this.eip);
  }

  private singleStepTrap(): void {
    this.dr[6] |= 0x4000;
    deliverEvent(this, Vec.DB, Src.EXC, false, 0, this.eip);
  }

  /** A guest fault unwound to run(): roll EIP back to the faulting instruction and deliver it. */
  private onFault(): void {
    const vector = FAULT.vector;
    const hasCode = FAULT.hasErrorCode;
    const code = FAULT.errorCode;
    const p = this.ip;
    if (p >= 0) {
      this.instructionCount += (p - this.blockStart) / STRIDE;
      this.eip = this.blockEip + (this.code[p + R.OFFS] & 0xffff);
      if (!this.csD) this.eip &= 0xffff;
      this.ip = -1;
    }
    deliverEvent(this, vector, Src.EXC, hasCode, code, this.eip);
  }

  /** End the guest: a fault while delivering a double fault. */
  tripleFault(reason: string): never {
    this.ip = -1;
    throw new GuestError(`triple fault: ${reason}\n${dumpState(this)}`);
  }
}

/** The FPU's view of the CPU: memory through paging, EFLAGS, AX, #MF. */
class FpuBridge implements FpuHost {
  constructor(private readonly cpu: Cpu) {}
  read8(addr: number): number {
    return this.cpu.mmu.rd8(addr);
  }
  read16(addr: number): number {
    return this.cpu.mmu.rd16(addr);
  }
  read32(addr: number): number {
    return this.cpu.mmu.rd32(addr);
  }
  write8(addr: number, v: number): void {
    this.cpu.mmu.wr8(addr, v);
  }
  write16(addr: number, v: number): void {
    this.cpu.mmu.wr16(addr, v);
  }
  write32(addr: number, v: number): void {
    this.cpu.mmu.wr32(addr, v);
  }
  checkWrite(addr: number, len: number): void {
    this.cpu.mmu.checkWrite(addr, len);
  }
  getEflags(): number {
    return this.cpu.getEflags();
  }
  setArithFlags(zf: boolean, pf: boolean, cf: boolean): void {
    const c = this.cpu;
    c.setEflags((c.getEflags() & ~0x8d5) | (zf ? 0x40 : 0) | (pf ? 0x4 : 0) | (cf ? 0x1 : 0));
  }
  setAx(v: number): void {
    this.cpu.setReg16(0, v);
  }
  raiseMF(): void {
    // With CR0.NE clear a PC would signal FERR# to the PIC (IRQ 13); nothing
    // here is wired to it, and Linux on a P6 always sets NE.
    if (this.cpu.cr0 & CR0_NE) fault(Vec.MF);
  }
}
