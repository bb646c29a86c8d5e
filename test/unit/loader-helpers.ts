import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BootState } from '../../src/guest/boot-state';
import { GuestMemory } from '../../src/guest/memory';
import { loadGuest, LoadTarget } from '../../src/launcher/loaders';

/**
 * What the loader tests share: real tools to build real images (nasm, ld,
 * the Debian compressors), a builder for bzImage setup headers, and a way to
 * load an image into a plain ArrayBuffer guest and see what was logged.
 */

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'loaders');
export const MiB = 1 << 20;

/** Debian packages providing the commands the tests run. */
const TOOLS: Record<string, string> = {
  nasm: 'nasm',
  ld: 'binutils',
  gzip: 'gzip',
  xz: 'xz-utils',
  lzma: 'xz-utils',
  zstd: 'zstd',
  lz4: 'lz4',
  bzip2: 'bzip2',
  cpio: 'cpio',
};

/** apt-get install whatever of TOOLS is missing (the tests run as root, as CI does). */
export function ensureTools(): void {
  const missing = Object.keys(TOOLS).filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => TOOLS[t]))];
  execFileSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-loader-'));
}

/** Assemble test/fixtures/loaders/<name>.asm; returns the output path. */
export function nasm(dir: string, name: string, format: 'elf32' | 'bin'): string {
  const out = path.join(dir, `${name}.${format === 'bin' ? 'bin' : 'o'}`);
  execFileSync('nasm', ['-f', format, '-o', out, path.join(FIXTURES, `${name}.asm`)]);
  return out;
}

/** Link an i386 ELF executable with a fixture linker script. */
export function link(dir: string, obj: string, script: string, out: string, extra: string[] = []): string {
  const dest = path.join(dir, out);
  execFileSync('ld', [
    '-m', 'elf_i386', '-T', path.join(FIXTURES, script), '-z', 'max-page-size=0x1000', '-z', 'noexecstack', ...extra, '-o', dest, obj,
  ]);
  return dest;
}

/** Run a compressor as the kernel build does: data on stdin, stream on stdout. */
export function compress(tool: string, args: string[], data: Buffer): Buffer {
  return execFileSync(tool, args, { input: data, maxBuffer: 256 * MiB });
}

/**
 * The kernel's compressions as arch/x86/boot/compressed builds them; all but
 * gzip (whose trailer already holds it) get the decompressed size appended.
 */
export const KERNEL_COMPRESSIONS: { name: string; tool: string; args: string[]; sizeAppended: boolean }[] = [
  { name: 'gzip', tool: 'gzip', args: ['-n', '-9'], sizeAppended: false },
  { name: 'xz', tool: 'xz', args: ['--check=crc32', '--x86', '--lzma2=dict=1MiB'], sizeAppended: true },
  { name: 'lzma', tool: 'lzma', args: ['-9'], sizeAppended: true },
  { name: 'zstd', tool: 'zstd', args: ['-22', '--ultra', '-q'], sizeAppended: true },
  { name: 'lz4', tool: 'lz4', args: ['-l', '-9', '-q'], sizeAppended: true },
  { name: 'bzip2', tool: 'bzip2', args: ['-9'], sizeAppended: true },
];

export function kernelCompress(c: (typeof KERNEL_COMPRESSIONS)[number], data: Buffer): Buffer {
  const z = compress(c.tool, c.args, data);
  if (!c.sizeAppended) return z;
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  return Buffer.concat([z, size]);
}

export interface BzImageSpec {
  version: number;
  setupSects?: number;
  loadflags?: number;
  /** Bytes of the protected-mode part: a stand-in decompressor, then the payload. */
  stub?: Buffer;
  payload?: Buffer;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  prefAddress?: number;
  initSize?: number;
}

/**
 * A bzImage as the kernel's build lays it out: boot sector and setup
 * sectors with the header at 0x1f1, then the protected-mode code, which
 * holds the compressed kernel at payload_offset.
 */
export function makeBzImage(s: BzImageSpec): Buffer {
  const sects = s.setupSects ?? 4;
  const setup = Buffer.alloc((sects + 1) * 512);
  setup[0x1f1] = sects;
  setup.writeUInt16LE(0xaa55, 0x1fe);
  // The jump over the header: its offset byte says where the header ends.
  const headerEnd = s.version >= 0x020f ? 0x26c : s.version >= 0x0208 ? 0x250 : 0x230;
  setup[0x200] = 0xeb;
  setup[0x201] = headerEnd - 0x202;
  setup.write('HdrS', 0x202, 'latin1');
  setup.writeUInt16LE(s.version, 0x206);
  setup[0x211] = s.loadflags ?? 0x01;
  setup.writeUInt32LE(0x100000, 0x214);
  if (s.version >= 0x0203) setup.writeUInt32LE(s.initrdAddrMax ?? 0x7fffffff, 0x22c);
  if (s.version >= 0x0206) setup.writeUInt32LE(s.cmdlineSize ?? 2047, 0x238);
  const stub = s.stub ?? Buffer.from('stand-in for the decompressor\0', 'latin1');
  const payload = s.payload ?? Buffer.alloc(0);
  if (s.version >= 0x0208) {
    setup.writeUInt32LE(stub.length, 0x248);
    setup.writeUInt32LE(payload.length, 0x24c);
  }
  if (s.version >= 0x020a) {
    setup.writeBigUInt64LE(BigInt(s.prefAddress ?? 0x1000000), 0x258);
    setup.writeUInt32LE(s.initSize ?? 0, 0x260);
  }
  return Buffer.concat([setup, stub, payload]);
}

export function write(dir: string, name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

export interface Loaded {
  memory: GuestMemory;
  boot: BootState;
  log: string[];
}

export interface LoadArgs {
  mem?: number;
  initrd?: string;
  cmdline?: string;
  direct?: boolean;
  target?: (memory: GuestMemory) => LoadTarget;
}

/** Load `kernel` into a fresh ArrayBuffer guest (64 MiB unless told). */
export function load(kernel: string, a: LoadArgs = {}): Loaded {
  const memory = GuestMemory.create(a.mem ?? 64 * MiB);
  const log: string[] = [];
  const boot = loadGuest(a.target ? a.target(memory) : { memory }, {
    kernelPath: kernel,
    initrdPath: a.initrd,
    cmdline: a.cmdline ?? 'console=ttyS0',
    direct: a.direct ?? true,
    verbose: (m) => log.push(m),
  });
  return { memory, boot, log };
}

/** The NUL-terminated string at a guest address. */
export function cString(memory: GuestMemory, addr: number): string {
  const end = memory.u8.indexOf(0, addr);
  return Buffer.from(memory.u8.subarray(addr, end)).toString('utf8');
}

/** The Debian kernel and initramfs, built by scripts/guest-image.sh if not cached yet. */
export function guestImage(): { kernel: string; initrd: string } {
  const cache = path.join(ROOT, '.cache', 'guest');
  const kernel = path.join(cache, 'vmlinuz');
  const initrd = path.join(cache, 'initramfs.gz');
  if (!fs.existsSync(kernel) || !fs.existsSync(initrd)) {
    execFileSync(path.join(ROOT, 'scripts', 'guest-image.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { kernel, initrd };
}
