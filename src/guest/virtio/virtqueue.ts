import { GuestError } from '../guest-error';
import { GuestMemory } from '../memory';
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  hex64,
} from './abi';

/**
 * One buffer the driver made available: a chain of descriptors, flattened
 * into segments of guest memory. The device-readable segments come first,
 * then the device-writable ones (the order the specification requires, and
 * that the walk enforces).
 *
 * A queue owns exactly one chain object and refills it on every pop, so a
 * request costs no allocation; a device must finish with (or copy) a chain
 * before it pops the next one.
 */
export class DescriptorChain {
  /** The head descriptor index: the id the used ring hands back. */
  head = 0;
  /** Number of segments, readable ones first. */
  count = 0;
  readableCount = 0;
  readableLength = 0;
  writableLength = 0;
  private readonly addrs: Float64Array;
  private readonly lens: Float64Array;

  constructor(private readonly u8: Uint8Array, maxSegments: number) {
    this.addrs = new Float64Array(maxSegments);
    this.lens = new Float64Array(maxSegments);
  }

  /** Copies device-readable bytes, starting `offset` bytes in, into `dst`. Returns the count copied. */
  read(dst: Uint8Array, offset: number): number {
    return this.copy(0, this.readableCount, offset, dst, false);
  }

  /** Copies `src` into the device-writable bytes, starting `offset` bytes in. Returns the count copied. */
  write(src: Uint8Array, offset: number): number {
    return this.copy(this.readableCount, this.count, offset, src, true);
  }

  /** Views of `length` device-readable bytes starting `offset` bytes in, for vectored I/O. */
  readableViews(offset: number, length: number): Uint8Array[] {
    return this.views(0, this.readableCount, offset, length);
  }

  /** Views of `length` device-writable bytes starting `offset` bytes in, for vectored I/O. */
  writableViews(offset: number, length: number): Uint8Array[] {
    return this.views(this.readableCount, this.count, offset, length);
  }

  /** Used by the queue's walk. */
  reset(head: number): void {
    this.head = head;
    this.count = 0;
    this.readableCount = 0;
    this.readableLength = 0;
    this.writableLength = 0;
  }

  /** Used by the queue's walk, after the segment passed GuestMemory.check. */
  add(addr: number, len: number, writable: boolean): void {
    this.addrs[this.count] = addr;
    this.lens[this.count] = len;
    this.count++;
    if (writable) {
      this.writableLength += len;
    } else {
      this.readableCount++;
      this.readableLength += len;
    }
  }

  private copy(first: number, end: number, offset: number, buf: Uint8Array, toGuest: boolean): number {
    let done = 0;
    for (let i = first; i < end && done < buf.length; i++) {
      const len = this.lens[i];
      if (offset >= len) {
        offset -= len;
        continue;
      }
      const start = this.addrs[i] + offset;
      const n = Math.min(len - offset, buf.length - done);
      if (toGuest) this.u8.set(buf.subarray(done, done + n), start);
      else buf.set(this.u8.subarray(start, start + n), done);
      done += n;
      offset = 0;
    }
    return done;
  }

  private views(first: number, end: number, offset: number, length: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = first; i < end && length > 0; i++) {
      const len = this.lens[i];
      if (offset >= len) {
        offset -= len;
        continue;
      }
      const start = this.addrs[i] + offset;
      const n = Math.min(len - offset, length);
      out.push(this.u8.subarray(start, start + n));
      length -= n;
      offset = 0;
    }
    return out;
  }
}

/**
 * The device's side of a split virtqueue (virtio 1.x, "Split Virtqueues"):
 * the driver fills the descriptor table and the available ring; we walk
 * chains, hand them to the device model, and return them through the used
 * ring. This is where lguest's DMA buffers went.
 *
 * Ring addresses are checked once, when the driver enables the queue; every
 * buffer address is checked as its chain is walked. Anything malformed is a
 * GuestError naming the queue, which kills the guest: a buggy or hostile
 * driver can never make us touch memory outside the guest, or spin forever.
 */
export class Virtqueue {
  /** Set by the driver through the transport. */
  size: number;
  descLo = 0;
  descHi = 0;
  availLo = 0;
  availHi = 0;
  usedLo = 0;
  usedHi = 0;
  enabled = false;
  /** VIRTIO_RING_F_EVENT_IDX was negotiated. */
  eventIdx = false;

  private desc = 0;
  private avail = 0;
  private used = 0;
  private lastAvail = 0;
  private usedIdx = 0;
  /** The used index when we last decided whether to interrupt. */
  private signalledUsed = 0;
  private readonly chain: DescriptorChain;
  private readonly view: DataView;

  constructor(
    private readonly mem: GuestMemory,
    /** For messages: "virtio-net 0 queue 1". */
    readonly label: string,
    readonly maxSize: number,
    /** Raises the used-buffer interrupt (the transport sets ISR bit 0). */
    private readonly interrupt: () => void,
  ) {
    this.size = maxSize;
    this.view = mem.view;
    this.chain = new DescriptorChain(mem.u8, maxSize);
  }

  /** Back to the state after a device reset. */
  reset(): void {
    this.size = this.maxSize;
    this.descLo = this.descHi = this.availLo = this.availHi = this.usedLo = this.usedHi = 0;
    this.enabled = false;
    this.eventIdx = false;
    this.lastAvail = this.usedIdx = this.signalledUsed = 0;
  }

  /** The driver wrote 1 to queue_enable: validate the rings and go live. */
  enable(): void {
    const n = this.size;
    this.desc = this.ring(this.descHi, this.descLo, 16, 16 * n, 'descriptor table');
    this.avail = this.ring(this.availHi, this.availLo, 2, 6 + 2 * n, 'available ring');
    this.used = this.ring(this.usedHi, this.usedLo, 4, 6 + 8 * n, 'used ring');
    this.enabled = true;
  }

  /** True when the driver has made a buffer available that we have not taken yet. */
  hasAvailable(): boolean {
    return this.enabled && this.pending() > 0;
  }

  /**
   * Takes the next available chain, or returns null when there is none. The
   * returned chain is reused by the next pop.
   */
  pop(): DescriptorChain | null {
    if (!this.enabled || this.pending() === 0) return null;
    const head = this.view.getUint16(this.avail + 4 + 2 * (this.lastAvail & (this.size - 1)), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) this.setAvailEvent();
    try {
      this.walk(head);
    } catch (e) {
      if (e instanceof GuestError) throw new GuestError(`${this.label}: ${e.message}`);
      throw e;
    }
    return this.chain;
  }

  /** Gives back the chain just popped, untouched (it did not fit what we had to deliver). */
  unpop(): void {
    this.lastAvail = (this.lastAvail - 1) & 0xffff;
    if (this.eventIdx) this.setAvailEvent();
  }

  /** Returns chain `head` to the driver with `written` bytes written into it. */
  push(head: number, written: number): void {
    const slot = this.used + 4 + 8 * (this.usedIdx & (this.size - 1));
    this.view.setUint32(slot, head, true);
    this.view.setUint32(slot + 4, written, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.view.setUint16(this.used + 2, this.usedIdx, true);
  }

  /**
   * Interrupts the driver if it wants to hear about the buffers pushed since
   * the last call: with EVENT_IDX only when the used index crossed the
   * driver's used_event, otherwise unless it set VIRTQ_AVAIL_F_NO_INTERRUPT.
   */
  signal(): void {
    if (!this.enabled || this.usedIdx === this.signalledUsed) return;
    const old = this.signalledUsed;
    this.signalledUsed = this.usedIdx;
    if (this.eventIdx) {
      const usedEvent = this.view.getUint16(this.avail + 4 + 2 * this.size, true);
      if (((this.usedIdx - usedEvent - 1) & 0xffff) >= ((this.usedIdx - old) & 0xffff)) return;
    } else if (this.view.getUint16(this.avail, true) & VIRTQ_AVAIL_F_NO_INTERRUPT) {
      return;
    }
    this.interrupt();
  }

  private pending(): number {
    const n = (this.view.getUint16(this.avail + 2, true) - this.lastAvail) & 0xffff;
    if (n > this.size) {
      throw new GuestError(`${this.label}: available index ran ${n} entries ahead of a ring of ${this.size}`);
    }
    if (n === 0 && this.eventIdx) this.setAvailEvent();
    return n;
  }

  /** With EVENT_IDX, asks the driver to notify us when it makes the next buffer available. */
  private setAvailEvent(): void {
    this.view.setUint16(this.used + 4 + 8 * this.size, this.lastAvail, true);
  }

  private ring(hi: number, lo: number, align: number, len: number, what: string): number {
    if (hi !== 0) throw new GuestError(`${this.label}: bad ${what} address ${hex64(hi, lo)} len ${len}`);
    if (lo % align !== 0) throw new GuestError(`${this.label}: ${what} address 0x${lo.toString(16)} is not ${align}-byte aligned`);
    try {
      this.mem.check(lo, len, what);
    } catch (e) {
      if (e instanceof GuestError) throw new GuestError(`${this.label}: ${e.message}`);
      throw e;
    }
    return lo;
  }

  /**
   * Flattens the chain starting at `head` into this.chain. The walk is
   * bounded: a chain may not hold more descriptors than the queue has
   * entries (the specification's limit, and what Linux observes), so a loop
   * is caught after at most `size` steps.
   */
  private walk(head: number): void {
    const view = this.view;
    const chain = this.chain;
    chain.reset(head);
    let table = this.desc;
    let tableSize = this.size;
    let indirect = false;
    let index = head;
    for (;;) {
      if (index >= tableSize) {
        throw new GuestError(`descriptor index ${index} outside a table of ${tableSize}`);
      }
      const d = table + 16 * index;
      const lo = view.getUint32(d, true);
      const hi = view.getUint32(d + 4, true);
      const len = view.getUint32(d + 8, true);
      const flags = view.getUint16(d + 12, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (indirect) throw new GuestError('indirect descriptor inside an indirect table');
        if (flags & VIRTQ_DESC_F_NEXT) throw new GuestError('indirect descriptor with NEXT set');
        if (len === 0 || len % 16 !== 0) throw new GuestError(`indirect table length ${len} is not a multiple of 16`);
        if (hi !== 0) throw new GuestError(`bad indirect table address ${hex64(hi, lo)} len ${len}`);
        this.mem.check(lo, len, 'indirect table');
        table = lo;
        tableSize = len / 16;
        indirect = true;
        index = 0;
        continue;
      }
      if (chain.count === this.size) {
        throw new GuestError(`descriptor chain from ${head} is longer than the queue size ${this.size} (a loop?)`);
      }
      const writable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      const what = writable ? 'write' : 'read';
      if (hi !== 0) throw new GuestError(`bad ${what} address ${hex64(hi, lo)} len ${len}`);
      this.mem.check(lo, len, what);
      if (!writable && chain.count > chain.readableCount) {
        throw new GuestError(`device-readable descriptor after a device-writable one in chain ${head}`);
      }
      chain.add(lo, len, writable);
      // The device writes these bytes before any more guest code runs.
      if (writable) this.mem.deviceWrites(lo, len);
      if (!(flags & VIRTQ_DESC_F_NEXT)) return;
      index = view.getUint16(d + 14, true);
    }
  }
}
