import * as fs from 'node:fs';
import { describeSystemError, openUserFile } from '../files';
import { UserError } from '../user-error';

/**
 * The kernel file, read whole (a bzImage is a few MiB, a vmlinux a few tens),
 * with its descriptor kept open so page-aligned segments can be mapped from
 * it rather than copied. Every read is bounds checked: a short file is the
 * user's error, reported as "truncated", never a crash.
 */
export class KernelImage {
  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly bytes: Buffer,
  ) {}

  /**
   * The most a compressed kernel inside this image may unpack to: the
   * guest's memory (loadGuest sets it before any format looks inside). A
   * payload that would be bigger is refused while it is being decoded.
   */
  unpackLimit = Infinity;

  static open(path: string): KernelImage {
    const fd = openUserFile(path, 'kernel', 'r');
    try {
      return new KernelImage(path, fd, readAll(fd, path, 'kernel'));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get size(): number {
    return this.bytes.length;
  }

  /** A UserError about this file: "kernel 'path': reason". */
  error(reason: string): UserError {
    return new UserError(`kernel '${this.path}': ${reason}`);
  }

  /** Throws unless [offset, offset+len) is inside the file. */
  need(offset: number, len: number, what: string): void {
    if (offset < 0 || len < 0 || offset + len > this.size) {
      throw this.error(`truncated: ${what} needs bytes 0x${hex(offset)}-0x${hex(offset + len)}, the file has ${this.size}`);
    }
  }

  u8(offset: number, what: string): number {
    this.need(offset, 1, what);
    return this.bytes[offset];
  }

  u16(offset: number, what: string): number {
    this.need(offset, 2, what);
    return this.bytes.readUInt16LE(offset);
  }

  u32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.bytes.readUInt32LE(offset);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** The initrd: only its size is read; the bytes are mapped or copied later. */
export class InitrdFile {
  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly size: number,
  ) {}

  static open(path: string): InitrdFile {
    const fd = openUserFile(path, 'initrd', 'r');
    try {
      return new InitrdFile(path, fd, fs.fstatSync(fd).size);
    } catch (e) {
      fs.closeSync(fd);
      throw new UserError(`initrd '${path}': ${describeSystemError(e)}`);
    }
  }

  error(reason: string): UserError {
    return new UserError(`initrd '${this.path}': ${reason}`);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function readAll(fd: number, path: string, role: string): Buffer {
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, buf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } catch (e) {
    throw new UserError(`${role} '${path}': ${describeSystemError(e)}`);
  }
}

export function hex(n: number): string {
  return n.toString(16);
}
