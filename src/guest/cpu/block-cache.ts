import { GuestError } from '../guest-error';
import { decodeOne, ENDS_BLOCK, isRelative, R, STRIDE, TRUNCATED } from './decoder';
import { H } from './handler-ids';
import { Mmu } from './mmu';

const POOL_RECORDS = 1 << 19;
const MAX_BLOCKS = 1 << 17;
const HT_BITS = 16;
const HT_SIZE = 1 << HT_BITS;
const MAX_BLOCK_INSNS = 64;
/** Records [0, SCRATCH) hold an instruction that straddles two pages; it is never cached. */
const SCRATCH = 1;

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
 * page boundary depends on two pages; it is decoded afresh every time it runs.
 *
 * A later translator to JavaScript plugs in here: per block, compile once the
 * records are hot, keep the function beside blkStart, and drop it with the block.
 */
export class BlockCache {
  readonly code = new Int32Array(POOL_RECORDS * STRIDE);
  private top = SCRATCH * STRIDE;
  private readonly blkStart = new Int32Array(MAX_BLOCKS);
  private readonly blkEnd = new Int32Array(MAX_BLOCKS);
  private readonly blkKey = new Float64Array(MAX_BLOCKS);
  private nblocks = 0;
  private readonly htKey = new Float64Array(HT_SIZE).fill(-1);
  private readonly htBlk = new Int32Array(HT_SIZE);
  private readonly pageBlocks = new Map<number, number[]>();
  /** Result of find()/decode(): the block's record range. */
  start = 0;
  end = 0;
  /** Block id of the last find()/decode(), -1 for the scratch block. */
  id = -1;

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
    const b = this.nblocks++;
    const key = phys * 2 + csD;
    this.blkStart[b] = start;
    this.blkEnd[b] = p;
    this.blkKey[b] = key;
    this.top = p;
    const hh = BlockCache.hash(key);
    this.htKey[hh] = key;
    this.htBlk[hh] = b;
    const page = phys >>> 12;
    const list = this.pageBlocks.get(page);
    if (list) list.push(b);
    else this.pageBlocks.set(page, [b]);
    mmu.markCode(page);
    this.id = b;
    this.start = start;
    this.end = p;
  }

  private decodeStraddling(phys: number, lin: number, csD: number, nextPage: (lin: number) => number): void {
    const mmu = this.mmu;
    const first = 0x1000 - (phys & 0xfff);
    const buf = new Uint8Array(16);
    buf.set(mmu.u8.subarray(phys, phys + first));
    const phys2 = nextPage(((lin | 0xfff) + 1) | 0);
    for (let i = first; i < 16; i++) buf[i] = mmu.physRd8(phys2 + i - first);
    const code = this.code;
    const len = decodeOne(buf, 0, 16, csD !== 0, code, 0);
    code[R.OFFS] = len << 16;
    if (isRelative(code[R.H])) code[R.IMM] += len;
    this.id = -1;
    this.start = 0;
    this.end = STRIDE;
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
      const h = BlockCache.hash(this.blkKey[b]);
      if (this.htBlk[h] === b && this.htKey[h] === this.blkKey[b]) this.htKey[h] = -1;
      if (b === runningBlock) {
        const next = runningRecord + STRIDE;
        if (next < this.blkEnd[b]) this.code[next + R.H] = H.EXIT;
      }
    }
  }

  /** Forget everything (pool full, or a test asks for it). */
  flush(): void {
    this.htKey.fill(-1);
    this.pageBlocks.clear();
    this.mmu.codePage.fill(0);
    this.nblocks = 0;
    this.top = SCRATCH * STRIDE;
  }
}
