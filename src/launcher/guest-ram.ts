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
  }

  /**
   * As mapFilePrivate, but shared: writes reach the file, and every process
   * mapping the file sees them. The fd must be open read-write.
   */
  mapFileShared(fd: number, fileOffset: number, guestPhys: number, length: number): void {
    native.mapFile(this.region, guestPhys, length, fd, fileOffset, true);
  }

  /** Give the file mappings up: RAM reads as zero pages again. */
  close(): void {
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
