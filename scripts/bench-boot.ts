/**
 * Boot benchmark: seconds from start to the busybox prompt for lguest and for
 * QEMU's TCG on the same kernel and initramfs, measured in the same run so
 * that the ratio means something on a shared, noisy machine; then the host
 * CPU each costs while idle at its prompt, and the host time `sleep 5` typed
 * there takes.
 *
 *   node dist/scripts/bench-boot.js [--runs N] [--idle-seconds S] [--no-qemu]
 *                                   [--timer-slack MS]
 *
 * --timer-slack is passed to lguest (its default when not given).
 *
 * Needs scripts/setup (the guest image) and, for the peer, qemu-system-x86.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PC_KERNEL_ARGS } from '../src/guest/platform/pc';

const root = path.join(__dirname, '..', '..');
const kernel = path.join(root, '.cache/guest/vmlinuz');
const initrd = path.join(root, '.cache/guest/initramfs.gz');
/** The prompt of the guest image's shell (scripts/guest-image/init). */
const PROMPT = '/ # ';
const BOOT_TIMEOUT_MS = 15 * 60 * 1000;

interface Args {
  runs: number;
  idleSeconds: number;
  qemu: boolean;
  timerSlack: string | null;
}

function parse(argv: string[]): Args {
  const args: Args = { runs: 1, idleSeconds: 30, qemu: true, timerSlack: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') args.runs = Number(argv[++i]);
    else if (argv[i] === '--idle-seconds') args.idleSeconds = Number(argv[++i]);
    else if (argv[i] === '--no-qemu') args.qemu = false;
    else if (argv[i] === '--timer-slack') args.timerSlack = argv[++i];
    else throw new Error(`bench-boot: unknown argument ${argv[i]}`);
  }
  return args;
}

/**
 * Resolves with the host time (performance.now()) at which `text` next shows
 * on the child's console; rejects, with what it showed last, if the child
 * exits first or `limitMs` passes.
 */
function shows(child: ChildProcess, label: string, text: string, limitMs: number): Promise<number> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.stdout!.off('data', look);
      child.off('exit', exited);
    };
    const look = (chunk: Buffer): void => {
      seen = (seen + chunk.toString('latin1')).slice(-4096);
      if (!seen.includes(text)) return;
      done();
      resolve(performance.now());
    };
    const exited = (code: number | null): void => {
      done();
      reject(new Error(`${label} exited (${code}) before showing ${JSON.stringify(text)}; last output:\n${seen.slice(-800)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${label}: no ${JSON.stringify(text)} within ${limitMs / 1000} s; last output:\n${seen.slice(-800)}`));
    }, limitMs);
    child.stdout!.on('data', look);
    child.on('exit', exited);
  });
}

/** Resolves with the seconds until a freshly started guest's console shows the prompt. */
async function untilPrompt(child: ChildProcess, label: string): Promise<number> {
  const start = performance.now();
  return ((await shows(child, label, PROMPT, BOOT_TIMEOUT_MS)) - start) / 1000;
}

/**
 * Host seconds between the lines the guest prints just before and just after
 * `sleep <seconds>`: how closely its timers follow the host's clock, timer
 * slack included.
 */
async function timeSleep(child: ChildProcess, label: string, seconds: number): Promise<number> {
  const limitMs = (seconds + 60) * 1000;
  const before = shows(child, label, '\nsleep-start', limitMs);
  const after = shows(child, label, '\nsleep-end', limitMs);
  // Awaited below once `before` has come; until then its failure is `before`'s too.
  after.catch(() => undefined);
  child.stdin!.write(`echo sleep""-start; sleep ${seconds}; echo sleep""-end\n`);
  const t0 = await before;
  return ((await after) - t0) / 1000;
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** User + system CPU seconds of a process and its children (the waker), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return ticks / clockTicks + children.reduce((sum, c) => sum + cpuSeconds(Number(c)), 0);
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString());

interface Boot {
  /** Seconds from start to the prompt. */
  seconds: number;
  /** Share of one host core the guest costs while idle at its prompt (NaN if not measured). */
  idleCpu: number;
  /** Host seconds that `sleep 5` typed at the prompt took, after the idle period. */
  sleep5: number;
}

/**
 * Boots one guest to its prompt and, if asked, counts the CPU it costs while
 * idle there: the same measure for lguest (launcher and waker) and for QEMU
 * (all its threads), so the two idle figures compare like the boot times.
 */
async function boot(label: string, command: string, args: string[], idleSeconds: number): Promise<Boot> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const seconds = await untilPrompt(child, label);
    let idleCpu = NaN;
    if (idleSeconds > 0) {
      // Let the shell settle, then count.
      await new Promise((r) => setTimeout(r, 2000));
      const before = cpuSeconds(child.pid!);
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      idleCpu = (cpuSeconds(child.pid!) - before) / idleSeconds;
    }
    const sleep5 = await timeSleep(child, label, 5);
    child.stdin!.write('poweroff -f\n');
    await Promise.race([stopped(child), new Promise((r) => setTimeout(r, 30_000))]);
    return { seconds, idleCpu, sleep5 };
  } finally {
    child.kill('SIGKILL');
    await stopped(child);
  }
}

const bootLguest = (idleSeconds: number, timerSlack: string | null): Promise<Boot> =>
  boot(
    'lguest',
    process.execPath,
    [path.join(root, 'bin/lguest'), ...(timerSlack === null ? [] : [`--timer-slack=${timerSlack}`]), `--initrd=${initrd}`, '256', kernel],
    idleSeconds,
  );

const bootQemu = (idleSeconds: number): Promise<Boot> =>
  boot(
    'qemu-system-i386',
    'qemu-system-i386',
    // The same kernel arguments lguest gives, so both boot the same work.
    ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', PC_KERNEL_ARGS],
    idleSeconds,
  );

const percent = (share: number): string => `${(share * 100).toFixed(2)}%`;

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  for (const f of [kernel, initrd]) {
    if (!fs.existsSync(f)) throw new Error(`bench-boot: ${f} is missing: run scripts/setup first`);
  }
  if (args.qemu && spawnSync('qemu-system-i386', ['--version']).status !== 0) {
    throw new Error('bench-boot: qemu-system-i386 is missing: apt-get install qemu-system-x86 (or pass --no-qemu)');
  }
  for (let run = 1; run <= args.runs; run++) {
    const ours = await bootLguest(args.idleSeconds, args.timerSlack);
    let line = `run ${run}: lguest ${ours.seconds.toFixed(1)} s to prompt`;
    const peer = args.qemu ? await bootQemu(args.idleSeconds) : null;
    if (peer) line += `, qemu-system-i386 (tcg) ${peer.seconds.toFixed(1)} s, ratio ${(ours.seconds / peer.seconds).toFixed(2)}`;
    if (args.idleSeconds > 0) {
      line += `; idle at the prompt over ${args.idleSeconds} s: lguest ${percent(ours.idleCpu)} of one host core`;
      if (peer) line += `, qemu-system-i386 ${percent(peer.idleCpu)}`;
    }
    line += `; \`sleep 5\` took ${ours.sleep5.toFixed(3)} s`;
    if (peer) line += ` (qemu-system-i386 ${peer.sleep5.toFixed(3)} s)`;
    console.log(line);
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
