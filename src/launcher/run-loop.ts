import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToNode } from 'node:timers/promises';
import { STRING_YIELD } from '../guest/cpu/strings';
import { Terminal } from './terminal';
import { WakerClient } from './waker-client';

/**
 * What the run loop needs from a guest machine (the CPU core plus its
 * platform): the part lg.ko played for the original launcher.
 */
export interface Guest {
  /**
   * Run guest code until it halts waiting for an interrupt ('halt') or its
   * slice of time is used up ('budget'). Keep slices short (milliseconds):
   * input is looked at between them. Throws GuestError when the guest dies.
   */
  run(): 'halt' | 'budget';
  /** After 'halt': milliseconds until the guest's next timer event, Infinity if none. */
  msUntilDeadline(): number;
  /** Non-null once the guest has powered off or asked to reboot: the launcher's exit status. */
  readonly exitCode: number | null;
}

/** What serving an input descriptor asks of the loop. */
export type InputResult =
  /** Served: watch it again. */
  | 'rearm'
  /** Finished for good (end of file): stop watching it. */
  | 'ignore'
  /** End the launcher with this status (three ^C). */
  | { exit: number };

/** A descriptor the waker watches for the launcher, and who serves it. */
export interface InputSource {
  readonly fd: number;
  /** The waker saw `fd` readable (or hung up): read it. */
  readable(): InputResult;
}

/** The loop's view of the waker (WakerClient; tests may substitute). */
export interface Wakeups {
  wait(timeoutMs: number): boolean;
  drain(): number[];
  rearm(fd: number): void;
  ignore(fd: number): void;
}

/**
 * How often a busy guest lets Node's event loop run, so that signal handlers
 * (terminal restore on SIGTERM) and child process bookkeeping happen while
 * the CPU core has the thread.
 */
const YIELD_EVERY_MS = 10;

/**
 * The launcher's main loop, the successor of the original's run_guest(): run
 * the guest; between slices serve whatever input the waker reported; when the
 * guest halts, sleep on the wake pipe until input or the guest's next timer
 * deadline, so an idle guest costs the host next to nothing. Returns the exit
 * status; guest deaths (GuestError) propagate to the caller.
 */
export async function runLoop(guest: Guest, wakeups: Wakeups, sources: readonly InputSource[]): Promise<number> {
  const byFd = new Map(sources.map((s) => [s.fd, s]));
  let lastYield = performance.now();
  for (;;) {
    const exit = runSlice(guest);
    if (guest.exitCode !== null) return guest.exitCode;
    if (exit === 'halt') wakeups.wait(guest.msUntilDeadline());

    for (const fd of wakeups.drain()) {
      const result = byFd.get(fd)!.readable();
      if (result === 'rearm') wakeups.rearm(fd);
      else if (result === 'ignore') wakeups.ignore(fd);
      else return result.exit;
    }

    if (exit === 'halt' || performance.now() - lastYield >= YIELD_EVERY_MS) {
      await yieldToNode();
      lastYield = performance.now();
    }
  }
}

/**
 * One slice of the guest. A rep string instruction that has done a step's
 * worth of work leaves the core by throwing STRING_YIELD with EIP still on
 * itself (strings.ts): its slice is over, and it continues on the next one,
 * after input, signals and timers have been served.
 */
function runSlice(guest: Guest): 'halt' | 'budget' {
  try {
    return guest.run();
  } catch (e) {
    if (e === STRING_YIELD) return 'budget';
    throw e;
  }
}

/** How long the launcher waits for its waker to exit once told to. */
const WAKER_EXIT_MS = 2000;

/**
 * Everything around the loop: the terminal goes raw, the waker starts
 * watching the sources, and both are put back however the loop ends.
 */
export async function startGuest(guest: Guest, sources: readonly InputSource[]): Promise<number> {
  const terminal = Terminal.takeOver(0);
  try {
    const saved = terminal.savedState;
    const waker = WakerClient.start(
      sources.map((s) => s.fd),
      saved ? { fd: terminal.fd, saved } : undefined,
    );
    try {
      return await runLoop(guest, waker, sources);
    } finally {
      waker.stop();
      await waker.exited(WAKER_EXIT_MS);
    }
  } finally {
    terminal.restore();
  }
}
