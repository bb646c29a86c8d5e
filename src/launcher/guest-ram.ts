import * as fs from 'node:fs';
import { GuestMemory, wasmMemoryFor } from '../guest/memory';
import * as native from './native';
import { UserError } from './user-error';

/**
 * The most RAM a guest may have. Guest physical addresses are 32 bits, and
 * the top of that space holds the PCI devices' windows (as on a PC, where RAM
 * below 4 GiB stops at 3 GiB); an i386 kernel without PAE could not use more
 * anyway.
 */
export const MAX_GUEST_RAM = 3 * 1024 * 1024 * 1024;

/**
 * Guest "physical" memory, the way the original launcher laid it out: guest
 * physical address P is launcher virtual address base + P.
 *
 * RAM is the start of a WebAssembly memory (so compiled guest code reads
 * guest physical P at wasm address P); the addon adopts that range as a
 * region and fills it with MAP_FIXED mappings: zero pages for RAM, then whatever the loaders and devices map over them (kernel segments
 * copy-on-write from the kernel file, so guests booted from one file share
 * its pages; shared files). The TS core sees it all as one ArrayBuffer, so
 * the CPU, the devices and the mappings are the same bytes, never copies.
 */
export class GuestRam {
  readonly memory: GuestMemory;
  readonly base: bigint;

  private constructor(
    private readonly region: native.Region,
    wasm: WebAssembly.Memory,
    bytes: number,
  ) {
    this.memory = new GuestMemory(region.buffer, bytes, wasm);
    this.base = region.base;
  }

  /** `bytes` of zeroed guest RAM. Too much (or none) is the user's error. */
  static create(bytes: number): GuestRam {
    const page = native.pageSize();
    if (!Number.isInteger(bytes) || bytes <= 0) throw new UserError(`guest memory size must be positive, not ${bytes}`);
    if (bytes % page !== 0) throw new UserError(`guest memory size ${bytes} is not a multiple of the ${page}-byte page`);
    if (bytes > MAX_GUEST_RAM) {
      throw new UserError(`guest memory ${mib(bytes)} is more than an i386 guest can have (at most ${mib(MAX_GUEST_RAM)})`);
    }
    let wasm: WebAssembly.Memory;
    try {
      wasm = wasmMemoryFor(bytes);
    } catch (e) {
      if (e instanceof RangeError) throw new UserError(`cannot map ${mib(bytes)} of guest memory: the host refused (ENOMEM)`);
      throw e;
    }
    const region = native.adopt(wasm.buffer, bytes);
    try {
      native.mapAnonymous(region, 0, bytes);
    } catch (e) {
      native.unmap(region);
      throw hostRefused(e, bytes);
    }
    return new GuestRam(region, wasm, bytes);
  }

  /**
   * Map `length` bytes of the file at `fileOffset` to guest physical
   * `guestPhys`, copy on write: the guest may write its pages, the file never
   * changes. Both offsets must be page aligned; the length is rounded up to
   * whole pages, so bytes of the file beyond the segment come along in the
   * last page (a loader zeroes them if they must read as zero). A map past
   * the end of the file is refused.
   */
  mapFilePrivate(fd: number, fileOffset: number, guestPhys: number, length: number): void {
    native.mapFile(this.region, guestPhys, length, fd, fileOffset, false);
    this.leaseFor(fd).ranges.push({ guestPhys, length: Math.ceil(length / native.pageSize()) * native.pageSize() });
  }

  /**
   * Files mapped copy-on-write, each with a read lease where the kernel gives
   * one: an in-place rewrite (`> vmlinuz`, `cp new vmlinuz`) or a truncation
   * by another process then waits for us, and we copy the pages into our own
   * memory first (keepOwnCopies). Without the lease, a rewrite would show
   * the guest the new file's bytes in pages it had not written, and a
   * truncation would be SIGBUS (busFault() says so, and the guest ends).
   */
  private readonly leases: { id: string; file: string; fd: number | null; ranges: { guestPhys: number; length: number }[] }[] = [];
  private readonly onLeaseBreak = (): void => this.keepOwnCopies();
  /** Told the name of each file whose pages the guest now keeps a copy of (for --verbose). */
  onOwnCopy: (file: string) => void = () => {};

  private leaseFor(fd: number): (typeof this.leases)[number] {
    const st = fs.fstatSync(fd);
    const id = `${st.dev}:${st.ino}`;
    const known = this.leases.find((l) => l.id === id);
    if (known) return known;
    const file = fs.readlinkSync(`/proc/self/fd/${fd}`);
    // The loader closes its descriptor; the lease needs one of ours, read-only.
    let leaseFd: number | null = fs.openSync(`/proc/self/fd/${fd}`, 'r');
    // SIGIO comes when the lease breaks: its default would kill us.
    if (this.leases.length === 0) process.on('SIGIO', this.onLeaseBreak);
    if (!native.readLease(leaseFd)) {
      fs.closeSync(leaseFd);
      leaseFd = null;
    }
    const lease = { id, file, fd: leaseFd, ranges: [] };
    this.leases.push(lease);
    return lease;
  }

  /**
   * If another process is about to write or truncate a file mapped into
   * guest memory, copy its pages into anonymous memory (what the guest
   * wrote stays, the rest is the file as it was) and let the writer go on.
   * Called after every slice and on SIGIO (an idle guest runs no slices).
   */
  keepOwnCopies(): void {
    for (const lease of this.leases) {
      if (lease.fd === null || !native.leaseBroken(lease.fd)) continue;
      const u8 = this.memory.u8;
      for (const r of lease.ranges) {
        const copy = Buffer.from(u8.subarray(r.guestPhys, r.guestPhys + r.length));
        native.mapAnonymous(this.region, r.guestPhys, r.length);
        u8.set(copy, r.guestPhys);
      }
      native.dropLease(lease.fd);
      fs.closeSync(lease.fd);
      lease.fd = null;
      this.onOwnCopy(lease.file);
    }
  }

  /**
   * As mapFilePrivate, but shared: writes reach the file, and every process
   * mapping the file sees them. The fd must be open read-write.
   */
  mapFileShared(fd: number, fileOffset: number, guestPhys: number, length: number): void {
    native.mapFile(this.region, guestPhys, length, fd, fileOffset, true);
  }

  /**
   * Whether a file mapped into guest memory (a kernel segment, copy on
   * write) shrank under the running guest since the last look: a one-line
   * reason, or null. The addon's SIGBUS handler has put zero pages where the
   * file's pages were, so the launcher lives on; the guest must not, as part
   * of its kernel now reads as zeros.
   */
  busFault(): string | null {
    const fault = native.takeBusFault(this.region);
    if (!fault) return null;
    const file = /\((.*)\)$/.exec(fault.what)?.[1] ?? fault.what;
    return `${file} was truncated or rewritten while the guest ran from it (${fault.pages} page${fault.pages === 1 ? '' : 's'} gone)`;
  }

  /** Give the file mappings up: RAM reads as zero pages again. */
  close(): void {
    for (const lease of this.leases) {
      if (lease.fd !== null) fs.closeSync(lease.fd);
      lease.fd = null;
    }
    process.removeListener('SIGIO', this.onLeaseBreak);
    native.unmap(this.region);
  }
}

function mib(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** The host could not give us the memory: a user error (ask for less), with the errno. */
function hostRefused(e: unknown, bytes: number): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOMEM' || code === 'EAGAIN') {
    return new UserError(`cannot map ${mib(bytes)} of guest memory: the host refused (${code})`);
  }
  return e as Error;
}
