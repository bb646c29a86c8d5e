import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { UserError } from '../launcher/user-error';

/**
 * Wake-ups between launchers on one network file.
 *
 * A receiving launcher sleeps in its waker's poll(2), which watches file
 * descriptors, so a wake-up must make a descriptor readable. Each slot has a
 * FIFO next to the file, `<file>.<slot>.wake`, <file> being the file's real
 * path so that launchers naming it through symlinks meet at the same FIFOs
 * (hard links would not: name the file by one path, or symlinks to it).
 *
 * The slot's owner opens its FIFO O_RDWR | O_NONBLOCK (being its own writer,
 * it never sees end of file or POLLHUP as senders come and go) and hands the
 * descriptor to its waker. A sender that has put a frame in the owner's ring
 * writes one byte to it, never blocking: EAGAIN means the FIFO is full of
 * wake-ups already, and a FIFO nobody reads (its owner died) is ignored.
 *
 * The senders do not write a byte per frame: the ring's `armed` word says
 * whether its owner is about to sleep (see ShareNet.receive), and only the
 * sender that swaps it from 1 to 0 writes.
 */

export const wakePath = (base: string, slot: number): string => `${base}.${slot}.wake`;

/**
 * The slot owner's end of its FIFO, created if missing: non-blocking, for the
 * waker to watch. `base` is the network file's real path, `file` its name for messages.
 */
export function openOwnFifo(base: string, file: string, slot: number): number {
  const fifo = wakePath(base, slot);
  if (!isFifo(fifo)) {
    try {
      execFileSync('mkfifo', ['-m', '600', fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      // Another launcher may have made it between our look and mkfifo.
      if (!isFifo(fifo)) {
        const why = (e as { stderr?: Buffer }).stderr?.toString().trim() || String(e);
        throw new UserError(`cannot make the wake-up FIFO ${fifo} for network file ${file}: ${why}`);
      }
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new UserError(`cannot open the wake-up FIFO ${fifo}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!fs.fstatSync(fd).isFIFO()) {
    fs.closeSync(fd);
    throw new UserError(`${fifo} is in the way of network file ${file}'s wake-ups: it is not a FIFO`);
  }
  return fd;
}

function isFifo(p: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new UserError(`cannot look at the wake-up FIFO ${p}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!st.isFIFO()) throw new UserError(`${p} is in the way of a network file's wake-ups: it is not a FIFO`);
  return true;
}

const drainBuf = Buffer.alloc(256);

/** Empty the owner's FIFO (wake-ups are level-triggered for the waker). */
export function drainFifo(fd: number): void {
  for (;;) {
    try {
      if (fs.readSync(fd, drainBuf) < drainBuf.length) return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw e;
    }
  }
}

const ONE = Buffer.from([1]);

/**
 * A sender's ends of the other slots' FIFOs, opened on first use and kept,
 * and reopened when the slot changes hands (its generation moves).
 */
export class Wakers {
  private readonly open = new Map<number, { fd: number; generation: number }>();

  /** `base`: the network file's real path. */
  constructor(private readonly base: string) {}

  wake(slot: number, generation: number): void {
    let end = this.open.get(slot);
    if (end && end.generation !== generation) {
      this.forget(slot);
      end = undefined;
    }
    if (!end) {
      let fd: number;
      try {
        fd = fs.openSync(wakePath(this.base, slot), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      } catch (e) {
        // ENXIO: nobody has it open for reading; ENOENT: removed. Either way nobody to wake.
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENXIO' || code === 'ENOENT') return;
        throw e;
      }
      end = { fd, generation };
      this.open.set(slot, end);
    }
    try {
      fs.writeSync(end.fd, ONE);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') this.forget(slot);
      else if (code !== 'EAGAIN') throw e;
    }
  }

  close(): void {
    for (const slot of [...this.open.keys()]) this.forget(slot);
  }

  private forget(slot: number): void {
    fs.closeSync(this.open.get(slot)!.fd);
    this.open.delete(slot);
  }
}
