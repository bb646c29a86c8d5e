import * as fs from 'node:fs';
import { UserError } from './user-error';

/**
 * Opening the user's files (kernel, initrd, disks) with the error the user
 * should see when that fails: which file, in which role, and why, e.g.
 * "cannot open kernel 'vmlinux': no such file or directory (ENOENT)".
 * The original's open_or_die(), without the dying.
 */
export function openUserFile(path: string, role: string, flags: 'r' | 'r+'): number {
  try {
    return fs.openSync(path, flags);
  } catch (e) {
    throw new UserError(`cannot open ${role} '${path}': ${describeSystemError(e)}`);
  }
}

/** "no such file or directory (ENOENT)" from one of Node's system errors. */
export function describeSystemError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (!err.code) throw e;
  const text = /^\w+: ([^,]+)/.exec(err.message)?.[1] ?? err.message;
  return `${text} (${err.code})`;
}

/**
 * Checks, before anything is mapped or started, that a file the user named
 * can be used: it opens, and is a regular file (or a block device where
 * `blockDevice` allows). The file is closed again; its owner opens it later.
 * Returns its identity ("dev:ino"), the same whatever path names it.
 */
export function checkUserFile(path: string, role: string, options: { write?: boolean; blockDevice?: boolean } = {}): string {
  const fd = openUserFile(path, role, options.write ? 'r+' : 'r');
  try {
    const st = fs.fstatSync(fd);
    if (!(st.isFile() || (options.blockDevice && st.isBlockDevice()))) {
      const kind = st.isDirectory() ? 'a directory' : 'not a regular file';
      throw new UserError(`${role} '${path}' is ${kind}`);
    }
    return `${st.dev}:${st.ino}`;
  } finally {
    fs.closeSync(fd);
  }
}
