import * as fs from 'node:fs';
import { GuestMemory } from '../../guest/memory';
import { UserError } from '../user-error';
import type { LoadTarget } from './index';
import { PAGE, pageDown } from './layout';

/**
 * Bytes to load: a file's descriptor to map from (absent for data that only
 * exists in memory, like a decompressed kernel), the bytes if already read,
 * and how to report a problem with the file.
 */
export interface FileSource {
  fd?: number;
  bytes?: Uint8Array;
  fail(reason: string): UserError;
}

/**
 * Put `length` bytes of a file at guest physical `guestPhys`. Where both the
 * file offset and the address are page aligned, the whole pages are mapped
 * private from the file, as the original mapped vmlinux segments: guests
 * booted from one file share those pages until they write them. The partial
 * last page is copied, so whatever follows in the file never shows up in the
 * guest. Returns the number of bytes mapped (the rest were copied).
 */
export function placeFile(target: LoadTarget, src: FileSource, fileOffset: number, guestPhys: number, length: number): number {
  let mapped = 0;
  if (target.mapFilePrivate && src.fd !== undefined && fileOffset % PAGE === 0 && guestPhys % PAGE === 0) {
    mapped = pageDown(length);
    if (mapped > 0) target.mapFilePrivate(src.fd, fileOffset, guestPhys, mapped);
  }
  copyFile(target.memory, src, fileOffset + mapped, guestPhys + mapped, length - mapped);
  return mapped;
}

function copyFile(memory: GuestMemory, src: FileSource, fileOffset: number, guestPhys: number, length: number): void {
  if (length === 0) return;
  const dest = memory.u8.subarray(guestPhys, guestPhys + length);
  if (src.bytes) {
    dest.set(src.bytes.subarray(fileOffset, fileOffset + length));
    return;
  }
  if (src.fd === undefined) throw new Error('placeFile: neither bytes nor a file to read');
  let done = 0;
  while (done < length) {
    const n = fs.readSync(src.fd, dest, done, length - done, fileOffset + done);
    if (n === 0) throw src.fail(`the file shrank while it was being loaded (nothing at offset ${fileOffset + done})`);
    done += n;
  }
}
