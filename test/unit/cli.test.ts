import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, parseMemSize, LaunchOptions, USAGE } from '../../src/launcher/cli';
import { UserError } from '../../src/launcher/user-error';

const LGUEST = path.join(__dirname, '..', '..', '..', 'bin', 'lguest');
const MB = 1024 * 1024;

function run(argv: string[]): LaunchOptions {
  const p = parseArgs(argv);
  assert.equal(p.action, 'run');
  return (p as { options: LaunchOptions }).options;
}

function userError(argv: string[], message: RegExp): void {
  assert.throws(() => parseArgs(argv), (e: Error) => e instanceof UserError && message.test(e.message));
}

describe('command line', () => {
  describe('parsing', () => {
    it('takes <mem> <kernel> and joins the rest into the kernel command line', () => {
      const o = run(['64', 'vmlinux', 'root=/dev/vda', 'console=ttyS0']);
      assert.equal(o.memBytes, 64 * MB);
      assert.equal(o.kernelPath, 'vmlinux');
      assert.equal(o.cmdline, 'root=/dev/vda console=ttyS0');
      assert.deepEqual(o.devices, []);
      assert.equal(o.verbose, false);
      assert.equal(o.direct, true);
      assert.equal(o.initrdPath, undefined);
      assert.equal(run(['64', 'vmlinux']).cmdline, '');
    });

    it('takes --block=<file>,ro as a read-only disk', () => {
      assert.deepEqual(run(['--block=a.img,ro', '--block=b.img', '64', 'k']).devices, [
        { kind: 'block', path: 'a.img', readOnly: true },
        { kind: 'block', path: 'b.img' },
      ]);
    });

    it('keeps devices in command-line order, wherever the options are', () => {
      // The original documentation's own example puts options after the kernel.
      const o = run(['--block=a.img', '64m', '--tunnet=192.168.19.1', 'vmlinux', '--block', 'b.img', '--sharenet=net', 'root=/dev/vda', '--rng', '--tunnet=bridge:br0']);
      assert.deepEqual(o.devices, [
        { kind: 'block', path: 'a.img' },
        { kind: 'tunnet', ip: '192.168.19.1' },
        { kind: 'block', path: 'b.img' },
        { kind: 'sharenet', path: 'net' },
        { kind: 'rng' },
        { kind: 'tunnet', bridge: 'br0' },
      ]);
      assert.equal(o.cmdline, 'root=/dev/vda');
    });

    it('understands --verbose/-v, --no-direct, --initrd, unique prefixes and --', () => {
      const o = run(['-v', '--no-d', '--init', 'initrd.img', '1g', 'bzImage', '--', '-s', '--block=x']);
      assert.equal(o.verbose, true);
      assert.equal(o.direct, false);
      assert.equal(o.initrdPath, 'initrd.img');
      assert.equal(o.cmdline, '-s --block=x');
      assert.deepEqual(o.devices, []);
      assert.equal(run(['--verb', '64', 'k']).verbose, true);
    });

    it('takes --restart-on-reboot, off when not given', () => {
      assert.equal(run(['64', 'k']).restartOnReboot, false);
      assert.equal(run(['--restart-on-reboot', '64', 'k']).restartOnReboot, true);
      assert.equal(run(['--rest', '64', 'k']).restartOnReboot, true);
    });

    it('takes --timer-slack in milliseconds, 200 when not given', () => {
      assert.equal(run(['64', 'k']).timerSlackMs, 200);
      assert.equal(run(['--timer-slack=0', '64', 'k']).timerSlackMs, 0);
      assert.equal(run(['--timer-s', '2.5', '64', 'k']).timerSlackMs, 2.5);
      assert.equal(run(['--timer-slack=1000', '64', 'k']).timerSlackMs, 1000);
    });

    it('answers --help and --version before anything else', () => {
      assert.deepEqual(parseArgs(['--help', '--bogus']), { action: 'help' });
      assert.deepEqual(parseArgs(['-h']), { action: 'help' });
      assert.deepEqual(parseArgs(['--version']), { action: 'version' });
    });

    it('reads <mem> in MB, or with k, m or g', () => {
      assert.equal(parseMemSize('64'), 64 * MB);
      assert.equal(parseMemSize('256m'), 256 * MB);
      assert.equal(parseMemSize('256M'), 256 * MB);
      assert.equal(parseMemSize('1g'), 1024 * MB);
      assert.equal(parseMemSize('8192k'), 8 * MB);
    });

    it('refuses bad options and arguments with a reason', () => {
      userError([], /^missing <mem> and <kernel>: usage: lguest/);
      userError(['64'], /^missing <kernel>/);
      userError(['--bogus', '64', 'k'], /^unknown option --bogus \(see lguest --help\)$/);
      userError(['-x', '64', 'k'], /^unknown option -x /);
      userError(['--ver', '64', 'k'], /^option --ver is ambiguous \(--verbose, --version\)$/);
      userError(['64', 'k', '--block'], /^option --block needs a file name/);
      userError(['--block=', '64', 'k'], /^option --block needs a file name/);
      userError(['--verbose=yes', '64', 'k'], /^option --verbose takes no value/);
      userError(['--rng=1', '64', 'k'], /^option --rng takes no value/);
      userError(['--initrd=a', '--initrd=b', '64', 'k'], /^only one --initrd may be given \(a, b\)$/);
      userError(['--tunnet=1.2.3', '64', 'k'], /^--tunnet=1.2.3: not an IPv4 address or bridge:<name>$/);
      userError(['--tunnet=1.2.3.256', '64', 'k'], /not an IPv4 address/);
      userError(['--tunnet=bridge:', '64', 'k'], /^--tunnet=bridge: must name a bridge$/);
      userError(['--tunnet=10.0.0.1', '--tunnet=010.0.0.001', '64', 'k'], /^--tunnet=010.0.0.001 is given twice: each tap needs its own host address$/);
      userError(['--tunnet=bridge:a/b', '64', 'k'], /'a\/b' is not a valid bridge name/);
      userError(['--timer-slack=-1', '64', 'k'], /^--timer-slack=-1: not a number of milliseconds from 0 to 1000$/);
      userError(['--timer-slack=1001', '64', 'k'], /^--timer-slack=1001: not a number/);
      userError(['--timer-slack=5ms', '64', 'k'], /^--timer-slack=5ms: not a number/);
      userError(['abc', 'k'], /^bad memory size 'abc'/);
      userError(['64x', 'k'], /^bad memory size '64x'/);
      userError(['-1', 'k'], /^unknown option -1/);
      userError(['0', 'k'], /^memory size '0' is zero$/);
      userError(['5k', 'k'], /^memory size '5k' is not a multiple of the 4k page$/);
    });
  });

  describe('bin/lguest', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-cli-'));
    const notAKernel = path.join(dir, 'not-a-kernel');
    fs.writeFileSync(notAKernel, Buffer.alloc(8192, 0x90));
    const secret = path.join(dir, 'not-yours');
    fs.writeFileSync(secret, 'x');
    fs.chmodSync(secret, 0o600);
    fs.chmodSync(dir, 0o755);

    function lguest(args: string[], prefix: string[] = []): { status: number | null; stdout: string; stderr: string } {
      const cmd = [...prefix, process.execPath, LGUEST, ...args];
      const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', input: '', timeout: 60_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    /** Exit status 1 and exactly one line, "lguest: <reason>", with no stack trace. */
    function fails(args: string[], reason: RegExp, prefix: string[] = []): void {
      const r = lguest(args, prefix);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^lguest: [^\n]+\n$/, r.stderr);
      assert.match(r.stderr.slice('lguest: '.length).trimEnd(), reason);
    }

    it('prints the usage for --help and the version for --version', () => {
      const help = lguest(['--help']);
      assert.equal(help.status, 0);
      assert.equal(help.stdout, USAGE + '\n');
      const version = lguest(['--version']);
      assert.equal(version.status, 0);
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
      assert.equal(version.stdout, `lguest ${pkg.version}\n`);
    });

    it('says what is wrong with the arguments in one line', () => {
      fails([], /^missing <mem> and <kernel>/);
      fails(['64'], /^missing <kernel>/);
      fails(['--bogus', '64', notAKernel], /^unknown option --bogus/);
      fails(['--block', '64', notAKernel], /^missing <kernel>/);
      fails(['--block='], /^option --block needs a file name/);
      fails(['lots', notAKernel], /^bad memory size 'lots'/);
      fails(['0', notAKernel], /zero/);
      fails(['--tunnet=300.1.1.1', '64', notAKernel], /not an IPv4 address/);
    });

    it('names a kernel, initrd or block file that cannot be used', () => {
      const missing = path.join(dir, 'missing');
      fails(['64', missing], new RegExp(`^cannot open kernel '${missing}': no such file or directory \\(ENOENT\\)$`));
      fails(['64', dir], new RegExp(`^kernel '${dir}' is a directory$`));
      fails([`--initrd=${missing}`, '64', notAKernel], new RegExp(`^cannot open initrd '${missing}': no such file or directory`));
      fails([`--block=${missing}`, '64', notAKernel], new RegExp(`^cannot open block file '${missing}': no such file or directory`));
      fails([`--block=${dir}`, '64', notAKernel], new RegExp(`^block file '${dir}' is a directory$`));
    });

    it('refuses one disk given twice, by any name', () => {
      const img = path.join(dir, 'twice.img');
      fs.writeFileSync(img, Buffer.alloc(4096));
      fails([`--block=${img}`, `--block=${img}`, '64', notAKernel], new RegExp(`^block file '${img}' is given twice: one disk, one --block$`));
      const link = path.join(dir, 'twice-link.img');
      fs.symlinkSync(img, link);
      fails([`--block=${img}`, `--block=${link},ro`, '64', notAKernel], new RegExp(`^block file '${link}' is given twice \\(also as '${img}'\\)`));
    });

    it('names a kernel the user may not read', function () {
      // Root gives the file to nobody and runs lguest without its power to
      // override file permissions. (Running lguest as nobody instead would
      // need the checkout to be readable by nobody, which a clone in a
      // mktemp -d directory is not.)
      if (process.getuid!() !== 0) this.skip();
      fs.chownSync(secret, 65534, 65534);
      const noOverride = '-dac_override,-dac_read_search';
      fails(['64', secret], new RegExp(`^cannot open kernel '${secret}': permission denied \\(EACCES\\)$`), ['setpriv', '--bounding-set', noOverride, '--inh-caps', noOverride]);
    });

    it('refuses more memory than an i386 guest can have, or than the host will map', () => {
      fails(['4g', notAKernel], /^guest memory 4096 MiB is more than an i386 guest can have \(at most 3072 MiB\)$/);
      fails(['3g', notAKernel], /^cannot map 3072 MiB of guest memory: the host refused \(ENOMEM\)$/, ['prlimit', `--as=${2 * 1024 ** 3}`]);
    });

    it('passes loader errors through as one line, after the verbose memory report', () => {
      const r = lguest(['--verbose', '64', notAKernel]);
      assert.equal(r.status, 1);
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0], /^Guest memory: 64 MiB at launcher address 0x[0-9a-f]+$/);
      assert.match(lines[lines.length - 1], new RegExp(`^lguest: .*${notAKernel}`));
      assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
    });
  });
});
