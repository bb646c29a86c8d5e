import { GuestMemory } from '../memory';
import { IoBus } from '../io-bus';
import { pageFault } from './fault';
import { CpuState, S } from './state';

/** What the MMU needs from the rest of the CPU. */
export interface MmuHost {
  /** Page-fault linear address register. */
  cr2: number;
  /** A write landed on a physical page that holds decoded code. */
  codeWritten(page: number): void;
}

const VPAGES = 1 << 20;
const NONE = -1;

// Page-table entry bits.
const P = 0x1;
const RW = 0x2;
const US = 0x4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
const G = 0x100;

// #PF error-code bits.
const PF_P = 1;
const PF_W = 2;
const PF_U = 4;

/**
 * Linear-to-physical translation: two-level i386 paging (4 KiB pages, 4 MiB
 * pages with CR4.PSE, global pages with CR4.PGE, CR0.WP, accessed and dirty
 * bits), a software TLB, and the physical bus (RAM below mem.size, MMIO above).
 *
 * The TLB is four direct-indexed tables of 1M entries, one per (privilege,
 * access) pair: supervisor read, supervisor write, user read, user write.
 * An entry holds `physicalPage ^ virtualPage`, so a hit costs one load, one
 * compare with NONE and one xor: `phys = entry ^ linear`. A table holds an
 * entry only if that access is allowed without touching the page tables:
 * write entries only exist once the dirty bit is set, and never for pages
 * holding decoded code (those writes take the slow path so the block cache
 * can invalidate what they overwrite) or for MMIO.
 *
 * Filled virtual pages are remembered in a list, so a CR3 reload clears only
 * what was filled rather than 4M entries; global entries survive it.
 */
export class Mmu {
  private readonly rk: Int32Array;
  private readonly wk: Int32Array;
  private readonly ru: Int32Array;
  private readonly wu: Int32Array;
  /**
   * Bumped whenever an existing translation may change (flush, invlpg, a
   * privilege switch) or the CPU says so (CS reload, block cache flush), so
   * that anything derived from translations can tell it is stale.
   */
  gen = 0;
  /** The read and write tables of the current privilege level (CPL 3 = user). */
  r: Int32Array;
  w: Int32Array;
  user = false;

  private paging = false;
  private wp = false;
  private pse = false;
  private pge = false;
  private pdBase = 0;

  private readonly filled = new Int32Array(VPAGES);
  private nfilled = 0;
  /** Per virtual page: bit 0 = on the filled list, bit 1 = global. */
  private readonly state = new Uint8Array(VPAGES);

  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly i32: Int32Array;
  readonly memSize: number;
  /** Per physical page: non-zero when the block cache holds code decoded from it. */
  readonly codePage: Uint8Array;

  constructor(
    mem: GuestMemory,
    private readonly bus: IoBus,
    private readonly host: MmuHost,
    private readonly cpuState: CpuState,
  ) {
    const table = (i: number): Int32Array => cpuState.int32(S.TLB + i * S.TLB_TABLE, VPAGES).fill(NONE);
    this.rk = table(0);
    this.wk = table(1);
    this.ru = table(2);
    this.wu = table(3);
    this.r = this.rk;
    this.w = this.wk;
    this.setUser(false);
    this.u8 = mem.u8;
    this.dv = mem.view;
    this.i32 = new Int32Array(mem.buffer, 0, mem.size >>> 2);
    this.memSize = mem.size;
    this.codePage = new Uint8Array(Math.ceil(mem.size / 4096));
  }

  // ---- control -------------------------------------------------------------

  /** CR0/CR3/CR4 changed. The caller decides which flush the change needs. */
  setControl(cr0: number, cr3: number, cr4: number): void {
    this.paging = (cr0 & 0x80000000) !== 0;
    this.wp = (cr0 & 0x10000) !== 0;
    this.pse = (cr4 & 0x10) !== 0;
    this.pge = (cr4 & 0x80) !== 0;
    this.pdBase = cr3 & 0xfffff000;
  }

  setUser(user: boolean): void {
    if (user !== this.user) this.gen++;
    this.user = user;
    this.r = user ? this.ru : this.rk;
    this.w = user ? this.wu : this.wk;
    // Compiled code finds the current tables through the state block.
    const tables = this.cpuState.base + S.TLB + (user ? 2 * S.TLB_TABLE : 0);
    this.cpuState.i32[S.RTAB >> 2] = tables;
    this.cpuState.i32[S.WTAB >> 2] = tables + S.TLB_TABLE;
  }

  /** Drop every entry (CR0.PG/WP, CR4 changes), or all but global ones (CR3 reload). */
  flush(keepGlobal: boolean): void {
    this.gen++;
    const { filled, state } = this;
    let kept = 0;
    for (let i = 0; i < this.nfilled; i++) {
      const v = filled[i];
      if (keepGlobal && (state[v] & 2) !== 0) {
        filled[kept++] = v;
        continue;
      }
      this.rk[v] = NONE;
      this.wk[v] = NONE;
      this.ru[v] = NONE;
      this.wu[v] = NONE;
      state[v] = 0;
    }
    this.nfilled = kept;
  }

  invlpg(lin: number): void {
    this.gen++;
    const v = lin >>> 12;
    this.rk[v] = NONE;
    this.wk[v] = NONE;
    this.ru[v] = NONE;
    this.wu[v] = NONE;
  }

  /** A physical page now holds decoded code: stop writing it through the TLB. */
  markCode(page: number): void {
    if (this.codePage[page]) return;
    this.codePage[page] = 1;
    const { filled, wk, wu } = this;
    for (let i = 0; i < this.nfilled; i++) {
      const v = filled[i];
      const base = v << 12;
      if (wk[v] !== NONE && ((wk[v] ^ base) >>> 12) === page) wk[v] = NONE;
      if (wu[v] !== NONE && ((wu[v] ^ base) >>> 12) === page) wu[v] = NONE;
    }
  }

  // ---- guest linear accesses (current privilege) ------------------------------

  rd8(lin: number): number {
    const e = this.r[lin >>> 12];
    if (e !== NONE) return this.u8[(e ^ lin) >>> 0];
    return this.physRd8(this.translate(lin, false, this.user));
  }

  rd16(lin: number): number {
    const e = this.r[lin >>> 12];
    if (e !== NONE && (lin & 0xfff) !== 0xfff) return this.dv.getUint16((e ^ lin) >>> 0, true);
    return this.rd16Slow(lin, this.user);
  }

  rd32(lin: number): number {
    const e = this.r[lin >>> 12];
    if (e !== NONE && (lin & 0xfff) <= 0xffc) return this.dv.getInt32((e ^ lin) >>> 0, true);
    return this.rd32Slow(lin, this.user);
  }

  wr8(lin: number, v: number): void {
    const e = this.w[lin >>> 12];
    if (e !== NONE) this.u8[(e ^ lin) >>> 0] = v;
    else this.physWr8(this.translate(lin, true, this.user), v);
  }

  wr16(lin: number, v: number): void {
    const e = this.w[lin >>> 12];
    if (e !== NONE && (lin & 0xfff) !== 0xfff) this.dv.setUint16((e ^ lin) >>> 0, v, true);
    else this.wrSlow(lin, v, 2, this.user);
  }

  wr32(lin: number, v: number): void {
    const e = this.w[lin >>> 12];
    if (e !== NONE && (lin & 0xfff) <= 0xffc) this.dv.setInt32((e ^ lin) >>> 0, v, true);
    else this.wrSlow(lin, v, 4, this.user);
  }

  /** Physical address for an access at `lin` with the current privilege (TLB, else a walk). */
  lookup(lin: number, write: boolean): number {
    const e = (write ? this.w : this.r)[lin >>> 12];
    return e !== NONE ? (e ^ lin) >>> 0 : this.translate(lin, write, this.user);
  }

  /** Check that a write of `len` bytes at `lin` would not fault (multi-part stores). */
  checkWrite(lin: number, len: number): void {
    let a = lin;
    const end = lin + len;
    while (a < end) {
      if (this.w[(a >>> 12) & 0xfffff] === NONE) this.translate(a | 0, true, this.user);
      a = (a | 0xfff) + 1;
    }
  }

  // ---- implicit supervisor accesses (descriptor tables, TSS, IDT) -----------

  rdSys8(lin: number): number {
    const e = this.rk[lin >>> 12];
    if (e !== NONE) return this.u8[(e ^ lin) >>> 0];
    return this.physRd8(this.translate(lin, false, false));
  }

  rdSys16(lin: number): number {
    const e = this.rk[lin >>> 12];
    if (e !== NONE && (lin & 0xfff) !== 0xfff) return this.dv.getUint16((e ^ lin) >>> 0, true);
    return this.rd16Slow(lin, false);
  }

  rdSys32(lin: number): number {
    const e = this.rk[lin >>> 12];
    if (e !== NONE && (lin & 0xfff) <= 0xffc) return this.dv.getInt32((e ^ lin) >>> 0, true);
    return this.rd32Slow(lin, false);
  }

  wrSys8(lin: number, v: number): void {
    this.physWr8(this.translate(lin, true, false), v);
  }

  wrSys16(lin: number, v: number): void {
    this.wrSlow(lin, v, 2, false);
  }

  wrSys32(lin: number, v: number): void {
    this.wrSlow(lin, v, 4, false);
  }

  // ---- slow paths ------------------------------------------------------------

  private rd16Slow(lin: number, user: boolean): number {
    if ((lin & 0xfff) === 0xfff) {
      const lo = this.physRd8(this.translate(lin, false, user));
      return lo | (this.physRd8(this.translate((lin + 1) | 0, false, user)) << 8);
    }
    return this.physRd16(this.translate(lin, false, user));
  }

  private rd32Slow(lin: number, user: boolean): number {
    if ((lin & 0xfff) > 0xffc) {
      let v = 0;
      for (let i = 0; i < 4; i++) v |= this.physRd8(this.translate((lin + i) | 0, false, user)) << (8 * i);
      return v;
    }
    return this.physRd32(this.translate(lin, false, user));
  }

  /** A write that missed the TLB: both pages are checked before any byte is stored. */
  private wrSlow(lin: number, v: number, size: number, user: boolean): void {
    const off = lin & 0xfff;
    if (off + size <= 0x1000) {
      const pa = this.translate(lin, true, user);
      if (size === 4) this.physWr32(pa, v);
      else this.physWr16(pa, v);
      return;
    }
    const pa0 = this.translate(lin, true, user);
    const pa1 = this.translate(((lin | 0xfff) + 1) | 0, true, user);
    const first = 0x1000 - off;
    for (let i = 0; i < size; i++) {
      this.physWr8(i < first ? pa0 + i : pa1 + (i - first), (v >>> (8 * i)) & 0xff);
    }
  }

  /**
   * Walk the page tables for `lin`, check the access, set the accessed and
   * dirty bits, fill the TLB, and return the physical address. Raises #PF
   * (with CR2) when the access is not allowed.
   */
  translate(lin: number, write: boolean, user: boolean): number {
    const vpn = lin >>> 12;
    if (!this.paging) {
      const pa = lin >>> 0;
      if (pa < this.memSize) this.fill(vpn, vpn, true, true, true, false);
      return pa;
    }
    const pdeAddr = this.pdBase + ((lin >>> 22) << 2);
    const pde = this.physRd32(pdeAddr);
    if ((pde & P) === 0) this.pageFault(lin, 0, write, user);
    let ptePerms: number;
    let ppage: number;
    let global: boolean;
    if ((pde & PS) !== 0 && this.pse) {
      this.checkAccess(lin, pde, write, user);
      const want = pde | A | (write ? D : 0);
      if (want !== pde) this.physWr32(pdeAddr, want);
      ptePerms = want;
      ppage = ((pde >>> 12) & 0xffc00) | (vpn & 0x3ff);
      global = (pde & G) !== 0;
    } else {
      const pteAddr = (pde & 0xfffff000) + ((vpn & 0x3ff) << 2);
      const pte = this.physRd32(pteAddr);
      if ((pte & P) === 0) this.pageFault(lin, 0, write, user);
      const both = pde & pte;
      this.checkAccess(lin, both, write, user);
      if ((pde & A) === 0) this.physWr32(pdeAddr, pde | A);
      const want = pte | A | (write ? D : 0);
      if (want !== pte) this.physWr32(pteAddr, want);
      ptePerms = (both & (RW | US)) | (want & D);
      ppage = pte >>> 12;
      global = (pte & G) !== 0;
    }
    const pa = ((ppage << 12) | (lin & 0xfff)) >>> 0;
    if (pa < this.memSize) {
      const dirty = (ptePerms & D) !== 0;
      const u = (ptePerms & US) !== 0;
      const w = (ptePerms & RW) !== 0;
      this.fill(vpn, ppage, u, dirty && (w || !this.wp), dirty && u && w, global && this.pge);
    }
    return pa;
  }

  private checkAccess(lin: number, perms: number, write: boolean, user: boolean): void {
    if (user) {
      if ((perms & US) === 0 || (write && (perms & RW) === 0)) this.pageFault(lin, PF_P, write, user);
    } else if (write && this.wp && (perms & RW) === 0) {
      this.pageFault(lin, PF_P, write, user);
    }
  }

  private pageFault(lin: number, present: number, write: boolean, user: boolean): never {
    this.host.cr2 = lin | 0;
    return pageFault(present | (write ? PF_W : 0) | (user ? PF_U : 0));
  }

  private fill(vpn: number, ppage: number, userRead: boolean, supWrite: boolean, userWrite: boolean, global: boolean): void {
    const e = ((ppage ^ vpn) << 12) | 0;
    const code = this.codePage[ppage] !== 0;
    this.rk[vpn] = e;
    this.ru[vpn] = userRead ? e : NONE;
    this.wk[vpn] = supWrite && !code ? e : NONE;
    this.wu[vpn] = userWrite && !code ? e : NONE;
    const s = this.state[vpn];
    if ((s & 1) === 0) this.filled[this.nfilled++] = vpn;
    this.state[vpn] = 1 | (global ? 2 : 0);
  }

  // ---- physical bus ----------------------------------------------------------

  physRd8(pa: number): number {
    if (pa < this.memSize) return this.u8[pa];
    return this.bus.mmioRead(pa, 1) & 0xff;
  }

  physRd16(pa: number): number {
    if (pa + 2 <= this.memSize) return this.dv.getUint16(pa, true);
    return this.bus.mmioRead(pa, 2) & 0xffff;
  }

  physRd32(pa: number): number {
    if (pa + 4 <= this.memSize) return this.dv.getInt32(pa, true);
    return this.bus.mmioRead(pa, 4) | 0;
  }

  physWr8(pa: number, v: number): void {
    if (pa < this.memSize) {
      if (this.codePage[pa >>> 12]) this.host.codeWritten(pa >>> 12);
      this.u8[pa] = v;
    } else {
      this.bus.mmioWrite(pa, 1, v & 0xff);
    }
  }

  physWr16(pa: number, v: number): void {
    if (pa + 2 <= this.memSize) {
      if (this.codePage[pa >>> 12]) this.host.codeWritten(pa >>> 12);
      this.dv.setUint16(pa, v, true);
    } else {
      this.bus.mmioWrite(pa, 2, v & 0xffff);
    }
  }

  physWr32(pa: number, v: number): void {
    if (pa + 4 <= this.memSize) {
      if (this.codePage[pa >>> 12]) this.host.codeWritten(pa >>> 12);
      this.dv.setInt32(pa, v, true);
    } else {
      this.bus.mmioWrite(pa, 4, v >>> 0);
    }
  }
}
