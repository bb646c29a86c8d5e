/**
 * CRC-32 (gzip, xz headers and checks) and CRC-64/XZ (xz checks), table
 * driven. Kept here rather than relying on zlib.crc32, which only newer
 * Node 20 releases have.
 */

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC64_POLY = 0xc96c5795d7870f42n;
// Split into two 32-bit halves so the inner loop stays in fast integer math.
const CRC64_LO = new Uint32Array(256);
const CRC64_HI = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = BigInt(n);
  for (let k = 0; k < 8; k++) c = c & 1n ? CRC64_POLY ^ (c >> 1n) : c >> 1n;
  CRC64_LO[n] = Number(c & 0xffffffffn);
  CRC64_HI[n] = Number(c >> 32n);
}

/** CRC-64/XZ, returned as the 8 little-endian bytes xz stores. */
export function crc64(data: Uint8Array): Uint8Array {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]) & 0xff;
    lo = (CRC64_LO[idx] ^ ((lo >>> 8) | (hi << 24))) >>> 0;
    hi = (CRC64_HI[idx] ^ (hi >>> 8)) >>> 0;
  }
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, (lo ^ 0xffffffff) >>> 0, true);
  v.setUint32(4, (hi ^ 0xffffffff) >>> 0, true);
  return out;
}
