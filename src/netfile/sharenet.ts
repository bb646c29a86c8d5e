import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { lockHolder, tryLock, unlock } from '../launcher/native';
import { UserError } from '../launcher/user-error';
import { NetFile } from './file';
import {
  FLAG_LIVE,
  FLAG_PROMISC,
  MAX_FRAME,
  SLOTS,
  slotArmed,
  slotFlags,
  slotGeneration,
  slotLockByte,
  slotMac,
  slotPid,
} from './layout';
import { Rings } from './ring';
import { drainFifo, openOwnFifo, Wakers } from './wake';

const ETH_HLEN = 14;

/**
 * Mark slots whose owner died (SIGKILL, SIGTERM without a handler, a failed
 * start) as not live: their lock went with the process, but their flags
 * stayed, and senders would copy every frame for them into their rings
 * until the slot was taken again. A slot being joined is locked before it
 * is marked live, and a leaving one is unmarked before it is unlocked, so a
 * live slot without a lock holder is always a dead one.
 */
function clearDeadSlots(net: NetFile): void {
  for (let s = 0; s < SLOTS; s++) clearIfDead(net, s);
}

/** clearDeadSlots for one slot. */
function clearIfDead(net: NetFile, s: number): void {
  if (net.heldSlots.has(s)) return;
  const flags = Atomics.load(net.words, slotFlags(s) >> 2);
  if ((flags & FLAG_LIVE) === 0) return;
  const generation = Atomics.load(net.words, slotGeneration(s) >> 2);
  if (lockHolder(net.fd, slotLockByte(s)) !== 0) return;
  // A newcomer that took the slot meanwhile has moved its generation on.
  if (Atomics.load(net.words, slotGeneration(s) >> 2) !== generation) return;
  Atomics.compareExchange(net.words, slotFlags(s) >> 2, flags, 0);
}

/** How often a sender may ask whether the owner of a full ring is still alive. */
const DEAD_CHECK_MS = 1000;

export interface JoinOptions {
  /**
   * For tests only: called inside send() with a receiver's cell reserved and
   * half the frame copied, to stand in for a sender dying at the worst moment.
   */
  halfWritten?: () => void;
  /**
   * Called once if the file loses pages under us (truncated by another
   * process): the port is then off the network, as if unplugged.
   */
  onLost?: (reason: string) => void;
}

/**
 * One launcher's port on a shared network file (the file's layout is in
 * layout.ts, the rings in ring.ts, the wake-ups in wake.ts): any guests whose
 * launchers join the same file are on one Ethernet.
 *
 * As in the original launcher, a slot is taken with a one-byte fcntl write
 * lock, which the kernel drops when the process dies however it dies, so a
 * crashed launcher's slot is free again for the next one.
 */
export class ShareNet {
  /** Frames dropped: a receiver's ring was full. */
  droppedFull = 0;
  /** Frames dropped: too long for a cell, or too short to be Ethernet. */
  droppedSize = 0;

  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly rings: Rings;
  private readonly wakers: Wakers;
  private left = false;
  /** When each slot's owner was last checked for life (deliver). */
  private readonly deadChecked = new Float64Array(SLOTS).fill(-Infinity);
  /** Why the port is off the network (the file was truncated under it), or null. */
  lostReason: string | null = null;

  private constructor(
    private readonly net: NetFile,
    /** Our slot in the file, 0 to 15. */
    readonly slot: number,
    /** Readable when frames may be waiting: for the waker to watch; drain() it. */
    readonly wakeFd: number,
    private readonly options: JoinOptions,
  ) {
    this.words = net.words;
    this.bytes = net.bytes;
    this.rings = new Rings(net);
    this.wakers = new Wakers(net.fifoBase);
  }

  /**
   * Join the network in `file` (created, mode 0600, if missing) with the
   * guest's MAC address `mac`, taking the first free slot. A full network is
   * "No free slots in network file <file>"; an unusable file is a UserError
   * naming it.
   */
  static join(file: string, mac: Uint8Array, options: JoinOptions = {}): ShareNet {
    if (mac.length !== 6) throw new Error(`MAC address must be 6 bytes, not ${mac.length}`);
    const net = NetFile.acquire(file);
    let slot = -1;
    let wakeFd = -1;
    try {
      for (let s = 0; s < SLOTS && slot < 0; s++) {
        if (!net.heldSlots.has(s) && tryLock(net.fd, slotLockByte(s))) slot = s;
      }
      if (slot < 0) throw new UserError(`No free slots in network file ${file}`);
      net.heldSlots.add(slot);
      // Whatever a dead predecessor left in the slot is void from here on.
      Atomics.store(net.words, slotFlags(slot) >> 2, 0);
      clearDeadSlots(net);
      wakeFd = openOwnFifo(net.fifoBase, file, slot);
      const me = new ShareNet(net, slot, wakeFd, options);
      me.takeOver(mac);
      const lost = net.lostPages();
      if (lost) throw new UserError(lost);
      return me;
    } catch (e) {
      if (slot >= 0) {
        if (wakeFd >= 0) fs.closeSync(wakeFd);
        net.heldSlots.delete(slot);
        unlock(net.fd, slotLockByte(slot));
      }
      net.releaseIfUnused();
      throw e;
    }
  }

  /**
   * Put a frame on the wire: to the slot whose MAC is its destination, to
   * every slot if the destination is broadcast or multicast, and to every
   * promiscuous slot; never back to us. A receiver whose ring is full loses
   * the frame, as on a real Ethernet, and a sender never waits.
   */
  send(frame: Uint8Array): void {
    this.checkJoined();
    if (this.lostReason !== null) return;
    if (frame.length < ETH_HLEN || frame.length > MAX_FRAME) {
      this.droppedSize++;
      return;
    }
    const group = (frame[0] & 1) !== 0;
    for (let s = 0; s < SLOTS; s++) {
      if (s === this.slot) continue;
      const flags = Atomics.load(this.words, slotFlags(s) >> 2);
      if (!(flags & FLAG_LIVE)) continue;
      if (group || flags & FLAG_PROMISC || this.macIs(s, frame)) this.deliver(s, frame);
    }
    this.fileIntact();
  }

  /**
   * The next frame for us, copied into `into` (which must hold MAX_FRAME
   * bytes); its length, or 0 if none is waiting. Finding nothing arms the
   * wake-up: the next frame delivered makes wakeFd readable.
   */
  receive(into: Uint8Array): number {
    this.checkJoined();
    if (into.length < MAX_FRAME) throw new Error(`receive buffer of ${into.length} bytes is smaller than a frame (${MAX_FRAME})`);
    if (this.lostReason !== null) return 0;
    let length = this.rings.take(this.slot, into);
    if (length === 0) {
      // Arm, then look again: a frame that arrived in between found us unarmed and did not wake us.
      Atomics.store(this.words, slotArmed(this.slot) >> 2, 1);
      length = this.rings.take(this.slot, into);
    }
    // What was read from pages the file no longer has is zeros, not a frame.
    return this.fileIntact() ? length : 0;
  }

  /** Consume the wake-ups that made wakeFd readable (call receive() afterwards). */
  drain(): void {
    this.checkJoined();
    drainFifo(this.wakeFd);
  }

  /** Receive every frame on the network, whoever it is for (a bridge, a packet sniffer). */
  setPromiscuous(on: boolean): void {
    this.checkJoined();
    const word = slotFlags(this.slot) >> 2;
    Atomics.store(this.words, word, on ? FLAG_LIVE | FLAG_PROMISC : FLAG_LIVE);
  }

  /** The guest changed its MAC address. */
  setMac(mac: Uint8Array): void {
    this.checkJoined();
    if (mac.length !== 6) throw new Error(`MAC address must be 6 bytes, not ${mac.length}`);
    this.bytes.set(mac, slotMac(this.slot));
  }

  /** Give the slot back. The FIFO stays for the slot's next owner. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    Atomics.store(this.words, slotFlags(this.slot) >> 2, 0);
    this.wakers.close();
    fs.closeSync(this.wakeFd);
    this.net.heldSlots.delete(this.slot);
    unlock(this.net.fd, slotLockByte(this.slot));
    this.net.releaseIfUnused();
  }

  /**
   * Set up a slot we have just locked: forget a dead predecessor's pending
   * reservations elsewhere and its frames here, then announce our MAC.
   */
  private takeOver(mac: Uint8Array): void {
    drainFifo(this.wakeFd);
    const touched = this.rings.abandon(this.slot);
    while (this.rings.take(this.slot, null) > 0);
    this.bytes.set(mac, slotMac(this.slot));
    this.words[slotPid(this.slot) >> 2] = process.pid;
    Atomics.add(this.words, slotGeneration(this.slot) >> 2, 1);
    Atomics.store(this.words, slotArmed(this.slot) >> 2, 1);
    Atomics.store(this.words, slotFlags(this.slot) >> 2, FLAG_LIVE);
    // Their receivers may be stuck behind the reservations we just voided.
    for (const s of touched) this.wake(s);
  }

  private deliver(s: number, frame: Uint8Array): void {
    if (!this.rings.put(s, this.slot, frame, this.options.halfWritten)) {
      this.droppedFull++;
      // A dead slot's ring fills and stays full: that is when to ask (at
      // most once a second per slot, a slow receiver being the usual case).
      const now = performance.now();
      if (now - this.deadChecked[s] >= DEAD_CHECK_MS) {
        this.deadChecked[s] = now;
        clearIfDead(this.net, s);
      }
      return;
    }
    if (Atomics.exchange(this.words, slotArmed(s) >> 2, 0) !== 0) this.wake(s);
  }

  private wake(s: number): void {
    this.wakers.wake(s, Atomics.load(this.words, slotGeneration(s) >> 2));
  }

  private macIs(s: number, frame: Uint8Array): boolean {
    const at = slotMac(s);
    for (let i = 0; i < 6; i++) if (this.bytes[at + i] !== frame[i]) return false;
    return true;
  }

  /**
   * After touching the file: false (once reporting why) if it lost pages
   * under us. One call into the addon per operation, next to copying a frame.
   */
  private fileIntact(): boolean {
    if (this.lostReason !== null) return false;
    const lost = this.net.lostPages();
    if (lost === null) return true;
    this.lostReason = `${lost}: guest network port ${this.slot} is off the network`;
    this.options.onLost?.(this.lostReason);
    return false;
  }

  private checkJoined(): void {
    if (this.left) throw new Error(`slot ${this.slot} of network file ${this.net.file} has been left`);
  }
}
