import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as tty from 'node:tty';
import { makeRaw, tcgetattr, tcsetattr } from './native';
import type { InputResult, InputSource } from './run-loop';

/** Signals after which the user's terminal must be usable again. */
const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * The user's terminal while a guest runs. Standard input goes raw, so every
 * key, ^C included, reaches the guest as typed; and it is put back on every
 * way out we can see: normal exit, an error exit, an uncaught exception, and
 * SIGTERM, SIGINT or SIGHUP. (SIGKILL leaves it raw: `reset` fixes that.)
 * When standard input is not a terminal, there is nothing to change.
 */
export class Terminal {
  private saved: Buffer | null = null;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.restore();
    // As QEMU does, say why we go: after a hang-up nobody may be there to
    // read it (stderr may be the dead terminal), which is fine.
    if (signal === 'SIGHUP') sayIfPossible('lguest: the terminal hung up (SIGHUP): ending the guest\n');
    // Die of the signal itself, as if we had never caught it, so our parent
    // sees the right status: with our handler gone, Node's default applies.
    process.kill(process.pid, signal);
  };
  private readonly onExit = (): void => this.restore();

  private constructor(readonly fd: number) {}

  static takeOver(fd = 0): Terminal {
    const t = new Terminal(fd);
    if (!tty.isatty(fd)) return t;
    t.saved = tcgetattr(fd);
    process.on('exit', t.onExit);
    process.on('uncaughtExceptionMonitor', t.onExit);
    for (const s of SIGNALS) process.on(s, t.onSignal);
    makeRaw(fd);
    return t;
  }

  get raw(): boolean {
    return this.saved !== null;
  }

  /** The terminal state to put back (for the waker to restore should we be SIGKILLed), or null. */
  get savedState(): Buffer | null {
    return this.saved;
  }

  /** Put the terminal back as we found it. Safe to call more than once. */
  restore(): void {
    if (!this.saved) return;
    const saved = this.saved;
    this.saved = null;
    process.removeListener('exit', this.onExit);
    process.removeListener('uncaughtExceptionMonitor', this.onExit);
    for (const s of SIGNALS) process.removeListener(s, this.onSignal);
    try {
      tcsetattr(this.fd, saved);
    } catch (e) {
      // A terminal that hung up answers EIO (or is gone: EBADF, ENOTTY):
      // there is nothing left to put back, and throwing here, often inside
      // an exit or signal handler, would abort the launcher.
      if ((e as NodeJS.ErrnoException).code === undefined) throw e;
    }
  }
}

/** Write to stderr, ignoring a stderr that has gone away with the terminal. */
function sayIfPossible(text: string): void {
  try {
    fs.writeSync(2, text);
  } catch {
    // EIO or EPIPE: nobody to tell.
  }
}

/**
 * The original console's way out: three ^C, each in a read of its own, within
 * about a second. One ^C goes to the guest like any key (it interrupts the
 * guest's foreground program); a person who presses it three times quickly
 * wants out. Each must be its own read, so a paste of ^C^C^C does not count.
 */
export class TripleCtrlC {
  static readonly WINDOW_MS = 1500;
  private count = 0;
  private firstAt = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Note one read's bytes; true when they complete the third ^C in time. */
  note(bytes: Uint8Array): boolean {
    if (bytes.length !== 1 || bytes[0] !== 0x03) {
      this.count = 0;
      return false;
    }
    const t = this.now();
    if (this.count === 0 || t - this.firstAt > TripleCtrlC.WINDOW_MS) {
      this.count = 1;
      this.firstAt = t;
      return false;
    }
    return ++this.count === 3;
  }
}

/** Exit status after three ^C, as the original launcher used. */
export const CTRL_C_EXIT = 2;

/**
 * Where console input comes from: the console back end
 * (devices/console.ts's ConsoleBackend has this shape).
 */
export interface ConsoleReader {
  readonly inFd: number;
  /** What is waiting, or null (nothing there, or end of input: then inputClosed). */
  readInput(): Uint8Array | null;
  readonly inputClosed: boolean;
}

/**
 * Standard input as a source for the run loop: what the user types goes to
 * `deliver` (the guest's console), three quick ^C end the launcher, and end
 * of file (or stdin not being there at all) just stops the watching: a guest
 * started with </dev/null runs on, as the original's did.
 */
export class ConsoleInput implements InputSource {
  readonly fd: number;
  private readonly ctrlC: TripleCtrlC;

  constructor(
    private readonly reader: ConsoleReader,
    private readonly deliver: (bytes: Uint8Array) => void,
    private readonly verbose: (msg: string) => void,
    now?: () => number,
  ) {
    this.fd = reader.inFd;
    this.ctrlC = new TripleCtrlC(now);
  }

  readable(): InputResult {
    const bytes = this.reader.readInput();
    if (this.reader.inputClosed) {
      this.verbose('console: end of input, ignoring the console from now on');
      return 'ignore';
    }
    if (!bytes) return 'rearm';
    this.deliver(bytes);
    return this.ctrlC.note(bytes) ? { exit: CTRL_C_EXIT } : 'rearm';
  }
}
