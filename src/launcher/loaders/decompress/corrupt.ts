/**
 * A compressed stream that cannot be decoded. The loaders turn it into a
 * UserError naming the kernel file; the decoders only know what went wrong.
 */
export class CorruptData extends Error {
  constructor(m: string) {
    super(m);
    this.name = 'CorruptData';
  }
}

/**
 * The output would pass `limit` bytes (the guest's memory): a decompression
 * bomb, or a kernel too big for the guest. Raised while decoding, before the
 * memory for such an output is ever allocated.
 */
export class TooLarge extends CorruptData {
  constructor(readonly limit: number) {
    super(`unpacks to more than ${limit} bytes`);
    this.name = 'TooLarge';
  }
}
