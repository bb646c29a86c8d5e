import * as fs from 'node:fs';
import { ConsoleSink } from '../../guest/virtio/console';

const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * The console's bytes: in from the terminal (or whatever stdin is), out to
 * stdout. The UART and the virtio console share one of these. Raw mode and
 * the ^C handling belong to the terminal code; this only moves bytes.
 */
export class ConsoleBackend implements ConsoleSink {
  /** stdin reached end of file or failed: stop watching it (it is not fatal). */
  inputClosed = false;
  /** stdout went away (a closed pipe): output is dropped from now on. */
  outputClosed = false;
  private readonly inBuf = new Uint8Array(4096);

  constructor(readonly inFd = 0, readonly outFd = 1) {}

  /**
   * Reads what input is waiting; call it when the waker says the input is
   * readable. Returns null when there was nothing (or at end of file, which
   * also sets inputClosed). The bytes are valid until the next call.
   */
  readInput(): Uint8Array | null {
    if (this.inputClosed) return null;
    let n: number;
    try {
      n = fs.readSync(this.inFd, this.inBuf, 0, this.inBuf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return null;
      // EIO from a hung-up terminal and the like: the input is gone.
      this.inputClosed = true;
      return null;
    }
    if (n === 0) {
      this.inputClosed = true;
      return null;
    }
    return this.inBuf.subarray(0, n);
  }

  write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length && !this.outputClosed) {
      try {
        done += fs.writeSync(this.outFd, bytes, done, bytes.length - done);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A non-blocking stdout that is full: wait a moment for the reader.
        if (code === 'EAGAIN') Atomics.wait(SLEEP, 0, 0, 1);
        else if (code === 'EPIPE' || code === 'EIO') this.outputClosed = true;
        else throw e;
      }
    }
  }
}
