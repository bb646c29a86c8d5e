import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../launcher/user-error';
import { busFaultCount, fallocate, mapFile, pageSize, Region, reserve, takeBusFault, unmap } from '../launcher/native';
import { FILE_SIZE, HEADER_SIZE, headerProblem, newHeader } from './layout';

/**
 * One network file, opened and mapped once per process.
 *
 * Once per process because of a trap in fcntl locks: they belong to the
 * process, not to the descriptor, and closing *any* descriptor of the file
 * drops *all* of the process's locks on it. A second open()/close() of the
 * file (a second --sharenet on it, a test reading it) would silently free our
 * slot. So every ShareNet in a process shares this object, and nothing else in
 * the process may open the file while it is joined.
 */
export class NetFile {
  private static readonly open = new Map<string, NetFile>();

  /** Slots this process holds: fcntl would let us lock them again. */
  readonly heldSlots = new Set<number>();
  /** Where the wake-up FIFOs go: the file's real path, the same through any symlink. */
  readonly fifoBase: string;
  /** The whole file as 32-bit words, for Atomics. */
  readonly words: Int32Array;
  readonly bytes: Uint8Array;

  private constructor(
    /** The name the file was joined by, for messages. */
    readonly file: string,
    readonly fd: number,
    private readonly key: string,
    private readonly region: Region,
  ) {
    this.fifoBase = fs.realpathSync(file);
    this.words = new Int32Array(region.buffer, 0, FILE_SIZE / 4);
    this.bytes = new Uint8Array(region.buffer, 0, FILE_SIZE);
  }

  /**
   * The file at `file`, created if missing. Refuses, with a UserError naming
   * it, a file that cannot be opened or is not a network file of this version.
   */
  static acquire(file: string): NetFile {
    createIfMissing(file);
    const key = identity(file);
    const known = NetFile.open.get(key);
    if (known) return known;

    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR);
    } catch (e) {
      throw new UserError(`cannot open network file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new UserError(`network file ${file} is not a regular file`);
      const head = Buffer.alloc(HEADER_SIZE);
      fs.readSync(fd, head, 0, HEADER_SIZE, 0);
      const problem = headerProblem(head, st.size);
      if (problem) throw new UserError(`network file ${file} ${problem}`);
      // A file made elsewhere may be sparse: its holes are filled now, so
      // that a full filesystem is this message and not SIGBUS mid-frame.
      reserveSpace(fd, file, 'join');
      const length = Math.ceil(FILE_SIZE / pageSize()) * pageSize();
      const region = reserve(length);
      try {
        mapFile(region, 0, FILE_SIZE, fd, 0, true);
      } catch (e) {
        unmap(region);
        throw e;
      }
      const net = new NetFile(file, fd, key, region);
      NetFile.open.set(key, net);
      return net;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /**
   * Whether the file lost pages under our mapping (another process truncated
   * it): a one-line description, or null. The pages now read as zeros in
   * this process only, so every slot of ours on it is cut off.
   */
  lostPages(): string | null {
    // Asked on every frame: the common answer costs one memory read.
    const count = busFaultCount();
    if (count === this.faultsSeen) return this.lost;
    this.faultsSeen = count;
    if (this.lost === null) {
      const fault = takeBusFault(this.region);
      if (fault) this.lost = `network file ${this.file} was truncated under us (${fault.pages} page${fault.pages === 1 ? '' : 's'} gone)`;
    }
    return this.lost;
  }

  private lost: string | null = null;
  private faultsSeen = busFaultCount();

  /** Called when this process no longer holds any slot of the file: unmap and close. */
  releaseIfUnused(): void {
    if (this.heldSlots.size > 0) return;
    NetFile.open.delete(this.key);
    unmap(this.region);
    fs.closeSync(this.fd);
  }
}

/**
 * Real blocks for the whole file (posix_fallocate). The file is used through
 * a shared mapping, and a hole the filesystem cannot fill when a page is
 * first touched is SIGBUS in every launcher on the file.
 */
function reserveSpace(fd: number, file: string, doing: 'create' | 'join'): void {
  try {
    fallocate(fd, 0, FILE_SIZE);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (code === 'ENOSPC') {
      throw new UserError(`cannot ${doing} network file ${file}: no space for its ${FILE_SIZE >> 10} KiB on that filesystem (ENOSPC)`);
    }
    // Filesystems without fallocate (EOPNOTSUPP) keep the old risk rather than refusing.
    if (code === 'EOPNOTSUPP' || code === 'ENOSYS') return;
    throw new UserError(`cannot ${doing} network file ${file}: ${code}`);
  }
}

/** Same file, whatever the path that names it. */
function identity(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch (e) {
    throw new UserError(`cannot open network file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/**
 * Creates a fresh network file if there is none. Racing launchers must never
 * see a half-initialised file, so it is built under a temporary name and
 * published with link(2), which fails if the name exists: exactly one
 * creator wins, and the others use its file.
 */
function createIfMissing(file: string): void {
  if (fs.existsSync(file)) return;
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  let fd: number;
  try {
    fd = fs.openSync(temp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (e) {
    throw new UserError(`cannot create network file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    try {
      // An unusual umask must not make the file unreadable to its owner, nor readable to others.
      fs.fchmodSync(fd, 0o600);
      fs.ftruncateSync(fd, FILE_SIZE);
      reserveSpace(fd, file, 'create');
      fs.writeSync(fd, newHeader(), 0, HEADER_SIZE, 0);
    } finally {
      fs.closeSync(fd);
    }
    fs.linkSync(temp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new UserError(`cannot create network file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
