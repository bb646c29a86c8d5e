/**
 * User-workload benchmark (issue 9): host wall seconds of ordinary user work
 * in the guest, under lguest and under QEMU's TCG in the same run, on the
 * same stock kernel, kernel arguments and workload initramfs
 * (scripts/bench-user-image.sh: the default image plus /bench/run and a small
 * C program), and the ratio lguest/QEMU per workload with their geometric
 * mean.
 *
 *   node dist/scripts/bench-user.js [--runs N] [--only <name,...>] [--no-qemu]
 *        [--loop-iterations N] [--timeout S] [--qemu-cpu MODEL] [--no-lguest]
 *
 * Workloads: boot (spawn to the shell prompt), dd (`dd if=/dev/zero bs=1M
 * count=16 | md5sum`), gzip (~1.3 MB of text), sort (`sort -r`, 200k lines),
 * loop (an ash `while` loop, --loop-iterations), fork (200 fork+exec of
 * /bin/true), c (a sieve and CRC-32 in C, gcc -m32 -static -O2). Each but
 * boot is timed on the host between console markers /bench/run prints just
 * before and after the work, so console latency is in both emulators'
 * figures alike and input generation is in neither. A workload that passes
 * --timeout seconds (default 900, boot included) is reported by name; the
 * guest is then killed and a fresh one boots for the rest. With --runs N the
 * table shows medians. The default counts take about 1 s each under QEMU.
 *
 * --qemu-cpu passes `-cpu MODEL` to QEMU (default: QEMU's own, as
 * bench-boot uses); --no-lguest times QEMU alone (to calibrate the counts).
 * Runs scripts/bench-user-image.sh first, which installs what is missing and
 * builds the image.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PC_KERNEL_ARGS } from '../src/guest/platform/pc';

const root = path.join(__dirname, '..', '..');
const kernel = path.join(root, '.cache/guest/vmlinuz');
/** The prompt of the guest image's shell (scripts/guest-image/init). */
const PROMPT = /\/ # /;
const MEM_MB = '256';

/** The workloads in table order, by their /bench/run names. */
const WORKLOADS = ['boot', 'dd', 'gzip', 'sort', 'loop', 'fork', 'c'] as const;
type Workload = (typeof WORKLOADS)[number];

const FORK_COUNT = 200;
/** Rounds of the C workload: about 1 s under QEMU's TCG on a 2020s x86 host. */
const C_ROUNDS = 16;

const DESCRIPTION: Record<Workload, (a: Args) => string> = {
  boot: () => 'boot to the prompt',
  dd: () => 'dd 16 MiB of zeros \\| md5sum', // \| keeps the markdown cell whole
  gzip: () => 'gzip 1.3 MB of text',
  sort: () => 'sort -r 200k lines',
  loop: (a) => `ash while loop, ${a.loopIterations} iterations`,
  fork: () => `${FORK_COUNT} fork+exec of /bin/true`,
  c: () => `C sieve + CRC-32, ${C_ROUNDS} × 4 MiB`,
};

interface Args {
  runs: number;
  only: Workload[];
  qemu: boolean;
  lguest: boolean;
  loopIterations: number;
  timeoutSeconds: number;
  qemuCpu: string | null;
}

function parse(argv: string[]): Args {
  const args: Args = { runs: 1, only: [...WORKLOADS], qemu: true, lguest: true, loopIterations: 40_000, timeoutSeconds: 900, qemuCpu: null };
  const number = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`bench-user: ${flag} wants a positive integer, not ${value}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') args.runs = number(a, argv[++i]);
    else if (a === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const n of names) {
        if (!(WORKLOADS as readonly string[]).includes(n)) throw new Error(`bench-user: unknown workload ${n} (have ${WORKLOADS.join(', ')})`);
      }
      if (names.length === 0) throw new Error('bench-user: --only wants a list of workloads');
      args.only = WORKLOADS.filter((w) => names.includes(w));
    } else if (a === '--no-qemu') args.qemu = false;
    else if (a === '--no-lguest') args.lguest = false;
    else if (a === '--loop-iterations') args.loopIterations = number(a, argv[++i]);
    else if (a === '--timeout') args.timeoutSeconds = number(a, argv[++i]);
    else if (a === '--qemu-cpu') {
      args.qemuCpu = argv[++i] ?? null;
      if (args.qemuCpu === null) throw new Error('bench-user: --qemu-cpu wants a CPU model');
    }
    else throw new Error(`bench-user: unknown argument ${a}`);
  }
  if (!args.lguest && !args.qemu) throw new Error('bench-user: --no-qemu and --no-lguest leave nothing to run');
  return args;
}

const countFor = (w: Workload, a: Args): number => (w === 'loop' ? a.loopIterations : w === 'fork' ? FORK_COUNT : w === 'c' ? C_ROUNDS : 0);

/**
 * A guest's console: everything it prints, and waits for a pattern in what
 * comes after the last match, resolving with the host time the chunk that
 * completed it arrived.
 */
class Console {
  private text = '';
  private waiter: (() => void) | null = null;
  private exitCode: number | null | undefined = undefined;
  /** The end of what the emulator wrote to stderr: why it died, if it says. */
  private errText = '';

  constructor(readonly child: ChildProcess, readonly label: string) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      this.waiter?.();
    });
    child.on('exit', (code) => {
      this.exitCode = code;
      this.waiter?.();
    });
    // A command that cannot start, or a write racing the guest's death, must
    // fail this guest's measurement, not crash the benchmark.
    child.on('error', (e) => {
      this.exitCode = null;
      this.text += `\n[${e.message}]`;
      this.waiter?.();
    });
    child.stdin!.on('error', () => undefined);
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.errText = (this.errText + chunk.toString('latin1')).slice(-4096);
    });
  }

  /** The last non-empty line the emulator wrote to stderr, for a one-line reason. */
  private lastError(): string {
    const lines = this.errText.split('\n').map((l) => l.trim()).filter(Boolean);
    // A Node stack trace ends with the version line; the error is the first line naming one.
    const error = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.filter((l) => !l.startsWith('Node.js v')).pop();
    return error ? `: ${error}` : '';
  }

  /** Resolves with the time and match of `pattern`; rejects on exit or after `limitMs`. */
  waitFor(pattern: RegExp, limitMs: number, what: string, expect: string): Promise<{ at: number; match: RegExpExecArray }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`${this.label}: ${what} hung: no ${expect} within ${limitMs / 1000} s; last output:\n${this.tail()}`)),
        limitMs,
      );
      const finish = (error: Error | null, result?: { at: number; match: RegExpExecArray }): void => {
        clearTimeout(timer);
        this.waiter = null;
        if (error) reject(error);
        else resolve(result!);
      };
      this.waiter = (): void => {
        const match = pattern.exec(this.text);
        if (match) {
          const at = performance.now();
          // Later waits see only what came after this match.
          this.text = this.text.slice(match.index + match[0].length);
          return finish(null, { at, match });
        }
        // Keep the buffer bounded: a workload may print, the kernel may log.
        if (this.text.length > 65536) this.text = this.text.slice(-8192);
        if (this.exitCode !== undefined) finish(new Error(`${this.label} exited (${this.exitCode}) during ${what}${this.lastError()}; last output:\n${this.tail()}`));
      };
      this.waiter();
    });
  }

  tail(): string {
    return this.text.slice(-800);
  }

  write(line: string): void {
    this.child.stdin!.write(line);
  }
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

interface Emulator {
  label: string;
  command: string;
  args: (initrd: string) => string[];
}

const lguest: Emulator = {
  label: 'lguest',
  command: process.execPath,
  // No kernel arguments: lguest gives PC_KERNEL_ARGS, as QEMU is told below.
  args: (initrd) => [path.join(root, 'bin/lguest'), `--initrd=${initrd}`, MEM_MB, kernel],
};

const qemu = (cpu: string | null): Emulator => ({
  label: 'qemu-system-i386',
  command: 'qemu-system-i386',
  args: (initrd) => [
    '-accel', 'tcg', ...(cpu === null ? [] : ['-cpu', cpu]), '-m', MEM_MB, '-nographic', '-no-reboot',
    '-kernel', kernel, '-initrd', initrd, '-append', PC_KERNEL_ARGS,
  ],
});

/** One measurement: seconds, or why there is none; and the workload's output checksum. */
interface Sample {
  seconds?: number;
  error?: string;
  result?: string;
}

/**
 * Runs the wanted workloads in as few guests as it can: one boot (itself the
 * `boot` sample) then each workload typed at the prompt; a workload that
 * hangs or kills the guest is recorded and a fresh guest serves the rest.
 */
async function runAll(emu: Emulator, initrd: string, args: Args): Promise<Map<Workload, Sample>> {
  const samples = new Map<Workload, Sample>();
  const pending = args.only.filter((w) => w !== 'boot');
  const limitMs = args.timeoutSeconds * 1000;
  let first = true;
  while (first || pending.length > 0) {
    const child = spawn(emu.command, emu.args(initrd), { stdio: ['pipe', 'pipe', 'pipe'] });
    const con = new Console(child, emu.label);
    try {
      const start = performance.now();
      let booted: number;
      try {
        booted = (await con.waitFor(PROMPT, limitMs, 'boot', 'shell prompt')).at;
      } catch (e) {
        // Without a shell no workload can run: all that are left fail alike.
        const error = (e as Error).message;
        if (first && args.only.includes('boot')) samples.set('boot', { error });
        for (const w of pending.splice(0)) samples.set(w, { error });
        progress(error);
        break;
      }
      if (first && args.only.includes('boot')) {
        samples.set('boot', { seconds: (booted - start) / 1000 });
        progress(`${emu.label}: boot ${((booted - start) / 1000).toFixed(2)} s`);
      }
      first = false;
      while (pending.length > 0) {
        const w = pending.shift()!;
        try {
          const sample = await runOne(con, w, countFor(w, args), limitMs);
          samples.set(w, sample);
          progress(sample.error ?? `${emu.label}: ${w} ${sample.seconds!.toFixed(2)} s`);
        } catch (e) {
          const error = (e as Error).message;
          samples.set(w, { error });
          progress(error);
          break; // this guest is wedged or gone: boot a fresh one
        }
      }
      if (pending.length === 0) {
        // Nothing to save (no disks): a short grace, then the kill below.
        // QEMU without ACPI cannot power off at all.
        con.write('poweroff -f\n');
        await Promise.race([stopped(child), new Promise((r) => setTimeout(r, 2000))]);
      }
    } finally {
      child.kill('SIGKILL');
      await stopped(child);
    }
  }
  return samples;
}

/** Types `/bench/run <w> <count>` at the prompt and times its markers. */
async function runOne(con: Console, w: Workload, count: number, limitMs: number): Promise<Sample> {
  const what = `workload ${w}`;
  con.write(`/bench/run ${w} ${count}\n`);
  // Input generation (gzip, sort) comes before the start marker: give it time too.
  // Each marker up to its newline: a chunk may end inside a line.
  const t0 = (await con.waitFor(new RegExp(`^@@start ${w}\\r?\\n`, 'm'), limitMs, what, 'start marker')).at;
  const end = await con.waitFor(new RegExp(`^@@end ${w} (\\d+)\\r?\\n`, 'm'), limitMs, what, 'end marker');
  const result = await con.waitFor(new RegExp(`^@@result ${w} ([0-9a-f]{32})\\r?\\n`, 'm'), 60_000, what, 'result line');
  await con.waitFor(PROMPT, 60_000, what, 'prompt after it');
  if (end.match[1] !== '0') return { error: `${con.label}: ${what} exited with status ${end.match[1]}` };
  return { seconds: (end.at - t0) / 1000, result: result.match[1] };
}

function progress(line: string): void {
  process.stderr.write(`bench-user: ${line}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The median seconds over the runs that produced one (a run that failed, say
 * while the CPU core was mid-change, leaves the others standing), and the
 * table cell: the median, marked when some runs failed; "hung" or "failed"
 * when all did (the details go below the table).
 */
function summarize(samples: Sample[]): { seconds?: number; cell: string } {
  const ok = samples.filter((s) => s.seconds !== undefined).map((s) => s.seconds!);
  if (ok.length === 0) return { cell: samples.some((s) => s.error?.includes(' hung:')) ? 'hung' : 'failed' };
  const seconds = median(ok);
  return { seconds, cell: seconds.toFixed(2) + (ok.length < samples.length ? ` (${ok.length} of ${samples.length} runs)` : '') };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const image = spawnSync(path.join(root, 'scripts/bench-user-image.sh'), args.qemu ? ['--qemu'] : [], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (image.status !== 0) throw new Error('bench-user: scripts/bench-user-image.sh failed');
  const initrd = image.stdout.toString().trim().split('\n').pop()!;
  for (const f of [kernel, initrd]) {
    if (!fs.existsSync(f)) throw new Error(`bench-user: ${f} is missing`);
  }

  // Other work on the host skews wall times: show how busy it was.
  const loadBefore = os.loadavg()[0];
  const emulators = [...(args.lguest ? [lguest] : []), ...(args.qemu ? [qemu(args.qemuCpu)] : [])];
  const both = emulators.length === 2;
  // samples[emulator][workload] = one Sample per run
  const samples = emulators.map(() => new Map<Workload, Sample[]>(args.only.map((w) => [w, []])));
  for (let run = 1; run <= args.runs; run++) {
    for (let e = 0; e < emulators.length; e++) {
      progress(`run ${run}/${args.runs}: ${emulators[e].label}`);
      const got = await runAll(emulators[e], initrd, args);
      for (const [w, s] of got) {
        // The run goes with the error so the notes say which run failed.
        samples[e].get(w)!.push(s.error === undefined ? s : { ...s, error: `run ${run}: ${s.error}` });
      }
    }
  }

  const notes: string[] = [];
  const header = ['workload', ...emulators.map((e) => `${e.label} s`)];
  if (both) header.push('lguest/QEMU');
  const rows: string[][] = [];
  const ratios: number[] = [];
  for (const w of args.only) {
    const sums = samples.map((m) => summarize(m.get(w)!));
    const row = [DESCRIPTION[w](args)];
    row.push(...sums.map((s) => s.cell));
    for (const m of samples) {
      for (const s of m.get(w)!) if (s.error !== undefined) notes.push(s.error.split('; last output')[0]);
    }
    if (both) {
      const [ours, peer] = sums;
      if (ours.seconds !== undefined && peer.seconds !== undefined) {
        const ratio = ours.seconds / peer.seconds;
        ratios.push(ratio);
        // Both emulators run the same program on the same input: different
        // output means one of them computed it wrong, and its time means little.
        const results = samples.map((m) => new Set(m.get(w)!.filter((s) => s.error === undefined).map((s) => s.result)));
        const differ = w !== 'boot' && (results[0].size !== 1 || results[1].size !== 1 || [...results[0]][0] !== [...results[1]][0]);
        if (differ) notes.push(`${w}: the output differs between lguest and QEMU (md5 ${[...results[0]].join('/')} vs ${[...results[1]].join('/')})`);
        row.push(ratio.toFixed(2) + (differ ? ' (wrong output)' : ''));
      } else row.push('–');
    }
    rows.push(row);
  }
  if (both && ratios.length > 0) {
    const geo = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    rows.push(['**geometric mean**', ...emulators.map(() => ''), `**${geo.toFixed(2)}**`]);
  }

  const runs = args.runs > 1 ? `, median of ${args.runs} runs` : '';
  console.log(`Host wall seconds${runs}; kernel ${path.relative(root, kernel)}, ${MEM_MB} MB, "${PC_KERNEL_ARGS}"` +
    (args.qemu ? `; QEMU: -accel tcg${args.qemuCpu ? ` -cpu ${args.qemuCpu}` : ''}` : '') +
    `; host load average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end, ${os.cpus().length} CPUs\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  // A guest that fails to boot fails every workload after it: one note each.
  const unique = [...new Set(notes)];
  if (unique.length > 0) console.log(`\n${unique.map((n) => `- ${n}`).join('\n')}`);
  if (unique.some((n) => !n.includes('output differs'))) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
