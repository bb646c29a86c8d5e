/**
 * How the launcher and its waker talk. The waker is started with:
 *
 *   fd 3  CONTROL_FD  read end of the control pipe (launcher -> waker)
 *   fd 4  WAKE_FD     write end of the wake pipe (waker -> launcher)
 *   fd 5… the input descriptors to watch (stdin, taps, sharenet notifications)
 *
 * and the watched fd numbers as its arguments, and, if the launcher made a
 * terminal raw, `--restore=<fd>:<hex>`: that watched fd and the terminal
 * state (struct termios, as the addon's tcgetattr returns it) to put back if
 * the launcher dies without doing so itself (SIGKILL).
 *
 * Wake pipe: one byte per event, the (waker-side) number of the descriptor
 * that became readable. The waker then stops watching that descriptor until
 * the launcher re-arms it, so each descriptor has at most one byte in flight
 * and the pipe can never fill.
 *
 * Control pipe: fixed 4-byte records, [op, 0, fd low, fd high]. A record is
 * written whole (far below PIPE_BUF), so it arrives whole. End of file on the
 * control pipe means the launcher is gone (even by SIGKILL): the waker exits.
 * A launcher that stops the waker on purpose says Stop first; without it,
 * end of file means the launcher died, and the waker restores the terminal.
 */
export const CONTROL_FD = 3;
export const WAKE_FD = 4;
export const FIRST_WATCHED_FD = 5;
/** A wake byte holds the descriptor number. */
export const MAX_WATCHED_FD = 255;

export const RECORD_BYTES = 4;

export enum ControlOp {
  /** Stop watching the descriptor for good (console EOF, a dead tap). */
  Ignore = 1,
  /** The launcher has served the descriptor: watch it again. */
  Rearm = 2,
  /** The launcher is stopping the waker and puts the terminal back itself. */
  Stop = 3,
}

export const RESTORE_ARG = '--restore=';

export interface ControlRecord {
  op: ControlOp;
  fd: number;
}

export function encodeRecord(op: ControlOp, fd: number): Buffer {
  const b = Buffer.alloc(RECORD_BYTES);
  b[0] = op;
  b.writeUInt16LE(fd, 2);
  return b;
}

/**
 * Splits whatever bytes the control pipe gave into records. Pipes deliver
 * whole writes here, but a partial record is kept for the next read rather
 * than trusted never to happen.
 */
export class RecordDecoder {
  private pending = Buffer.alloc(0);

  push(bytes: Uint8Array): ControlRecord[] {
    const all = Buffer.concat([this.pending, bytes]);
    const whole = all.length - (all.length % RECORD_BYTES);
    const out: ControlRecord[] = [];
    for (let i = 0; i < whole; i += RECORD_BYTES) {
      const op = all[i];
      if (op !== ControlOp.Ignore && op !== ControlOp.Rearm && op !== ControlOp.Stop) throw new Error(`waker: bad control op ${op}`);
      out.push({ op, fd: all.readUInt16LE(i + 2) });
    }
    this.pending = all.subarray(whole);
    return out;
  }
}
