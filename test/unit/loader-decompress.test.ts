import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { compressionOf, CorruptData, decompress, TooLarge } from '../../src/launcher/loaders/decompress';
import { bcjX86Decode } from '../../src/launcher/loaders/decompress/bcj-x86';
import { decodeGzipMember } from '../../src/launcher/loaders/decompress/gzip';
import { compress, ensureTools, KERNEL_COMPRESSIONS, kernelCompress, MiB } from './loader-helpers';

/**
 * The payload decoders against the real Debian tools, on real x86 code (the
 * host's bash, whose calls exercise xz's x86 filter) and on data chosen to
 * reach the less common paths: incompressible stretches (LZMA2 stores them
 * uncompressed), several xz blocks, several lz4 blocks.
 */
describe('loader decompression', function () {
  this.timeout(120000);
  let code: Buffer;
  const compressed = new Map<string, Buffer>();

  before(() => {
    ensureTools();
    code = fs.readFileSync('/bin/bash').subarray(0, 400 * 1024);
    for (const c of KERNEL_COMPRESSIONS) compressed.set(c.name, kernelCompress(c, code));
  });

  for (const c of KERNEL_COMPRESSIONS) {
    it(`decodes ${c.name} as the kernel build makes it (trailing size and all)`, () => {
      const z = compressed.get(c.name)!;
      assert.deepEqual(compressionOf(z), { name: c.name, supported: true });
      assert.ok(Buffer.from(decompress(z)).equals(code));
    });

    it(`stops ${c.name} at the output limit, and decodes exactly up to it`, () => {
      const z = compressed.get(c.name)!;
      assert.throws(() => decompress(z, code.length - 1), (e: unknown) => e instanceof TooLarge && e.limit === code.length - 1);
      assert.ok(Buffer.from(decompress(z, code.length)).equals(code));
    });

    it(`reports truncated ${c.name} data as corrupt`, () => {
      const z = compressed.get(c.name)!;
      assert.throws(() => decompress(z.subarray(0, Math.floor(z.length / 2))), CorruptData);
    });
  }

  for (const check of ['none', 'crc32', 'crc64', 'sha256']) {
    it(`decodes xz with --check=${check}`, () => {
      const z = compress('xz', [`--check=${check}`], code);
      assert.ok(Buffer.from(decompress(z)).equals(code));
    });
  }

  it('decodes xz with several blocks and incompressible stretches', () => {
    const data = Buffer.concat([randomBytes(200 * 1024), code.subarray(0, 300 * 1024), randomBytes(100 * 1024)]);
    const z = compress('xz', ['--check=crc64', '--block-size=128KiB', '--x86', '--lzma2=preset=6'], data);
    assert.ok(Buffer.from(decompress(z)).equals(data));
  });

  it('decodes .lzma with the uncompressed size in its header', () => {
    const z = Buffer.from(compress('lzma', ['-6'], code));
    z.writeUInt32LE(code.length, 5);
    z.writeUInt32LE(0, 9);
    assert.ok(Buffer.from(decompress(z)).equals(code));
  });

  it('decodes legacy lz4 with more than one 8 MiB block', () => {
    const data = Buffer.alloc(9 * MiB);
    for (let i = 0; i < data.length; i += code.length) code.copy(data, i);
    const z = compress('lz4', ['-l', '-q'], data);
    assert.ok(Buffer.from(decompress(z)).equals(data));
  });

  for (const [name, tool, args] of [
    ['gzip', 'gzip', ['-9']],
    ['xz', 'xz', ['--check=crc32', '--x86', '--lzma2=preset=6']],
    ['bzip2', 'bzip2', ['-9']],
  ] as const) {
    it(`catches a flipped byte in ${name} data`, () => {
      const z = Buffer.from(compress(tool, [...args], code));
      z[Math.floor(z.length / 2)] ^= 0x55;
      assert.throws(() => decompress(z), CorruptData);
    });
  }

  it('finds where a gzip member ends and checks its trailer', () => {
    const z = compress('gzip', ['-9'], code);
    const r = decodeGzipMember(Buffer.concat([z, Buffer.from('whatever follows')]));
    assert.equal(r.length, z.length);
    assert.ok(Buffer.from(r.data).equals(code));
    const badCrc = Buffer.from(z);
    badCrc[z.length - 8] ^= 1;
    assert.throws(() => decodeGzipMember(badCrc), /CRC/);
  });

  it('names formats it cannot decode, and does not guess at others', () => {
    assert.deepEqual(compressionOf(Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0, 0])), { name: 'lzo', supported: false });
    assert.deepEqual(compressionOf(Buffer.from('plain text here')), { name: 'unknown', supported: false });
  });

  it('undoes the x86 filter: a call target made absolute becomes relative again', () => {
    // E8 <rel32>: xz --x86 stored the absolute target 0x1005 for a call at 0x100.
    const buf = new Uint8Array(0x110);
    buf.set([0xe8, 0x05, 0x10, 0x00, 0x00], 0x100);
    bcjX86Decode(buf);
    assert.equal(Buffer.from(buf).readInt32LE(0x101), 0x1005 - (0x100 + 5));
  });
});
