import { GuestError } from '../guest-error';
import { decodeOne, ENDS_BLOCK, isRelative, R, STRIDE, TRUNCATED } from './decoder';
import { H } from './handler-ids';
import { Mmu } from './mmu';
import type { BlockFn } from './translate';

const POOL_RECORDS = 1 << 19;
const MAX_BLOCKS = 1 << 17;
const HT_BITS = 18;
const HT_SIZE = 1 << HT_BITS;
const MAX_BLOCK_INSNS = 64;

/**
 * Decoded basic blocks, keyed by the physical address of their first byte and
 * the code-segment size (the only mode bit decoding depends on; privilege
 * checks happen at execution).
 *
 * A block never extends past the page it starts in, so it depends on exactly
 * one physical page: the page is marked in the MMU's code map (making writes
 * to it take the slow path) and lists its blocks here. A write to the page
 * drops them all. Keying by physical address keeps two virtual aliases of one
 * page consistent and survives CR3 reloads. An instruction that crosses a
 * page boundary gets a block of its own, listed under both pages, which the
 * run loop uses only while the next page still maps where it did.
 *
 * The translator (translate.ts) plugs in here: a block that has run often
 * enough gets a JavaScript function beside its records (`fn`), dropped
 * with the block.
 */
export class BlockCache {
  readonly code = new Int32Array(POOL_RECORDS * STRIDE);
  private top = 0;
  readonly blkStart = new Int32Array(MAX_BLOCKS);
  readonly blkEnd = new Int32Array(MAX_BLOCKS);
  /** Block still describes memory (cleared when its page is written). */
  readonly valid = new Uint8Array(MAX_BLOCKS);
  /**
   * Successor links: for each block, the last two EIPs it was left for and
   * the blocks found there, good while the MMU's generation (TLB, privilege
   * and CS unchanged) is the one they were made under. They save the TLB
   * and hash lookups between blocks, which average four instructions here.
   */
  readonly succEip = new Int32Array(MAX_BLOCKS * 2);
  readonly succId = new Int32Array(MAX_BLOCKS * 2);
  readonly linkGen = new Int32Array(MAX_BLOCKS);
  /** Times each block ran in the interpreter, and its translation once it is hot (translate.ts). */
  readonly hits = new Int32Array(MAX_BLOCKS);
  readonly fn: (BlockFn | undefined)[] = new Array<BlockFn | undefined>(MAX_BLOCKS).fill(undefined);
  private readonly blkKey = new Float64Array(MAX_BLOCKS);
  /** For a block that is one instruction crossing into the next page: that page's physical number, else -1. */
  private readonly blkPage2 = new Int32Array(MAX_BLOCKS);
  private nblocks = 0;
  private readonly htKey = new Float64Array(HT_SIZE).fill(-1);
  private readonly htBlk = new Int32Array(HT_SIZE);
  private readonly pageBlocks = new Map<number, number[]>();
  private readonly straddle = new Uint8Array(16);
  /** Result of find()/decode(): the block's record range. */
  start = 0;
  end = 0;
  /** Block id of the last find()/decode(). */
  id = -1;
  /**
   * -1, or for a block whose instruction crosses into the next page, the
   * physical page it found there when decoded: the caller must check the
   * next page still maps to it (the key only covers the first page).
   */
  page2 = -1;

  constructor(private readonly mmu: Mmu) {}

  private static hash(key: number): number {
    return Math.imul(key | 0, 0x9e3779b1) >>> (32 - HT_BITS);
  }

  /** Look up a decoded block; true and start/end/id set when found. */
  find(phys: number, csD: number): boolean {
    const key = phys * 2 + csD;
    const h = BlockCache.hash(key);
    if (this.htKey[h] !== key) return false;
    const b = this.htBlk[h];
    this.id = b;
    this.start = this.blkStart[b];
    this.end = this.blkEnd[b];
    this.page2 = this.blkPage2[b];
    return true;
  }

  /**
   * Decode the block at `phys` (linear `lin`). `nextPage` translates the
   * linear address of the following page (with the fetch's privilege) for an
   * instruction that crosses into it; it may raise #PF.
   */
  decode(phys: number, lin: number, csD: number, nextPage: (lin: number) => number): void {
    const mmu = this.mmu;
    if (phys >= mmu.memSize) {
      throw new GuestError(`executing outside RAM at physical 0x${phys.toString(16)} (linear 0x${(lin >>> 0).toString(16)})`);
    }
    if (this.top + MAX_BLOCK_INSNS * STRIDE > this.code.length || this.nblocks === MAX_BLOCKS) this.flush();
    const code = this.code;
    const room = 0x1000 - (phys & 0xfff);
    const start = this.top;
    let p = start;
    let off = 0;
    for (let n = 0; n < MAX_BLOCK_INSNS && off < room; n++) {
      const len = decodeOne(mmu.u8, phys + off, phys + room, csD !== 0, code, p);
      if (len === TRUNCATED) {
        if (n === 0) return this.decodeStraddling(phys, lin, csD, nextPage);
        break;
      }
      const h = code[p + R.H];
      code[p + R.OFFS] = off | ((off + len) << 16);
      if (isRelative(h)) code[p + R.IMM] += off + len;
      off += len;
      p += STRIDE;
      if (ENDS_BLOCK[h]) break;
    }
    this.insert(phys, csD, start, p, -1);
  }

  private insert(phys: number, csD: number, start: number, end: number, page2: number): void {
    const b = this.nblocks++;
    const key = phys * 2 + csD;
    this.blkStart[b] = start;
    this.blkEnd[b] = end;
    this.blkKey[b] = key;
    this.blkPage2[b] = page2;
    this.valid[b] = 1;
    this.linkGen[b] = -1;
    this.hits[b] = 0;
    this.fn[b] = undefined;
    this.top = end;
    const hh = BlockCache.hash(key);
    this.htKey[hh] = key;
    this.htBlk[hh] = b;
    this.addToPage(phys >>> 12, b);
    if (page2 >= 0) this.addToPage(page2, b);
    this.id = b;
    this.start = start;
    this.end = end;
    this.page2 = page2;
  }

  private addToPage(page: number, b: number): void {
    const list = this.pageBlocks.get(page);
    if (list) list.push(b);
    else this.pageBlocks.set(page, [b]);
    this.mmu.markCode(page);
  }

  /** An instruction that crosses a page boundary: a one-instruction block that depends on both pages. */
  private decodeStraddling(phys: number, lin: number, csD: number, nextPage: (lin: number) => number): void {
    const mmu = this.mmu;
    const first = 0x1000 - (phys & 0xfff);
    const buf = this.straddle;
    buf.set(mmu.u8.subarray(phys, phys + first));
    const phys2 = nextPage(((lin | 0xfff) + 1) | 0);
    if (phys2 >= mmu.memSize) {
      throw new GuestError(`executing outside RAM at physical 0x${phys2.toString(16)}`);
    }
    for (let i = first; i < 16; i++) buf[i] = mmu.u8[phys2 + i - first];
    const code = this.code;
    const p = this.top;
    const len = decodeOne(buf, 0, 16, csD !== 0, code, p);
    code[p + R.OFFS] = len << 16;
    if (isRelative(code[p + R.H])) code[p + R.IMM] += len;
    this.insert(phys, csD, p, p + STRIDE, phys2 >>> 12);
  }

  /**
   * Drop every block decoded from `page`. If the running block is among them,
   * the record after the running instruction becomes an EXIT so execution
   * leaves the stale block right after the instruction that wrote it.
   */
  invalidatePage(page: number, runningBlock: number, runningRecord: number): void {
    const list = this.pageBlocks.get(page);
    this.mmu.codePage[page] = 0;
    if (!list) return;
    this.pageBlocks.delete(page);
    for (const b of list) {
      this.valid[b] = 0;
      this.fn[b] = undefined;
      const h = BlockCache.hash(this.blkKey[b]);
      if (this.htBlk[h] === b && this.htKey[h] === this.blkKey[b]) this.htKey[h] = -1;
      if (b === runningBlock && runningRecord >= this.blkStart[b]) {
        const next = runningRecord + STRIDE;
        if (next < this.blkEnd[b]) this.code[next + R.H] = H.EXIT;
      }
    }
  }

  /** Remember that leaving block `from` for `eip` leads to block `to`. */
  link(from: number, eip: number, to: number): void {
    const gen = this.mmu.gen;
    if (this.linkGen[from] !== gen) {
      this.linkGen[from] = gen;
      this.succEip[from * 2] = eip;
      this.succId[from * 2] = to;
      this.succId[from * 2 + 1] = -1;
    } else {
      // The older link makes way: loops alternate between two exits.
      const i = from * 2 + (this.succId[from * 2 + 1] === -1 ? 1 : 0);
      this.succEip[i] = eip;
      this.succId[i] = to;
    }
  }

  /** Forget everything (pool full, or a test asks for it). */
  flush(): void {
    this.mmu.gen++;
    this.htKey.fill(-1);
    this.pageBlocks.clear();
    this.mmu.codePage.fill(0);
    this.nblocks = 0;
    this.top = 0;
  }
}
