import { UserError } from './user-error';

/**
 * The command line, compatible with the original launcher's:
 *
 *   lguest [--verbose] [--sharenet=<file>|--tunnet=(<ipaddr>|bridge:<bridge>)
 *          |--block=<file>|--initrd=<file>]... <mem> <kernel> [kernel args...]
 *
 * parsed the way its getopt_long() did: options may come anywhere (the
 * original's own documentation put them after the kernel), take their value
 * as `--opt=value` or `--opt value`, may be abbreviated to any unique prefix,
 * and `--` ends them. Devices keep command-line order, because that is the
 * order the guest finds them in: the first --block is vda, the second vdb.
 */

export type DeviceSpec =
  | { kind: 'block'; path: string; readOnly?: boolean }
  | { kind: 'sharenet'; path: string }
  | { kind: 'tunnet'; ip: string }
  | { kind: 'tunnet'; bridge: string }
  | { kind: 'rng' };

export interface LaunchOptions {
  verbose: boolean;
  /** Load a bzImage's kernel ourselves (true) or boot its own decompressor (--no-direct). */
  direct: boolean;
  memBytes: number;
  kernelPath: string;
  initrdPath?: string;
  /** The kernel arguments, joined by spaces. */
  cmdline: string;
  devices: DeviceSpec[];
  /** The most an idle guest's one-shot timers may fire late, in ms (src/guest/timer-slack.ts). */
  timerSlackMs: number;
  /** A guest that reboots starts again in a fresh launcher, instead of ending it with status 0. */
  restartOnReboot: boolean;
}

/**
 * An idle guest's timers come at most 1/64 of its idle time late, and at
 * most this (src/guest/timer-slack.ts): so a guest idle for long wakes the
 * host about five times a second rather than 250.
 */
export const DEFAULT_TIMER_SLACK_MS = 200;
/** Beyond this, a sleeping guest would notice (its watchdogs, its console). */
const MAX_TIMER_SLACK_MS = 1000;

export type ParsedArgs = { action: 'help' } | { action: 'version' } | { action: 'run'; options: LaunchOptions };

export const USAGE = `Usage: lguest [options]... <mem> <kernel> [kernel args...]

Boots an i386 Linux kernel (vmlinux, bzImage, Xeno or multiboot image) with
<mem> of RAM: in MB (64), or with a k, m or g suffix (256m, 1g).
Options (repeatable; devices appear to the guest in command-line order):
  --block=<file>[,ro]     a file or block device as a virtio disk (vda, vdb...);
                          read-only with ,ro or when it cannot be written
  --tunnet=<ipaddr>       a tap device on the host with that address
  --tunnet=bridge:<br>    a tap device attached to an existing bridge
  --sharenet=<file>       a network shared by every guest naming that file
  --rng                   a virtio entropy source
  --initrd=<file>         an initial ram disk, loaded at the top of RAM
  --no-direct             boot a bzImage through its own decompressor
  --restart-on-reboot     boot the guest again when it reboots (without it,
                          a reboot ends lguest with status 0)
  --timer-slack=<ms>      the most an idle guest's timers may fire late; they
                          are never later than 1/64 of the time it has been
                          idle (default ${DEFAULT_TIMER_SLACK_MS}; 0: every timer on time)
  --verbose, -v           say what is loaded where and each device added
  --help, -h              this text
  --version               the version
Options may also follow the kernel; use -- before kernel arguments that
start with '-'. Three ^C in a row, within a second, end the guest.`;

const MB = 1024 * 1024;
const PAGE = 4096;

interface OptionSpec {
  name: string;
  /** What the value names, for "needs a ..." errors; undefined for flags. */
  value?: string;
}

const OPTIONS: OptionSpec[] = [
  { name: 'verbose' },
  { name: 'sharenet', value: 'file name' },
  { name: 'tunnet', value: 'IPv4 address or bridge:<name>' },
  { name: 'block', value: 'file name' },
  { name: 'initrd', value: 'file name' },
  { name: 'no-direct' },
  { name: 'restart-on-reboot' },
  { name: 'timer-slack', value: 'number of milliseconds' },
  { name: 'rng' },
  { name: 'help' },
  { name: 'version' },
];

const SHORT: Record<string, string> = { '-v': 'verbose', '-h': 'help' };

const SEE_HELP = '(see lguest --help)';

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const devices: DeviceSpec[] = [];
  const positional: string[] = [];
  let verbose = false;
  let direct = true;
  let initrdPath: string | undefined;
  let timerSlackMs = DEFAULT_TIMER_SLACK_MS;
  let restartOnReboot = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = lookup(eq < 0 ? arg.slice(2) : arg.slice(2, eq));
      value = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (SHORT[arg]) {
      name = SHORT[arg];
    } else {
      throw new UserError(`unknown option ${arg} ${SEE_HELP}`);
    }
    const spec = OPTIONS.find((o) => o.name === name)!;
    if (spec.value === undefined) {
      if (value !== undefined) throw new UserError(`option --${name} takes no value ${SEE_HELP}`);
    } else {
      if (value === undefined && i + 1 < argv.length) value = argv[++i];
      if (!value) throw new UserError(`option --${name} needs a ${spec.value} ${SEE_HELP}`);
    }

    switch (name) {
      case 'help':
        return { action: 'help' };
      case 'version':
        return { action: 'version' };
      case 'verbose':
        verbose = true;
        break;
      case 'no-direct':
        direct = false;
        break;
      case 'rng':
        devices.push({ kind: 'rng' });
        break;
      case 'block':
        devices.push(parseBlock(value!));
        break;
      case 'sharenet':
        devices.push({ kind: 'sharenet', path: value! });
        break;
      case 'tunnet':
        devices.push(parseTunnet(value!));
        break;
      case 'restart-on-reboot':
        restartOnReboot = true;
        break;
      case 'timer-slack':
        timerSlackMs = parseTimerSlack(value!);
        break;
      case 'initrd':
        if (initrdPath !== undefined) throw new UserError(`only one --initrd may be given (${initrdPath}, ${value})`);
        initrdPath = value;
        break;
    }
  }

  if (positional.length < 2) {
    const missing = positional.length === 0 ? '<mem> and <kernel>' : '<kernel>';
    throw new UserError(`missing ${missing}: usage: lguest [options] <mem> <kernel> [kernel args...] ${SEE_HELP}`);
  }
  checkTapAddresses(devices);
  const [mem, kernelPath, ...kernelArgs] = positional;
  return {
    action: 'run',
    options: {
      verbose,
      direct,
      memBytes: parseMemSize(mem),
      kernelPath,
      initrdPath,
      cmdline: kernelArgs.join(' '),
      devices,
      timerSlackMs,
      restartOnReboot,
    },
  };
}

function parseTimerSlack(text: string): number {
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(ms <= MAX_TIMER_SLACK_MS)) {
    throw new UserError(`--timer-slack=${text}: not a number of milliseconds from 0 to ${MAX_TIMER_SLACK_MS}`);
  }
  return ms;
}

/** A long option by its name or a unique prefix of it, as getopt_long() allows. */
function lookup(given: string): string {
  const exact = OPTIONS.find((o) => o.name === given);
  if (exact) return exact.name;
  const matches = given ? OPTIONS.filter((o) => o.name.startsWith(given)) : [];
  if (matches.length === 1) return matches[0].name;
  if (matches.length > 1) {
    throw new UserError(`option --${given} is ambiguous (${matches.map((o) => '--' + o.name).join(', ')})`);
  }
  throw new UserError(`unknown option --${given} ${SEE_HELP}`);
}

/** <mem>: MB as the original took it (`64`), or with a k, m or g suffix. */
export function parseMemSize(text: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(text);
  if (!m) throw new UserError(`bad memory size '${text}': give MB (64) or a size with a k, m or g suffix (256m)`);
  const unit = { '': MB, k: 1024, m: MB, g: 1024 * MB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = Number(m[1]) * unit;
  if (bytes === 0) throw new UserError(`memory size '${text}' is zero`);
  if (bytes % PAGE !== 0) throw new UserError(`memory size '${text}' is not a multiple of the 4k page`);
  return bytes;
}

/** --block=<file>, or <file>,ro for a disk the guest may only read. */
function parseBlock(value: string): DeviceSpec {
  const RO = ',ro';
  if (value.endsWith(RO) && value.length > RO.length) return { kind: 'block', path: value.slice(0, -RO.length), readOnly: true };
  return { kind: 'block', path: value };
}

/** Two taps with one host address would fight over the route to it. */
function checkTapAddresses(devices: readonly DeviceSpec[]): void {
  const seen = new Set<string>();
  for (const d of devices) {
    if (d.kind !== 'tunnet' || !('ip' in d)) continue;
    const ip = d.ip.split('.').map(Number).join('.');
    if (seen.has(ip)) throw new UserError(`--tunnet=${d.ip} is given twice: each tap needs its own host address`);
    seen.add(ip);
  }
}

function parseTunnet(value: string): DeviceSpec {
  const BRIDGE = 'bridge:';
  if (value.startsWith(BRIDGE)) {
    const bridge = value.slice(BRIDGE.length);
    if (!bridge) throw new UserError('--tunnet=bridge: must name a bridge');
    if (bridge.length > 15 || /[\s/:]/.test(bridge)) throw new UserError(`--tunnet: '${bridge}' is not a valid bridge name`);
    return { kind: 'tunnet', bridge };
  }
  const parts = value.split('.');
  const ok = parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
  if (!ok) throw new UserError(`--tunnet=${value}: not an IPv4 address or bridge:<name>`);
  return { kind: 'tunnet', ip: value };
}
