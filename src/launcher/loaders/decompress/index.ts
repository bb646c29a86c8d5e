import { decodeBzip2, isBzip2 } from './bzip2';
import { CorruptData, TooLarge } from './corrupt';
import { decodeGzipMember, isGzip } from './gzip';
import { decodeLz4Legacy, isLz4Legacy } from './lz4';
import { decodeLzma, isLzma } from './lzma';
import { decodeXz, isXz } from './xz';
import { decodeZstd, isZstd } from './zstd';

export { CorruptData, TooLarge };

/**
 * The compressed payloads a bzImage can carry, told apart by their magic
 * bytes the way the kernel's own decompressor table does.
 */
interface Codec {
  name: string;
  is(b: Uint8Array): boolean;
  /** Decode, throwing TooLarge as soon as the output would pass `limit` bytes. */
  decode(b: Uint8Array, limit: number): Uint8Array;
}

const CODECS: Codec[] = [
  { name: 'gzip', is: isGzip, decode: (b, limit) => decodeGzipMember(b, limit).data },
  { name: 'xz', is: isXz, decode: decodeXz },
  { name: 'lzma', is: isLzma, decode: decodeLzma },
  { name: 'zstd', is: isZstd, decode: decodeZstd },
  { name: 'lz4', is: isLz4Legacy, decode: decodeLz4Legacy },
  { name: 'bzip2', is: isBzip2, decode: decodeBzip2 },
];

/** Formats the kernel knows but we do not decode, so we can say so by name. */
const KNOWN_UNSUPPORTED: { name: string; magic: number[] }[] = [{ name: 'lzo', magic: [0x89, 0x4c, 0x5a, 0x4f] }];

/** The compression's name, 'unknown', or an unsupported format's name. */
export function compressionOf(b: Uint8Array): { name: string; supported: boolean } {
  const codec = CODECS.find((c) => c.is(b));
  if (codec) return { name: codec.name, supported: true };
  const other = KNOWN_UNSUPPORTED.find((u) => u.magic.every((m, i) => b[i] === m));
  return { name: other ? other.name : 'unknown', supported: false };
}

/**
 * Decompress; throws CorruptData, or TooLarge past `limit` bytes of output
 * (the guest's memory: a kernel bigger than that cannot run anyway). The
 * caller checks compressionOf first.
 */
export function decompress(b: Uint8Array, limit = Infinity): Uint8Array {
  const codec = CODECS.find((c) => c.is(b));
  if (!codec) throw new CorruptData('unknown compression');
  return codec.decode(b, limit);
}
