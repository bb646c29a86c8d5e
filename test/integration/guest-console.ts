import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Booting the guest image and typing at its shell through pipes: the
 * launcher reads a non-terminal stdin as console input, and everything the
 * guest prints arrives on its stdout. For integration tests and benchmarks
 * that need real guests (networking); boot-shell.test.ts drives a real
 * terminal instead.
 *
 * Every wait is on what the console shows, with a generous limit that only
 * turns a hang into a failure with the console's last lines.
 */

export const root = path.join(__dirname, '..', '..', '..');
export const kernel = path.join(root, '.cache/guest/vmlinuz');
export const initrd = path.join(root, '.cache/guest/initramfs.gz');
const LGUEST = path.join(root, 'bin/lguest');
/** The busybox shell's prompt (scripts/guest-image). */
const PROMPT = '/ # ';
/** Several guests may share the machine's two cores: a boot can take minutes. */
export const BOOT_LIMIT_MS = 10 * 60 * 1000;
const COMMAND_LIMIT_MS = 3 * 60 * 1000;

/** Throws, saying what to run, if the guest image has not been built. */
export function requireGuestImage(): void {
  for (const f of [kernel, initrd]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: run scripts/setup`);
  }
}

/** Runs `ip` with these arguments; its output, or an exception with its stderr. */
function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Waiter {
  pattern: RegExp;
  from: number;
  resolve(match: RegExpExecArray): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export interface GuestOptions {
  /** For messages: which guest this is. */
  label: string;
  /** Launcher options before <mem> <kernel> (the device options). */
  options: string[];
  /** Run the launcher inside this network namespace (`ip netns exec`). */
  netns?: string;
}

/** Where a command left the console, and its exit status. */
export interface CommandResult {
  /** What the console showed from the command's echo up to its end marker. */
  output: string;
  status: number;
}

/** One launcher running the guest image, its console on pipes. */
export class Guest {
  /** Everything the console printed so far (latin1). */
  output = '';
  /** Set once the launcher has exited: its status, or the signal that ended it. */
  ended: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;
  private waiters: Waiter[] = [];
  private stderr = '';
  private commands = 0;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString('latin1');
      this.check();
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    // A guest that has powered off no longer reads its console.
    child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      const end = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.ended) return;
        this.ended = { code, signal };
        const why = new Error(`${label}: the launcher exited (${signal ?? code}); stderr: ${this.stderr.trim()}\nconsole:\n${this.tail()}`);
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(why);
        }
        resolve();
      };
      // 'close', not 'exit': by then everything the guest printed has been read.
      child.on('close', end);
      child.on('error', (e) => {
        this.stderr += `${e.message}\n`;
        end(null, null);
      });
    });
  }

  /** Starts a launcher on the guest image. `ready()` waits for its shell. */
  static start(opts: GuestOptions): Guest {
    requireGuestImage();
    const launcher = [LGUEST, ...opts.options, `--initrd=${initrd}`, '256', kernel];
    // `ip netns exec` execs the command in place: the child's pid is the launcher's.
    const [command, args] = opts.netns
      ? ['ip', ['netns', 'exec', opts.netns, process.execPath, ...launcher]]
      : [process.execPath, launcher];
    return new Guest(opts.label, spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** The launcher's process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Waits for the shell's prompt, then keeps the kernel's messages off the
   * console so that they do not land in the middle of commands' output.
   */
  async ready(limitMs = BOOT_LIMIT_MS): Promise<void> {
    await this.waitFor(PROMPT, 0, limitMs);
    await this.sh('dmesg -n 1');
  }

  /**
   * Waits until `pattern` shows on the console after `from` characters of
   * its output; the match (with its index into the whole output).
   */
  waitFor(pattern: RegExp | string, from: number, limitMs = COMMAND_LIMIT_MS): Promise<RegExpExecArray> {
    const re = typeof pattern === 'string' ? new RegExp(escape(pattern)) : pattern;
    return new Promise((resolve, reject) => {
      if (this.ended) return reject(new Error(`${this.label}: the launcher has exited; console:\n${this.tail()}`));
      const waiter: Waiter = {
        pattern: re,
        from,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`${this.label}: no ${re} on the console within ${limitMs / 1000} s; it shows:\n${this.tail()}`));
        }, limitMs),
      };
      this.waiters.push(waiter);
      this.check();
    });
  }

  /**
   * Types `command` at the shell and resolves when it has finished, with its
   * output and status. The end is an echoed marker whose typed form (with
   * quotes) differs from what it prints, since the echo of a long typed line
   * is wrapped by the shell's line editor. A command ending in `&` runs in the
   * background and "finishes" at once. Commands must not read the console:
   * what is typed while they run would be their input.
   */
  async sh(command: string, limitMs = COMMAND_LIMIT_MS): Promise<CommandResult> {
    const n = ++this.commands;
    const from = this.output.length;
    const separator = /&\s*$/.test(command) ? ' ' : '; ';
    this.type(`${command}${separator}echo __e""nd${n} $?`);
    // Output without a final newline runs into the marker: it cannot be anchored to a line start.
    const m = await this.waitFor(new RegExp(`__end${n} (\\d+)\\r?\\n`), from, limitMs);
    return { output: this.output.slice(from, m.index), status: Number(m[1]) };
  }

  /** Like sh(), but the command must succeed; its output. */
  async ok(command: string, limitMs = COMMAND_LIMIT_MS): Promise<string> {
    const r = await this.sh(command, limitMs);
    if (r.status !== 0) throw new Error(`${this.label}: \`${command}\` exited with status ${r.status}:\n${r.output}`);
    return r.output;
  }

  /** Sends a line to the console as if typed. */
  private type(line: string): void {
    this.child.stdin!.write(line + '\n');
  }

  /** SIGKILLs the launcher and waits until it is gone. */
  async kill(): Promise<void> {
    if (!this.ended) this.child.kill('SIGKILL');
    await this.exited;
  }

  /**
   * `poweroff -f` and the launcher's exit status; a launcher still running
   * after `limitMs` is killed (null).
   */
  async powerOff(limitMs = 60_000): Promise<number | null> {
    if (!this.ended) {
      this.type('poweroff -f');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), limitMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.ended!.code;
  }

  /** The console's last lines, for failure messages. */
  private tail(chars = 3000): string {
    return this.output.slice(-chars);
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      w.pattern.lastIndex = 0;
      const m = w.pattern.exec(this.output.slice(w.from));
      if (!m) continue;
      m.index += w.from;
      clearTimeout(w.timer);
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(m);
    }
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Boots guests side by side and waits for all their shells; kills them all if one fails. */
export async function bootAll(guests: Guest[], limitMs = BOOT_LIMIT_MS): Promise<void> {
  try {
    await Promise.all(guests.map((g) => g.ready(limitMs)));
  } catch (e) {
    await Promise.all(guests.map((g) => g.kill()));
    throw e;
  }
}

/** A network namespace of our own, with its loopback up; del() removes it and the interfaces in it. */
export class Netns {
  private constructor(readonly name: string) {}

  static create(name: string): Netns {
    ip('netns', 'add', name);
    const ns = new Netns(name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): string {
    return ip('-n', this.name, ...args);
  }

  del(): void {
    ip('netns', 'del', this.name);
  }

  /** Deletes every namespace in `list` (emptying it), even if some deletions fail; throws the first failure. */
  static delAll(list: Netns[]): void {
    const failures: unknown[] = [];
    for (const ns of list.splice(0)) {
      try {
        ns.del();
      } catch (e) {
        failures.push(e);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}

/** The received data and timing a host-side peer (net-guest-host.ts) reports. */
export interface PeerReport {
  bytes: number;
  /** From the first byte received to end of file. */
  seconds: number;
  md5: string;
  /** What was received, if short (latin1). */
  text?: string;
  /** The MD5 of what the peer sent. */
  sentMd5: string;
}

const HOST_PEER = path.join(__dirname, 'net-guest-host.js');

/**
 * A TCP peer for a guest on the host side of a tap, run inside the tap's
 * namespace: see net-guest-host.ts for what it does.
 */
export class HostPeer {
  private constructor(
    private readonly child: ChildProcess,
    /** Resolves with the peer's report once its connection has ended. */
    readonly report: Promise<PeerReport>,
  ) {}

  /**
   * Listens on addr:port for one connection; answers `reply` once the
   * guest's data has ended. `random:<n>` (here and in connect) is n random bytes.
   */
  static async serve(ns: string, addr: string, port: number, reply: string): Promise<HostPeer> {
    const peer = HostPeer.spawn(ns, ['serve', addr, String(port), reply]);
    await peer.listening;
    return peer.host;
  }

  /** Connects to addr:port (retrying while refused: the guest may not listen yet), sends `payload`, ends. */
  static connect(ns: string, addr: string, port: number, payload: string): HostPeer {
    return HostPeer.spawn(ns, ['connect', addr, String(port), payload]).host;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private static spawn(ns: string, args: string[]): { host: HostPeer; listening: Promise<void> } {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, HOST_PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let listened: () => void = () => undefined;
    const listening = new Promise<void>((resolve) => (listened = resolve));
    child.stderr!.on('data', (d) => (err += d));
    const report = new Promise<PeerReport>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('listening\n')) listened();
      });
      child.on('exit', (code) => {
        const last = out.trim().split('\n').pop() ?? '';
        if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as PeerReport);
        else reject(new Error(`host peer ${args.join(' ')} exited ${code}: ${err.trim()}`));
      });
    });
    // A peer that dies before listening fails serve() through the report.
    report.catch(() => undefined);
    return { host: new HostPeer(child, report), listening: Promise.race([listening, report.then(() => undefined)]) };
  }
}
