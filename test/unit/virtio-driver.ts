/**
 * A fake guest driver for the virtio tests: it finds the structures through
 * the PCI capabilities, negotiates features, sets up split rings in a
 * GuestMemory and kicks queues, in the order Linux's virtio_pci_modern and
 * virtio_ring do, using only the BusDevice interface of the BAR.
 */
import { BusDevice } from '../../src/guest/io-bus';
import { GuestMemory } from '../../src/guest/memory';
import { PciSlot } from '../../src/guest/platform/pci-device';
import { VirtioDevice } from '../../src/guest/virtio/device';
import { VirtioPciFunction } from '../../src/guest/virtio/transport';
import { Virtqueue } from '../../src/guest/virtio/virtqueue';

export const ACK = 1;
export const DRIVER = 2;
export const DRIVER_OK = 4;
export const FEATURES_OK = 8;
export const F_INDIRECT = 1n << 28n;
export const F_EVENT_IDX = 1n << 29n;
export const F_VERSION_1 = 1n << 32n;
export const DESC_NEXT = 1;
export const DESC_WRITE = 2;
export const DESC_INDIRECT = 4;

/** Common configuration offsets. */
export const C = {
  DFSELECT: 0x00, DF: 0x04, GFSELECT: 0x08, GF: 0x0c, MSIX: 0x10, NUMQ: 0x12, STATUS: 0x14,
  GENERATION: 0x15, QSELECT: 0x16, QSIZE: 0x18, QMSIX: 0x1a, QENABLE: 0x1c, QNOTIFYOFF: 0x1e,
  QDESCLO: 0x20, QDESCHI: 0x24, QAVAILLO: 0x28, QAVAILHI: 0x2c, QUSEDLO: 0x30, QUSEDHI: 0x34,
};

/** A device model that records what the transport tells it. */
export class Recorder implements VirtioDevice {
  readonly name = 'test-dev';
  readonly deviceType = 4;
  readonly classCode = 0xff0000;
  readonly features = 1n << 3n;
  readonly queueSizes = [16, 8];
  readonly config = new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
  notified: number[] = [];
  activations: bigint[] = [];
  resets = 0;
  queues: readonly Virtqueue[] = [];
  activate(queues: readonly Virtqueue[], features: bigint): void {
    this.queues = queues;
    this.activations.push(features);
  }
  notify(i: number): void {
    this.notified.push(i);
  }
  reset(): void {
    this.resets++;
  }
}

export class FakeSlot implements PciSlot {
  readonly irq = 11;
  level = false;
  raised = 0;
  setIrq(level: boolean): void {
    if (level && !this.level) this.raised++;
    this.level = level;
  }
}

interface Region {
  offset: number;
  length: number;
}

export interface Segment {
  addr: number;
  len: number;
  write?: boolean;
}

export class FakeDriver {
  readonly bar: BusDevice;
  readonly common: Region;
  readonly isr: Region;
  readonly notify: Region & { multiplier: number };
  readonly device: Region | undefined;
  readonly slot = new FakeSlot();
  features = 0n;

  /**
   * `bar`: how to reach the memory BAR; by default the function itself, with
   * the driver's FakeSlot as its INTx line. Given, the function stays in the
   * slot the platform gave it.
   */
  constructor(readonly mem: GuestMemory, readonly fn: VirtioPciFunction, bar?: BusDevice) {
    if (!bar) fn.attach(this.slot);
    const regions = new Map<number, Region & { bar: number; multiplier: number }>();
    for (const cap of fn.spec.capabilities) {
      if (cap.id !== 0x09) continue;
      // The body starts at cap_len (offset 2 of struct virtio_pci_cap).
      const v = new DataView(cap.body.buffer, cap.body.byteOffset, cap.body.byteLength);
      const type = v.getUint8(1);
      if (regions.has(type)) continue;
      regions.set(type, {
        bar: v.getUint8(2),
        offset: v.getUint32(6, true),
        length: v.getUint32(10, true),
        multiplier: cap.body.length >= 18 ? v.getUint32(14, true) : 0,
      });
    }
    const common = regions.get(1);
    const notify = regions.get(2);
    const isr = regions.get(3);
    if (!common || !notify || !isr) throw new Error('missing virtio capabilities');
    const spec = fn.spec.bars[common.bar];
    if (!spec || spec.kind !== 'mem') throw new Error('common config is not in a memory BAR');
    this.bar = bar ?? spec.device;
    this.common = common;
    this.notify = notify;
    this.isr = isr;
    this.device = regions.get(4);
  }

  rc(off: number, size: 1 | 2 | 4): number {
    return this.bar.read(this.common.offset + off, size);
  }

  wc(off: number, size: 1 | 2 | 4, v: number): void {
    this.bar.write(this.common.offset + off, size, v);
  }

  readConfig(off: number, size: 1 | 2 | 4): number {
    if (!this.device) throw new Error('no device configuration');
    return this.bar.read(this.device.offset + off, size);
  }

  readIsr(): number {
    return this.bar.read(this.isr.offset, 1);
  }

  status(): number {
    return this.rc(C.STATUS, 1);
  }

  addStatus(bits: number): void {
    this.wc(C.STATUS, 1, this.status() | bits);
  }

  deviceFeatures(): bigint {
    this.wc(C.DFSELECT, 4, 0);
    const lo = this.rc(C.DF, 4);
    this.wc(C.DFSELECT, 4, 1);
    const hi = this.rc(C.DF, 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  writeFeatures(f: bigint): void {
    this.wc(C.GFSELECT, 4, 0);
    this.wc(C.GF, 4, Number(f & 0xffffffffn));
    this.wc(C.GFSELECT, 4, 1);
    this.wc(C.GF, 4, Number(f >> 32n));
  }

  /** Reset, ACK, DRIVER, features, FEATURES_OK: returns whether the device accepted them. */
  negotiate(wanted: bigint): boolean {
    this.wc(C.STATUS, 1, 0);
    if (this.status() !== 0) throw new Error('reset did not complete');
    this.addStatus(ACK);
    this.addStatus(DRIVER);
    this.features = this.deviceFeatures() & wanted;
    this.writeFeatures(this.features);
    this.addStatus(FEATURES_OK);
    return (this.status() & FEATURES_OK) !== 0;
  }

  /** Sets up queue `index` with its rings at `base`; `size` defaults to the device's maximum. */
  setupQueue(index: number, base: number, size?: number): DriverQueue {
    this.wc(C.QSELECT, 2, index);
    const max = this.rc(C.QSIZE, 2);
    if (max === 0 || this.rc(C.QENABLE, 2) !== 0) throw new Error(`queue ${index} unavailable`);
    const n = size ?? max;
    const q = new DriverQueue(this, index, n, base);
    this.wc(C.QSIZE, 2, n);
    this.wc(C.QDESCLO, 4, q.desc);
    this.wc(C.QDESCHI, 4, 0);
    this.wc(C.QAVAILLO, 4, q.avail);
    this.wc(C.QAVAILHI, 4, 0);
    this.wc(C.QUSEDLO, 4, q.used);
    this.wc(C.QUSEDHI, 4, 0);
    q.notifyOffset = this.notify.offset + this.rc(C.QNOTIFYOFF, 2) * this.notify.multiplier;
    return q;
  }

  enableQueue(index: number): void {
    this.wc(C.QSELECT, 2, index);
    this.wc(C.QENABLE, 2, 1);
  }

  /** The whole Linux probe: negotiate, set up and enable `count` queues, DRIVER_OK. */
  start(wanted: bigint, count: number, base = 0x10000): DriverQueue[] {
    if (!this.negotiate(wanted)) throw new Error('device refused the features');
    const queues: DriverQueue[] = [];
    for (let i = 0; i < count; i++) queues.push(this.setupQueue(i, base + i * 0x10000));
    for (let i = 0; i < count; i++) this.enableQueue(i);
    this.addStatus(DRIVER_OK);
    return queues;
  }
}

/** The driver's side of a split ring. */
export class DriverQueue {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  notifyOffset = 0;
  private nextDesc = 0;
  private availIdx = 0;
  private lastUsed = 0;
  /** The avail index at the last kick, for EVENT_IDX. */
  private kickedAt = 0;

  constructor(readonly drv: FakeDriver, readonly index: number, readonly size: number, base: number) {
    this.desc = base;
    this.avail = base + 16 * size;
    this.used = (this.avail + 6 + 2 * size + 63) & ~63;
    drv.mem.u8.fill(0, base, this.used + 6 + 8 * size);
  }

  private get view(): DataView {
    return this.drv.mem.view;
  }

  /** Writes a descriptor at table address `table`, index `i`. */
  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number, addrHi = 0): void {
    const d = table + 16 * i;
    this.view.setUint32(d, addr >>> 0, true);
    this.view.setUint32(d + 4, addrHi, true);
    this.view.setUint32(d + 8, len >>> 0, true);
    this.view.setUint16(d + 12, flags, true);
    this.view.setUint16(d + 14, next, true);
  }

  /** Puts head `head` on the available ring (no kick). */
  publish(head: number): void {
    this.view.setUint16(this.avail + 4 + 2 * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.view.setUint16(this.avail + 2, this.availIdx, true);
  }

  /** Adds a chain of direct descriptors and publishes it. Returns the head. */
  add(segs: Segment[]): number {
    const head = this.nextDesc;
    segs.forEach((s, k) => {
      const i = (head + k) % this.size;
      const last = k === segs.length - 1;
      this.writeDesc(this.desc, i, s.addr, s.len, (s.write ? DESC_WRITE : 0) | (last ? 0 : DESC_NEXT), (i + 1) % this.size);
    });
    this.nextDesc = (head + segs.length) % this.size;
    this.publish(head);
    return head;
  }

  /** Adds a chain through one indirect table placed at `table`. Returns the head. */
  addIndirect(segs: Segment[], table: number): number {
    segs.forEach((s, k) => {
      const last = k === segs.length - 1;
      this.writeDesc(table, k, s.addr, s.len, (s.write ? DESC_WRITE : 0) | (last ? 0 : DESC_NEXT), k + 1);
    });
    const head = this.nextDesc;
    this.writeDesc(this.desc, head, table, 16 * segs.length, DESC_INDIRECT, 0);
    this.nextDesc = (head + 1) % this.size;
    this.publish(head);
    return head;
  }

  /** virtqueue_kick: notify unless the device suppressed it. Returns whether it notified. */
  kick(): boolean {
    const old = this.kickedAt;
    const now = this.availIdx;
    this.kickedAt = now;
    let needed: boolean;
    if (this.drv.features & F_EVENT_IDX) {
      const event = this.view.getUint16(this.used + 4 + 8 * this.size, true);
      needed = ((now - event - 1) & 0xffff) < ((now - old) & 0xffff);
    } else {
      needed = (this.view.getUint16(this.used, true) & 1) === 0;
    }
    if (needed) this.drv.bar.write(this.notifyOffset, 2, this.index);
    return needed;
  }

  /** Used elements the device returned since the last call. */
  takeUsed(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.view.getUint16(this.used + 2, true);
    while (this.lastUsed !== idx) {
      const e = this.used + 4 + 8 * (this.lastUsed % this.size);
      out.push({ id: this.view.getUint32(e, true), len: this.view.getUint32(e + 4, true) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  /** With EVENT_IDX: interrupt me when the used index passes `v`. */
  setUsedEvent(v: number): void {
    this.view.setUint16(this.avail + 4 + 2 * this.size, v, true);
  }

  get availEvent(): number {
    return this.view.getUint16(this.used + 4 + 8 * this.size, true);
  }

  setAvailFlags(v: number): void {
    this.view.setUint16(this.avail, v, true);
  }
}

/** Runs `f` and returns the GuestError it must throw. */
export function guestError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    if (e instanceof Error && e.name === 'GuestError') return e;
    throw e;
  }
  throw new Error('expected a GuestError, but nothing was thrown');
}
