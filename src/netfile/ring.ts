import { lockHolder } from '../launcher/native';
import type { NetFile } from './file';
import {
  CELL_DATA,
  CELL_LENGTH,
  CELLS,
  cellIndex,
  cellOffset,
  lapOf,
  MAX_FRAME,
  Phase,
  previousLap,
  SLOTS,
  slotHead,
  slotLockByte,
  slotTail,
  stateLap,
  stateOwner,
  statePhase,
  stateWord,
} from './layout';

/**
 * The receive rings: many senders, one receiver each, in shared memory that
 * any of them may leave at any instant (SIGKILL included).
 *
 * Lock-free, in the manner of Vyukov's bounded queue, but the reservation is
 * a compare-and-swap on the *cell's* state word, which records the sender's
 * slot in the same atomic step. That is what makes a sender's death
 * survivable: there is never a moment where a cell is taken but nobody knows
 * by whom. A sender:
 *
 *   1. reads the ring's tail hint `pos` and CASes cell pos from FREE(lap) to
 *      RESERVED(lap, me) (full if the cell still holds the previous lap);
 *   2. advances the tail hint (anyone who finds the hint lagging helps);
 *   3. copies the frame and its length, then stores COMMITTED(lap, me).
 *
 * Atomics operations are sequentially consistent, so the frame's bytes are in
 * the cell before the COMMITTED word is; a receiver that sees COMMITTED sees
 * the whole frame, and one that sees RESERVED reads nothing from the cell.
 *
 * The receiver reads in order from its head, and when the head is RESERVED by
 * a sender that is still copying, it looks past it for committed frames of
 * other senders (delivering them marks them SPENT), so a slow or stopped
 * sender delays only its own frames. A RESERVED head whose sender no longer holds its slot lock
 * is dead: the receiver frees it. A newcomer that takes a dead sender's slot
 * marks that sender's leftover reservations SPENT first (the lock alone would
 * then look alive).
 */
export class Rings {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(private readonly net: NetFile) {
    this.words = net.words;
    this.bytes = net.bytes;
  }

  /**
   * Put `frame` in `dest`'s ring on behalf of slot `me`. False if the ring is
   * full (the frame is dropped, as Ethernet may). `halfWritten` is a test hook,
   * called with the cell reserved and half the frame copied.
   */
  put(dest: number, me: number, frame: Uint8Array, halfWritten?: () => void): boolean {
    const tail = slotTail(dest) >> 2;
    // Each retry means another sender won a race and made progress, so this
    // bound is only there to keep a corrupt file from spinning us for ever.
    for (let attempt = 0; attempt < 4 * CELLS; attempt++) {
      const pos = Atomics.load(this.words, tail) >>> 0;
      const lap = lapOf(pos);
      const cell = cellOffset(dest, cellIndex(pos));
      const word = cell >> 2;
      const free = stateWord(lap, Phase.Free, 0);
      const s = Atomics.load(this.words, word);
      if (s === free) {
        if (Atomics.compareExchange(this.words, word, free, stateWord(lap, Phase.Reserved, me)) !== free) continue;
        Atomics.compareExchange(this.words, tail, pos | 0, (pos + 1) | 0);
        this.copyIn(cell, frame, halfWritten);
        Atomics.store(this.words, word, stateWord(lap, Phase.Committed, me));
        return true;
      }
      if (stateLap(s) === lap) {
        // Taken at this position already: the hint lags (its sender may have died before moving it).
        Atomics.compareExchange(this.words, tail, pos | 0, (pos + 1) | 0);
      } else if (stateLap(s) === previousLap(lap)) {
        return false;
      }
      // Otherwise the hint moved on while we looked: read it again.
    }
    return false;
  }

  /**
   * The next frame for slot `me`, copied into `into` (null: discard it).
   * Returns its length, or 0 if no whole frame is waiting.
   */
  take(me: number, into: Uint8Array | null): number {
    const headWord = slotHead(me) >> 2;
    for (;;) {
      const pos = Atomics.load(this.words, headWord) >>> 0;
      const lap = lapOf(pos);
      const cell = cellOffset(me, cellIndex(pos));
      const word = cell >> 2;
      const s = Atomics.load(this.words, word);
      if (stateLap(s) !== lap) return 0;
      const next = stateWord(lapOf(pos + CELLS), Phase.Free, 0);
      const phase = statePhase(s);
      if (phase === Phase.Free) return 0;
      if (phase === Phase.Reserved) {
        if (!this.senderGone(stateOwner(s))) return this.takeAhead(me, pos, s, into);
        if (Atomics.compareExchange(this.words, word, s, next) !== s) continue;
      } else if (phase === Phase.Committed) {
        const length = this.copyOut(cell, into);
        Atomics.store(this.words, word, next);
        Atomics.store(this.words, headWord, (pos + 1) | 0);
        if (length > 0) return length;
        continue;
      } else {
        Atomics.store(this.words, word, next);
      }
      Atomics.store(this.words, headWord, (pos + 1) | 0);
    }
  }

  /**
   * Mark every reservation that slot `slot` holds in any ring SPENT. Only for
   * a launcher that has just taken `slot`: the reservations are its dead
   * predecessor's. Returns the slots whose rings changed (to wake them).
   */
  abandon(slot: number): number[] {
    const touched: number[] = [];
    for (let ring = 0; ring < SLOTS; ring++) {
      for (let i = 0; i < CELLS; i++) {
        const word = cellOffset(ring, i) >> 2;
        const s = Atomics.load(this.words, word);
        if (statePhase(s) !== Phase.Reserved || stateOwner(s) !== slot) continue;
        const spent = stateWord(stateLap(s), Phase.Spent, slot);
        if (Atomics.compareExchange(this.words, word, s, spent) === s && !touched.includes(ring)) touched.push(ring);
      }
    }
    return touched;
  }

  /**
   * The head is RESERVED by a live sender: deliver the first committed frame
   * behind it. Not one from a sender with a reservation earlier in the ring,
   * though: it may have committed that one and this one while we looked, and
   * each sender's frames must arrive in the order it sent them.
   */
  private takeAhead(me: number, head: number, headState: number, into: Uint8Array | null): number {
    let copying = 1 << stateOwner(headState);
    for (let i = 1; i < CELLS; i++) {
      const pos = (head + i) >>> 0;
      const lap = lapOf(pos);
      const cell = cellOffset(me, cellIndex(pos));
      const word = cell >> 2;
      const s = Atomics.load(this.words, word);
      if (stateLap(s) !== lap || statePhase(s) === Phase.Free) return 0;
      const owner = 1 << stateOwner(s);
      if (statePhase(s) === Phase.Reserved) {
        copying |= owner;
      } else if (statePhase(s) === Phase.Committed && !(copying & owner)) {
        const length = this.copyOut(cell, into);
        Atomics.store(this.words, word, stateWord(lap, Phase.Spent, stateOwner(s)));
        if (length > 0) return length;
      }
    }
    return 0;
  }

  /**
   * A sender holds its slot's lock for as long as it lives, copies included,
   * so no holder means its reservation will never be committed. (Our own
   * process's locks never show here; its sends are finished before we read.)
   */
  private senderGone(slot: number): boolean {
    return lockHolder(this.net.fd, slotLockByte(slot)) === 0;
  }

  private copyIn(cell: number, frame: Uint8Array, halfWritten?: () => void): void {
    this.words[(cell + CELL_LENGTH) >> 2] = frame.length;
    const data = cell + CELL_DATA;
    if (halfWritten) {
      const half = frame.length >> 1;
      this.bytes.set(frame.subarray(0, half), data);
      halfWritten();
      this.bytes.set(frame.subarray(half), data + half);
    } else {
      this.bytes.set(frame, data);
    }
  }

  /** The committed frame's length (0 if the cell is corrupt: the frame is lost). */
  private copyOut(cell: number, into: Uint8Array | null): number {
    const length = this.words[(cell + CELL_LENGTH) >> 2];
    if (length <= 0 || length > MAX_FRAME) return 0;
    if (into) into.set(this.bytes.subarray(cell + CELL_DATA, cell + CELL_DATA + length));
    return length;
  }
}
