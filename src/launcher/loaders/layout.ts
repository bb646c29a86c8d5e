import { GuestMemory } from '../../guest/memory';
import { hex } from './image';
import { UserError } from '../user-error';

export const PAGE = 4096;

export function pageUp(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}

export function pageDown(n: number): number {
  return Math.floor(n / PAGE) * PAGE;
}

export function mib(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}

interface Claim {
  start: number;
  end: number;
  what: string;
}

/**
 * Who owns which part of guest physical memory while loading: the kernel's
 * segments, the initrd, page tables, boot parameters. Every placement goes
 * through here, so anything past the end of RAM or on top of something else
 * is a clear error ("ELF segment 1 overlaps ELF segment 0") instead of a
 * guest that silently boots on corrupted memory.
 */
export class GuestLayout {
  private readonly claims: Claim[] = [];

  constructor(readonly memory: GuestMemory) {}

  get size(): number {
    return this.memory.size;
  }

  /**
   * Take [start, start+len) for `what`. `fail` turns a reason into the error
   * naming the file responsible.
   */
  claim(start: number, len: number, what: string, fail: (reason: string) => UserError): void {
    const end = start + len;
    const range = `0x${hex(start)}-0x${hex(end)}`;
    if (start < 0 || end > this.size) {
      throw fail(`${what} (${range}) does not fit in the guest's ${mib(this.size)} of memory`);
    }
    const other = this.overlapping(start, end);
    if (other) throw fail(`${what} (${range}) overlaps ${other.what} (0x${hex(other.start)}-0x${hex(other.end)})`);
    this.claims.push({ start, end, what });
  }

  /** The highest free page-aligned place for len bytes ending at or below `limit`. */
  highest(len: number, limit: number, what: string, fail: (reason: string) => UserError): number {
    let at = pageDown(Math.min(limit, this.size) - len);
    for (;;) {
      if (at < 0) throw fail(`no room for ${what} (${mib(pageUp(len))}) in the guest's ${mib(this.size)} of memory`);
      const other = this.overlapping(at, at + len);
      if (!other) break;
      at = pageDown(other.start - len);
    }
    this.claim(at, len, what, fail);
    return at;
  }

  /** The lowest free page-aligned place for len bytes at or above `from`. */
  lowest(len: number, from: number, what: string, fail: (reason: string) => UserError): number {
    let at = pageUp(from);
    for (;;) {
      if (at + len > this.size) throw fail(`no room for ${what} (${mib(pageUp(len))}) in the guest's ${mib(this.size)} of memory`);
      const other = this.overlapping(at, at + len);
      if (!other) break;
      at = pageUp(other.end);
    }
    this.claim(at, len, what, fail);
    return at;
  }

  private overlapping(start: number, end: number): Claim | undefined {
    return this.claims.find((c) => start < c.end && c.start < end);
  }
}
