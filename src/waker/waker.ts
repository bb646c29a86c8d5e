import * as fs from 'node:fs';
import { poll, pollEvents, PollEntry, tcsetattr } from '../launcher/native';
import { CONTROL_FD, ControlOp, FIRST_WATCHED_FD, MAX_WATCHED_FD, RecordDecoder, RESTORE_ARG, WAKE_FD } from './protocol';

/**
 * The waker: a process of its own whose whole life is one poll(2).
 *
 * The launcher spends its time inside the CPU core, a long synchronous loop
 * that cannot also sleep in poll(2). So, as in the original, a second process
 * watches the input descriptors and pokes the launcher when one has something
 * to say; the launcher checks the wake pipe between slices of guest time, and
 * sleeps on it when the guest is idle. See protocol.ts for the wire format.
 */
function main(args: string[]): void {
  // A hang-up reaches the whole foreground job, us too; the launcher decides
  // what it means and we go when it does (end of file on the control pipe).
  // With a handler the signal only cuts poll(2) short.
  process.on('SIGHUP', () => undefined);
  const IN = pollEvents().IN;
  const armed = new Set<number>();
  const ignored = new Set<number>();
  let restore: { fd: number; saved: Buffer } | null = null;
  for (const a of args) {
    if (a.startsWith(RESTORE_ARG)) {
      const [fd, hex] = a.slice(RESTORE_ARG.length).split(':');
      restore = { fd: Number(fd), saved: Buffer.from(hex, 'hex') };
      continue;
    }
    const fd = Number(a);
    if (!Number.isInteger(fd) || fd < FIRST_WATCHED_FD || fd > MAX_WATCHED_FD) throw new Error(`waker: bad fd argument '${a}'`);
    armed.add(fd);
  }
  const decoder = new RecordDecoder();
  const buf = Buffer.alloc(256);

  for (;;) {
    const watched = [...armed];
    const entries: PollEntry[] = [{ fd: CONTROL_FD, events: IN }, ...watched.map((fd) => ({ fd, events: IN }))];
    const revents = poll(entries, Infinity);

    if (revents[0] !== 0) {
      const n = fs.readSync(CONTROL_FD, buf);
      // The launcher is gone (exit, crash or SIGKILL): so are we. If it did
      // not say Stop first, it died before it could put the terminal back.
      if (n === 0) {
        if (restore) restoreTerminal(restore.fd, restore.saved);
        return;
      }
      for (const { op, fd } of decoder.push(buf.subarray(0, n))) {
        if (op === ControlOp.Stop) {
          restore = null;
        } else if (op === ControlOp.Ignore) {
          ignored.add(fd);
          armed.delete(fd);
        } else if (!ignored.has(fd)) {
          armed.add(fd);
        }
      }
    }

    // Readable, hung up or in error: all mean "the launcher should look".
    for (let i = 0; i < watched.length; i++) {
      if (revents[i + 1] === 0 || !armed.has(watched[i])) continue;
      armed.delete(watched[i]);
      if (!wake(watched[i])) return;
    }
  }
}

/** The launcher's terminal settings, back; a terminal that is gone too (EIO) is left alone. */
function restoreTerminal(fd: number, saved: Buffer): void {
  try {
    tcsetattr(fd, saved);
  } catch {
    // Hung up or closed: nothing to restore.
  }
}

/** Tells the launcher `fd` is ready; false if the launcher has gone away. */
function wake(fd: number): boolean {
  try {
    fs.writeSync(WAKE_FD, Buffer.of(fd));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return false;
    throw e;
  }
}

main(process.argv.slice(2));
