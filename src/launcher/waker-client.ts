import { Socket } from 'node:net';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ControlOp, encodeRecord, FIRST_WATCHED_FD, MAX_WATCHED_FD, RESTORE_ARG } from '../waker/protocol';
import { pipe, poll, pollEvents } from './native';
import { UserError } from './user-error';

const WAKER_SCRIPT = path.join(__dirname, '..', 'waker', 'waker.js');

/**
 * The launcher's end of the waker (src/waker): starts it, sleeps on the wake
 * pipe when the guest is idle, and tells it which descriptors to watch.
 *
 * Only the launcher holds the control pipe's write end (our pipes are
 * close-on-exec, so no other child inherits it): when the launcher dies, for
 * whatever reason, the waker reads end of file and exits.
 */
export class WakerClient {
  private readonly wakeBuf = Buffer.alloc(256);
  private stopped = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly controlFd: number,
    private readonly wakeFd: number,
    /** waker-side fd -> launcher fd, and back. */
    private readonly toLauncher: Map<number, number>,
    private readonly toWaker: Map<number, number>,
  ) {}

  /** The waker's process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Start a waker watching `fds` (the launcher's input descriptors). With
   * `tty`, one of them is a terminal we made raw, and `saved` its settings:
   * the waker puts them back if we die without stop() (SIGKILL).
   */
  static start(fds: readonly number[], tty?: { fd: number; saved: Buffer }): WakerClient {
    if (new Set(fds).size !== fds.length) throw new Error(`waker: duplicate fds in ${fds.join(',')}`);
    if (FIRST_WATCHED_FD + fds.length - 1 > MAX_WATCHED_FD) throw new Error(`waker: too many fds (${fds.length})`);
    const [controlRead, controlWrite] = pipe();
    const [wakeRead, wakeWrite] = pipe();
    const toLauncher = new Map<number, number>();
    const toWaker = new Map<number, number>();
    fds.forEach((fd, i) => {
      toLauncher.set(FIRST_WATCHED_FD + i, fd);
      toWaker.set(fd, FIRST_WATCHED_FD + i);
    });
    // The waker's stderr is a pipe we forward, never the terminal itself: a
    // Node process puts its stdio terminals back at exit as it found them at
    // start, and the waker starts after the terminal went raw and may exit
    // after we restored it, which would leave the user's terminal raw.
    const args = [WAKER_SCRIPT, ...[...toLauncher.keys()].map(String)];
    const ttyInWaker = tty ? toWaker.get(tty.fd) : undefined;
    if (tty && ttyInWaker !== undefined) args.push(`${RESTORE_ARG}${ttyInWaker}:${tty.saved.toString('hex')}`);
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe', controlRead, wakeWrite, ...fds],
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    (child.stderr as Socket).unref();
    // A failed spawn leaves no pid; the 'error' event that follows carries
    // nothing more, and a waker that dies later shows as wake pipe EOF.
    child.on('error', () => undefined);
    if (child.pid === undefined) throw new Error(`cannot start the waker (${process.execPath} ${WAKER_SCRIPT})`);
    // The waker has its own copies now; ours would keep the pipes open after
    // it died, hiding its death from us (and ours from it).
    fs.closeSync(controlRead);
    fs.closeSync(wakeWrite);
    child.unref();
    return new WakerClient(child, controlWrite, wakeRead, toLauncher, toWaker);
  }

  /**
   * Sleep until the waker reports input or `timeoutMs` passes (Infinity: no
   * timeout). True if there is something to drain(). A signal cuts the sleep
   * short, returning false, so the caller can let Node run its handlers.
   */
  wait(timeoutMs: number): boolean {
    return poll([{ fd: this.wakeFd, events: pollEvents().IN }], timeoutMs)[0] !== 0;
  }

  /**
   * The launcher descriptors the waker reported since the last drain. Each is
   * unwatched until rearm()ed. Throws if the waker has died.
   */
  drain(): number[] {
    const ready: number[] = [];
    // Looking first (a poll) keeps the common case, nothing there, free of
    // the exception a non-blocking read would throw.
    while (this.wait(0)) {
      const n = fs.readSync(this.wakeFd, this.wakeBuf);
      // Someone killed it: without it no input reaches the guest, so stop, in one line.
      if (n === 0) throw new UserError(`the waker process (pid ${this.pid}) died: stopping the guest`);
      for (const w of this.wakeBuf.subarray(0, n)) {
        const fd = this.toLauncher.get(w);
        if (fd === undefined) throw new Error(`waker reported unknown fd ${w}`);
        ready.push(fd);
      }
    }
    return ready;
  }

  /** Watch `fd` again, after serving it. */
  rearm(fd: number): void {
    this.send(ControlOp.Rearm, fd);
  }

  /** Stop watching `fd` for good (e.g. the console reached end of file). */
  ignore(fd: number): void {
    this.send(ControlOp.Ignore, fd);
  }

  /** Close our ends: the waker sees end of file and exits (leaving the terminal to us). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      fs.writeSync(this.controlFd, encodeRecord(ControlOp.Stop, 0));
    } catch {
      // EPIPE: the waker is already gone.
    }
    fs.closeSync(this.controlFd);
    fs.closeSync(this.wakeFd);
  }

  /**
   * Resolves once the waker has exited after stop(), or after `limitMs`: a
   * launcher about to replace itself must not leave it behind as a zombie
   * nobody waits for, but a waker that hangs is not worth a hung launcher.
   */
  exited(limitMs: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, limitMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private send(op: ControlOp, fd: number): void {
    const w = this.toWaker.get(fd);
    if (w === undefined) throw new Error(`fd ${fd} is not watched by the waker`);
    fs.writeSync(this.controlFd, encodeRecord(op, w));
  }
}
