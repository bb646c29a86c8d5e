import * as fs from 'node:fs';
import * as path from 'node:path';
import { GuestError } from '../guest/guest-error';
import { Machine } from '../guest/machine';
import { PC_KERNEL_ARGS } from '../guest/platform/pc';
import { LaunchOptions, parseArgs, USAGE } from './cli';
import { checkUserFile } from './files';
import { GuestRam } from './guest-ram';
import { createDevices } from './devices';
import { ConsoleBackend } from './devices/console';
import { ShareNetBackend } from './devices/sharenet';
import { HostNetBackend, TapNet } from './devices/tap';
import { loadGuest } from './loaders';
import { execv } from './native';
import { Guest, startGuest } from './run-loop';
import { ConsoleInput } from './terminal';
import { UserError } from './user-error';

/**
 * The launcher, from the command line to the guest: the path the original's
 * main() took. Parse the arguments; map guest memory; load the kernel and
 * initrd into it; set up the devices; then hand the guest to the run loop
 * (run-loop.ts: startGuest), which makes the terminal raw, starts the waker
 * and runs the guest until it powers off, dies, or the user leaves.
 *
 * Returns the exit status. User mistakes (UserError) and guest deaths
 * (GuestError) are one line on stderr and status 1; anything else is a bug in
 * the launcher and keeps its stack trace.
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseArgs(argv);
    if (parsed.action === 'help') {
      fs.writeSync(1, USAGE + '\n');
      return 0;
    }
    if (parsed.action === 'version') {
      fs.writeSync(1, `lguest ${version()}\n`);
      return 0;
    }
    const status = await launch(parsed.options);
    if (status === 'restart') restart();
    return status;
  } catch (e) {
    if (e instanceof UserError || e instanceof GuestError) {
      fs.writeSync(2, `lguest: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/**
 * Runs the guest the options describe; 'restart' when it rebooted and the
 * user asked for a fresh start, once everything (terminal, waker, devices)
 * has been put back.
 */
async function launch(options: LaunchOptions): Promise<number | 'restart'> {
  const verbose = options.verbose ? (msg: string) => fs.writeSync(2, msg + '\n') : () => undefined;
  // Trouble the guest survives (raw mode keeps output processing: \n is enough).
  const warn = (msg: string): void => void fs.writeSync(2, `lguest: ${msg}\n`);

  // Every file the user named is checked before anything else happens, so a
  // typo costs a one-line message, not a half-started guest.
  checkUserFile(options.kernelPath, 'kernel');
  if (options.initrdPath !== undefined) checkUserFile(options.initrdPath, 'initrd');
  // Block files are only read here: one that cannot be written (mode 444,
  // someone else's, a read-only mount) becomes a read-only disk later.
  const disks = new Map<string, string>();
  for (const d of options.devices) {
    if (d.kind !== 'block') continue;
    const id = checkUserFile(d.path, 'block file', { blockDevice: true });
    const first = disks.get(id);
    if (first !== undefined) {
      throw new UserError(`block file '${d.path}' is given twice${first !== d.path ? ` (also as '${first}')` : ''}: one disk, one --block`);
    }
    disks.set(id, d.path);
  }

  const ram = GuestRam.create(options.memBytes);
  ram.onOwnCopy = (file) => verbose(`${file} is being changed: the guest keeps its own copy of the pages it maps`);
  verbose(`Guest memory: ${options.memBytes / (1024 * 1024)} MiB at launcher address 0x${ram.base.toString(16)}`);

  // The platform's defaults come first so that the user's arguments, later
  // on the line, win: Linux takes the last value of a repeated option.
  const cmdline = [PC_KERNEL_ARGS, options.cmdline].filter(Boolean).join(' ');
  const boot = loadGuest(ram, {
    kernelPath: options.kernelPath,
    initrdPath: options.initrdPath,
    cmdline,
    direct: options.direct,
    verbose,
  });

  const console = new ConsoleBackend(0, 1);
  const machine = new Machine(ram.memory, boot, { serial: console, timerSlackMs: options.timerSlackMs, log: verbose });
  const nets: HostNetBackend[] = [];
  let devices: ReturnType<typeof createDevices>;
  try {
    devices = createDevices(options.devices, {
      memory: ram.memory,
      addPciDevice: (spec) => machine.platform.addPciDevice(spec),
      console,
      openNet: (req, mac) => {
        const backend = req.kind === 'sharenet' ? ShareNetBackend.open(req.path, mac, warn) : TapNet.open(req);
        nets.push(backend);
        return backend;
      },
    });
  } catch (e) {
    // A later device failed: give back the network slots and taps already
    // taken, or the slots would stay marked live for others to feed.
    nets.forEach((n) => n.close());
    throw e;
  }
  try {
    devices.functions.forEach((fn, slot) => verbose(`Device ${slot}: ${fn.device.name}`));
    const hvc = consoleIsHvc(cmdline);
    const input = new ConsoleInput(
      console,
      (bytes) => (hvc ? devices.console.receive(bytes) : machine.platform.uart.receive(bytes)),
      verbose,
    );
    const netInputs = nets.map((backend, i) => ({
      fd: backend.fd,
      readable: () => {
        // Queue what the host has first, then offer it to the guest: in the
        // other order a frame that arrived in between would wait for the next
        // wake-up, which may never come.
        backend.onReadable();
        devices.nets[i].receive();
        return 'rearm' as const;
      },
    }));
    const status = await startGuest(guardedByFiles(machine, ram), [input, ...netInputs]);
    const regions = machine.cpu.regions;
    verbose(`CPU: ${machine.cpu.instructionCount} instructions; ${regions.compiled} regions compiled to ${Math.round(regions.bytes / 1024)} KiB of wasm in ${Math.round(regions.compileMs)} ms`);
    if (machine.rebooted && options.restartOnReboot) {
      verbose('Guest rebooted: restarting');
      return 'restart';
    }
    return status;
  } finally {
    devices.close();
    nets.forEach((n) => n.close());
  }
}

/**
 * The machine, with the files mapped into its memory (the kernel's
 * segments) watched after every slice: a process about to rewrite or
 * truncate one (a lease break) makes the guest keep its own copy of the
 * pages; a file that shrank anyway (no lease to be had) ends the guest with
 * a GuestError, so it runs at most one slice on the zero pages the SIGBUS
 * handler put there.
 */
function guardedByFiles(machine: Machine, ram: GuestRam): Guest {
  return {
    get exitCode() {
      return machine.exitCode;
    },
    run() {
      try {
        return machine.run();
      } finally {
        // Also after a slice a rep instruction cut short (STRING_YIELD).
        ram.keepOwnCopies();
        const lost = ram.busFault();
        // The guest's death outranks a yield.
        if (lost) throw new GuestError(`guest stopped: ${lost}`);
      }
    },
    msUntilDeadline: () => machine.msUntilDeadline(),
  };
}

/**
 * Start again from scratch, as the original launcher did when its guest
 * rebooted: the same command in place of this process, so the guest gets
 * fresh memory and devices, and the user keeps the same pid and terminal.
 */
function restart(): never {
  try {
    return execv(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)]);
  } catch (e) {
    throw new UserError(`cannot restart the guest: ${(e as Error).message}`);
  }
}

/** Console input goes where the kernel's console is: the last console= wins, as in Linux. */
function consoleIsHvc(cmdline: string): boolean {
  const consoles = cmdline.split(/\s+/).filter((a) => a.startsWith('console='));
  return consoles.length > 0 && consoles[consoles.length - 1].startsWith('console=hvc');
}

function version(): string {
  const pkg = path.join(__dirname, '..', '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
}
