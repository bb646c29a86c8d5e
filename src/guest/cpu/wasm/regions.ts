import { cond, eflagsOf, getCF } from '../alu';
import { B, NEVER, COMPILED } from '../block-cache';
import type { Cpu } from '../cpu';
import { FAULT } from '../fault';
import { segCheck } from '../segments';
import { S } from '../state';
import { compileRegion, RegionBlock } from './compile';
import { dispatcherBytes } from './encoder';

/** A compiled page: its slot in the region table and the physical page it came from. */
export interface Region {
  slot: number;
  page: number;
}

type Dispatch = (slot: number, entry: number, eipBase: number, budget: number) => number;

/** Blocks per region at most: a page of dense code, with room to spare. */
const MAX_BLOCKS = 1024;
/** After this many writes have dropped a page's code, the page stays interpreted. */
const MAX_REWRITES = 4;

/**
 * Compiled regions (compile.ts) as the CPU uses them: compiling the page of
 * a hot block, calling a region with the interpreter's state, and the JS
 * helpers regions call for what they do not do inline. While a region runs,
 * the lazy flags live in the state block; they are copied in before the
 * call and back after it, however it ends.
 */
export class Regions {
  /** Regions compiled, wasm bytes emitted and milliseconds spent compiling (for benchmarks). */
  compiled = 0;
  bytes = 0;
  compileMs = 0;
  private readonly imports: WebAssembly.Imports;
  /** Every page's latest region, by slot (one slot per physical page, given on its first compile). */
  private readonly table = new WebAssembly.Table({ element: 'anyfunc', initial: 64 });
  private readonly slotOf: Int32Array;
  private slots = 0;
  private readonly dispatch: Dispatch;
  private readonly st: Int32Array;
  /** Per physical page: times a write dropped code compiled from it. */
  private readonly rewrites: Uint8Array;
  /** Per physical page: times it was compiled. */
  private readonly compiles: Uint8Array;
  /** Page offset and instructions retired of the instruction a helper is working for (a fault's position). */
  private at = 0;
  private retired = 0;

  constructor(private readonly cpu: Cpu) {
    this.st = cpu.state.i32;
    this.rewrites = new Uint8Array(Math.ceil(cpu.mem.size / 4096));
    this.compiles = new Uint8Array(this.rewrites.length);
    this.slotOf = new Int32Array(this.rewrites.length).fill(-1);
    const dispatcher = new WebAssembly.Instance(new WebAssembly.Module(dispatcherBytes()), { e: { tab: this.table } });
    this.dispatch = dispatcher.exports.call as Dispatch;
    const mmu = cpu.mmu;
    this.imports = {
      e: {
        mem: cpu.mem.wasm!,
        rd: (lin: number, size: number, at: number, retired: number): number => {
          this.at = at;
          this.retired = retired;
          return size === 4 ? mmu.rd32(lin) : size === 2 ? mmu.rd16(lin) : mmu.rd8(lin);
        },
        wr: (lin: number, size: number, v: number, at: number, retired: number): void => {
          this.at = at;
          this.retired = retired;
          if (size === 4) mmu.wr32(lin, v);
          else if (size === 2) mmu.wr16(lin, v);
          else mmu.wr8(lin, v);
        },
        seg: (seg: number, off: number, sw: number, at: number, retired: number): number => {
          this.at = at;
          this.retired = retired;
          return segCheck(cpu, seg, off, sw & 15, (sw & 16) !== 0);
        },
        cond: (cc: number): number => {
          this.pullFlags();
          return cond(cpu, cc) ? 1 : 0;
        },
        cf: (): number => {
          this.pullFlags();
          return getCF(cpu);
        },
        flags: (): number => {
          this.pullFlags();
          return eflagsOf(cpu);
        },
      },
    };
  }

  /** Compile the page holding block `id`; false if it cannot be (the block then stays interpreted). */
  compile(id: number): boolean {
    const cache = this.cpu.cache;
    const blk = cache.blk;
    const e = id * B.SIZE;
    const page = blk[e + B.PHYS] >>> 12;
    // compileAfter 1 is the tests' "compile everything": no page is spared.
    const everything = this.cpu.compileAfter <= 1;
    if (blk[e + B.CSD] !== 1 || blk[e + B.PAGE2] >= 0 || (!everything && this.rewrites[page] >= MAX_REWRITES)) {
      blk[e + B.HITS] = NEVER;
      return false;
    }
    // A page whose blocks keep getting hot one by one (long kernel functions
    // with paths taken now and then) would be compiled again for each: each
    // recompile of a page waits for twice the runs of the one before.
    const done = this.compiles[page];
    if (!everything && done > 0 && blk[e + B.HITS] + 1 < this.cpu.compileAfter * 2 ** Math.min(done, 10)) return false;
    const ids: number[] = [];
    const blocks: RegionBlock[] = [];
    const seen = new Set<number>();
    // The hot block first: another valid block may start at the same byte
    // (its hash slot was taken over), and only one entry per offset fits.
    for (const b of [id, ...cache.blocksOf(page)]) {
      const f = b * B.SIZE;
      const offset = blk[f + B.PHYS] & 0xfff;
      if (!blk[f + B.VALID] || blk[f + B.CSD] !== 1 || blk[f + B.PAGE2] >= 0 || blk[f + B.PHYS] >>> 12 !== page) continue;
      if (seen.has(offset) || ids.length === MAX_BLOCKS) continue;
      seen.add(offset);
      ids.push(b);
      blocks.push({ offset, start: blk[f + B.START], end: blk[f + B.END] });
    }
    const t0 = performance.now();
    const compiled = compileRegion(cache.code, blocks, this.cpu.state.base);
    const instance = new WebAssembly.Instance(compiled.module, this.imports);
    this.compileMs += performance.now() - t0;
    this.compiled++;
    this.bytes += compiled.size;
    let slot = this.slotOf[page];
    if (slot < 0) {
      slot = this.slotOf[page] = this.slots++;
      if (slot >= this.table.length) this.table.grow(this.table.length);
    }
    this.table.set(slot, instance.exports.run);
    if (this.compiles[page] < 255) this.compiles[page]++;
    // The slot now runs the new function: blocks of the old region left out
    // of this one (a duplicate at the same offset won) must not call it with
    // their old entry numbers.
    for (const b of cache.blocksOf(page)) {
      if (cache.region[b] !== undefined) {
        cache.region[b] = undefined;
        blk[b * B.SIZE + B.HITS] = 0;
      }
    }
    const region: Region = { slot, page };
    ids.forEach((b, i) => {
      cache.region[b] = region;
      blk[b * B.SIZE + B.ENTRY] = i;
      blk[b * B.SIZE + B.HITS] = COMPILED;
    });
    return true;
  }

  /** Code compiled from `page` was dropped by a write to it. */
  rewritten(page: number): void {
    if (this.rewrites[page] < 255) this.rewrites[page]++;
    if (page === this.cpu.regionPage) this.st[S.STOP >> 2] = 1;
  }

  /**
   * Run the region of block `id`, entered at that block with EIP `beip`, for
   * at most about `budget` instructions. Returns the instructions retired and
   * leaves EIP where the region stopped. A fault inside unwinds with EIP at
   * the faulting instruction and the instructions before it counted.
   */
  run(id: number, beip: number, budget: number): number {
    const cpu = this.cpu;
    const cache = cpu.cache;
    const e = id * B.SIZE;
    const region = cache.region[id]!;
    const eipBase = (beip - (cache.blk[e + B.PHYS] & 0xfff)) | 0;
    const st = this.st;
    st[S.FLAGS >> 2] = cpu.flags;
    st[S.LOP >> 2] = cpu.lop;
    st[S.LRES >> 2] = cpu.lres;
    st[S.LA >> 2] = cpu.la;
    st[S.LB >> 2] = cpu.lb;
    st[S.LC >> 2] = cpu.lc;
    st[S.STOP >> 2] = 0;
    cpu.regionPage = region.page;
    let n: number;
    try {
      n = this.dispatch(region.slot, cache.blk[e + B.ENTRY], eipBase, budget);
    } catch (err) {
      this.leave();
      if (err === FAULT) {
        cpu.eip = (eipBase + this.at) | 0;
        cpu.instructionCount += this.retired;
      }
      throw err;
    }
    this.leave();
    cpu.eip = st[S.EIP >> 2];
    return n;
  }

  private leave(): void {
    this.cpu.regionPage = -1;
    this.pullFlags();
  }

  /** The lazy flags as the region last spilled them. */
  private pullFlags(): void {
    const cpu = this.cpu;
    const st = this.st;
    cpu.flags = st[S.FLAGS >> 2];
    cpu.lop = st[S.LOP >> 2];
    cpu.lres = st[S.LRES >> 2];
    cpu.la = st[S.LA >> 2];
    cpu.lb = st[S.LB >> 2];
    cpu.lc = st[S.LC >> 2];
  }
}
