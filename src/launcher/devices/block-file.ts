import * as fs from 'node:fs';
import { basename } from 'node:path';
import { BlockBackend } from '../../guest/virtio/blk';
import { lockHolder, tryLock } from '../native';
import { UserError } from '../user-error';

/** Node's "ENOENT: no such file or directory, open 'x'" -> "no such file or directory". */
function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z0-9]+: ([^,]+)/.exec(err.message);
  return m ? m[1] : err.message;
}

/**
 * The size of a host block device. fstat says 0 for those, and Node has no
 * BLKGETSIZE64 ioctl, but sysfs publishes every block device's size in
 * 512-byte units under its major:minor number.
 */
function blockDeviceSize(file: string, rdev: number): number {
  // The glibc encoding of dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const high = Math.floor(rdev / 0x100000000);
  const low = rdev >>> 0;
  const major = ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0);
  const minor = ((low & 0xff) | ((low >>> 12) & 0xfff00) | ((high & 0xfff) << 20)) >>> 0;
  const sys = `/sys/dev/block/${major}:${minor}/size`;
  let text: string;
  try {
    text = fs.readFileSync(sys, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot find the size of this block device (${sys}: ${reason(e)})`);
  }
  return Number(text.trim()) * 512;
}

/** Calls `io` until all of `buffers` is transferred or it reports end of file (0 bytes). */
function transferAll(
  io: (buffers: Uint8Array[], position: number) => number,
  buffers: Uint8Array[],
  position: number,
): number {
  let total = 0;
  let rest = buffers;
  while (rest.length > 0) {
    let n = io(rest, position + total);
    if (n === 0) break;
    total += n;
    // Skip what was transferred: whole buffers, then part of the next one.
    let i = 0;
    while (i < rest.length && n >= rest[i].length) n -= rest[i++].length;
    rest = rest.slice(i);
    if (n > 0) rest[0] = rest[0].subarray(n);
  }
  return total;
}

/**
 * A --block file: a regular file or a host block device. It is opened
 * read-only when the user asks (--block=<file>,ro) or made it so (no write
 * permission bits: root could write it anyway, but clearly should not), or
 * when writing is refused (EACCES, EPERM, EROFS: someone else's image, a
 * read-only mount); the guest then sees a read-only disk.
 *
 * A writable disk holds an fcntl lock on its first byte while it is open,
 * so a second launcher cannot write the same image (the kernel drops the
 * lock however the launcher ends); read-only disks may be shared.
 *
 * Writes go to the host with pwritev before the guest hears they are done,
 * so killing the launcher loses nothing acknowledged; a guest flush is
 * fdatasync, which also survives a host crash.
 */
export class BlockFile implements BlockBackend {
  readonly id: Uint8Array;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly size: number,
    readonly readOnly: boolean,
  ) {
    // The serial number the guest sees in /sys/block/vdX/serial: the file name, cut to 20 bytes.
    this.id = Buffer.from(basename(path)).subarray(0, 20);
  }

  /** Open `file`; `readOnly` asks for a read-only disk (--block=<file>,ro) whatever the file allows. */
  static open(file: string, readOnly = false): BlockFile {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new UserError(`${file}: ${reason(e)}`);
    }
    if (!st.isFile() && !st.isBlockDevice()) throw new UserError(`${file}: not a regular file or a block device`);
    readOnly ||= st.isFile() && (st.mode & 0o222) === 0;
    let fd: number;
    try {
      fd = fs.openSync(file, readOnly ? 'r' : 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (readOnly || (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM')) {
        throw new UserError(`${file}: ${reason(e)}`);
      }
      readOnly = true;
      try {
        fd = fs.openSync(file, 'r');
      } catch (e2) {
        throw new UserError(`${file}: ${reason(e2)}`);
      }
    }
    try {
      if (!readOnly && !tryLock(fd, 0)) {
        const pid = lockHolder(fd, 0);
        throw new UserError(`${file}: in use by another lguest${pid ? ` (pid ${pid})` : ''}; two guests writing one disk would corrupt it`);
      }
      const size = st.isBlockDevice() ? blockDeviceSize(file, fs.fstatSync(fd).rdev) : fs.fstatSync(fd).size;
      return new BlockFile(file, fd, size, readOnly);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  read(buffers: Uint8Array[], position: number): number {
    return transferAll((b, p) => fs.readvSync(this.fd, b, p), buffers, position);
  }

  write(buffers: Uint8Array[], position: number): void {
    const want = buffers.reduce((n, b) => n + b.length, 0);
    const done = transferAll((b, p) => fs.writevSync(this.fd, b, p), buffers, position);
    if (done !== want) throw Object.assign(new Error(`${this.path}: short write`), { code: 'EIO' });
  }

  flush(): void {
    fs.fdatasyncSync(this.fd);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
