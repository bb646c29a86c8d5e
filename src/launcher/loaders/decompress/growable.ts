import { TooLarge } from './corrupt';

/**
 * An output buffer for decoders that do not know the final size up front.
 * Doubling keeps the copies to about twice the output, and a kernel
 * decompresses once per boot. It never grows past `limit` (TooLarge), so a
 * small file that claims or expands to gigabytes costs nothing.
 */
export class Growable {
  buf: Uint8Array;
  pos = 0;

  constructor(initial = 1 << 20, readonly limit = Infinity) {
    this.buf = new Uint8Array(Math.max(Math.min(initial, limit), 16));
  }

  /** Make room for `n` more bytes after pos. */
  reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > this.limit) throw new TooLarge(this.limit);
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    size = Math.min(size, Math.max(need, this.limit));
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
