import { GuestError } from '../guest-error';
import { decodeOne, ENDS_BLOCK, isRelative, R, STRIDE, TRUNCATED } from './decoder';
import { H } from './handler-ids';
import { Mmu } from './mmu';
import type { Region } from './wasm/regions';

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
 * The region compiler (wasm/) plugs in here: once a block has run often
 * enough, its page is compiled and every block of the page gets the region
 * beside its records (`region`, and its index there in B.ENTRY), dropped with
 * the block.
 */
/**
 * Slots of a block's entry in BlockCache.blk. One entry is 64 bytes, a host
 * cache line: an idle guest's timer tick runs some 600 blocks once each, and
 * with the entries spread over one array per field, every block cost a
 * cache miss per field.
 */
export const enum B {
  START = 0,
  END = 1,
  /** Block still describes memory (cleared when its page is written). */
  VALID = 2,
  /**
   * Successor links: the last two EIPs the block was left for and the
   * blocks found there, good while the MMU's generation (TLB, privilege and
   * CS unchanged) is the one they were made under. They save the TLB and
   * hash lookups between blocks, which average four instructions here.
   */
  LINK_GEN = 3,
  SUCC_EIP = 4,
  SUCC_ID = 5,
  SUCC_EIP2 = 6,
  SUCC_ID2 = 7,
  /** Times the block ran in the interpreter (its page is compiled once it is hot), or COMPILED. */
  HITS = 8,
  /** For a block that is one instruction crossing into the next page: that page's physical number, else -1. */
  PAGE2 = 9,
  /** Its key: physical address of the first byte, and CS.D. */
  PHYS = 10,
  CSD = 11,
  /** Its index in its region (wasm/compile.ts), once COMPILED. */
  ENTRY = 12,
  SIZE = 16,
}

/** B.HITS of a block whose page is compiled (BlockCache.region). */
export const COMPILED = -1;
/** B.HITS of a block that stays interpreted. */
export const NEVER = -2;

export class BlockCache {
  readonly code = new Int32Array(POOL_RECORDS * STRIDE);
  private top = 0;
  readonly blk = new Int32Array(MAX_BLOCKS * B.SIZE);
  /** The compiled region a block belongs to, once its page is hot. */
  readonly region: (Region | undefined)[] = new Array<Region | undefined>(MAX_BLOCKS).fill(undefined);
  /** Told when code compiled from a page is dropped by a write to it. */
  onRewrite: (page: number) => void = () => undefined;
  private nblocks = 0;
  /** Hash table of keys (physical address * 2 + CS.D) and block ids, side by side: one miss per lookup. */
  private readonly ht = new Float64Array(HT_SIZE * 2).fill(-1);
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
    const h = BlockCache.hash(key) * 2;
    if (this.ht[h] !== key) return false;
    const b = this.ht[h + 1] | 0;
    const e = b * B.SIZE;
    this.id = b;
    this.start = this.blk[e + B.START];
    this.end = this.blk[e + B.END];
    this.page2 = this.blk[e + B.PAGE2];
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
    const blk = this.blk;
    const e = b * B.SIZE;
    blk[e + B.START] = start;
    blk[e + B.END] = end;
    blk[e + B.VALID] = 1;
    blk[e + B.LINK_GEN] = -1;
    blk[e + B.HITS] = 0;
    blk[e + B.PAGE2] = page2;
    blk[e + B.PHYS] = phys;
    blk[e + B.CSD] = csD;
    this.region[b] = undefined;
    this.top = end;
    const h = BlockCache.hash(phys * 2 + csD) * 2;
    this.ht[h] = phys * 2 + csD;
    this.ht[h + 1] = b;
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
    const blk = this.blk;
    if (list.some((b) => this.region[b] !== undefined)) this.onRewrite(page);
    for (const b of list) {
      const e = b * B.SIZE;
      blk[e + B.VALID] = 0;
      this.region[b] = undefined;
      const key = (blk[e + B.PHYS] >>> 0) * 2 + blk[e + B.CSD];
      const h = BlockCache.hash(key) * 2;
      if (this.ht[h + 1] === b && this.ht[h] === key) this.ht[h] = -1;
      if (b === runningBlock && runningRecord >= blk[e + B.START]) {
        const next = runningRecord + STRIDE;
        if (next < blk[e + B.END]) this.code[next + R.H] = H.EXIT;
      }
    }
  }

  /** The blocks decoded from `page` (some may be invalid or straddle into it). */
  blocksOf(page: number): readonly number[] {
    return this.pageBlocks.get(page) ?? [];
  }

  /** Remember that leaving block `from` for `eip` leads to block `to`. */
  link(from: number, eip: number, to: number): void {
    const blk = this.blk;
    const e = from * B.SIZE;
    if (blk[e + B.LINK_GEN] !== this.mmu.gen) {
      blk[e + B.LINK_GEN] = this.mmu.gen;
      blk[e + B.SUCC_EIP] = eip;
      blk[e + B.SUCC_ID] = to;
      blk[e + B.SUCC_ID2] = -1;
    } else if (blk[e + B.SUCC_ID2] === -1) {
      blk[e + B.SUCC_EIP2] = eip;
      blk[e + B.SUCC_ID2] = to;
    } else {
      // The older link makes way: loops alternate between two exits.
      blk[e + B.SUCC_EIP] = eip;
      blk[e + B.SUCC_ID] = to;
    }
  }

  /** Forget everything (pool full, or a test asks for it). */
  flush(): void {
    this.mmu.gen++;
    this.ht.fill(-1);
    this.pageBlocks.clear();
    this.mmu.codePage.fill(0);
    this.nblocks = 0;
    this.top = 0;
  }
}
