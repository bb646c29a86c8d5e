import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { UserError } from '../../src/launcher/user-error';
import {
  compress,
  cString,
  ensureTools,
  guestImage,
  KERNEL_COMPRESSIONS,
  kernelCompress,
  link,
  load,
  Loaded,
  makeBzImage,
  MiB,
  nasm,
  tmpDir,
  write,
} from './loader-helpers';

/**
 * bzImages: Debian's 686 kernel (from scripts/guest-image.sh), both the
 * launcher decompressing it and it decompressing itself; bzImages the test
 * builds around an ELF with every compression the kernel can use; and old
 * bzImages whose raw kernel is found by its gzip header.
 */

const PAGE = 4096;

function elfLoads(elf: Buffer): { offset: number; paddr: number; filesz: number; memsz: number }[] {
  const off = elf.readUInt32LE(28);
  const out = [];
  for (let i = 0; i < elf.readUInt16LE(44); i++) {
    const at = off + i * 32;
    if (elf.readUInt32LE(at) !== 1) continue;
    out.push({ offset: elf.readUInt32LE(at + 4), paddr: elf.readUInt32LE(at + 12), filesz: elf.readUInt32LE(at + 16), memsz: elf.readUInt32LE(at + 20) });
  }
  return out;
}

function assertSegmentsLoaded(l: Loaded, elf: Buffer): void {
  for (const s of elfLoads(elf)) {
    assert.ok(Buffer.from(l.memory.u8.subarray(s.paddr, s.paddr + s.filesz)).equals(elf.subarray(s.offset, s.offset + s.filesz)), `segment at 0x${s.paddr.toString(16)}`);
    assert.ok(l.memory.u8.subarray(s.paddr + s.filesz, s.paddr + s.memsz).every((b) => b === 0));
  }
}

const refusal = (path: string, re: RegExp) => (e: unknown) => e instanceof UserError && e.message.includes(`'${path}'`) && re.test(e.message);

describe('loader: Debian 686 bzImage', function () {
  this.timeout(300000);
  let kernel: string;
  let initrd: string;
  let image: Buffer;
  let vmlinux: Buffer;
  let direct: Loaded;
  const cmdline = 'console=ttyS0 acpi=off';

  before(() => {
    ensureTools();
    ({ kernel, initrd } = guestImage());
    image = fs.readFileSync(kernel);
    // The reference: the payload decompressed by Debian's own xz.
    const pm = (image[0x1f1] + 1) * 512;
    const payload = image.subarray(pm + image.readUInt32LE(0x248), pm + image.readUInt32LE(0x248) + image.readUInt32LE(0x24c));
    vmlinux = execFileSync('xz', ['-dc', '--single-stream'], { input: payload, maxBuffer: 256 * MiB });
    direct = load(kernel, { initrd, cmdline, mem: 128 * MiB });
  });

  it('is an xz-compressed bzImage of boot protocol 2.15', () => {
    assert.equal(image.readUInt16LE(0x206), 0x020f);
    assert.ok(direct.log.some((l) => l.startsWith('bzImage protocol 2.15: xz payload')), direct.log.join('\n'));
  });

  it('loads the ELF inside at its physical addresses and enters it at 16 MiB', () => {
    assertSegmentsLoaded(direct, vmlinux);
    assert.equal(direct.boot.eip, 0x1000000);
    assert.equal(direct.boot.cr0 & 0x80000000, 0, 'paging off');
    assert.ok(direct.log.includes('Page offset 0xc0000000'));
  });

  it('copies the setup header into the zero page and fills in the loader fields', () => {
    const zp = direct.memory.u8.subarray(direct.boot.esi, direct.boot.esi + PAGE);
    const v = new DataView(zp.buffer, zp.byteOffset, PAGE);
    const expected = Buffer.from(image.subarray(0x1f1, 0x26c));
    expected[0x210 - 0x1f1] = 0xff;
    expected.writeUInt32LE(v.getUint32(0x218, true), 0x218 - 0x1f1);
    expected.writeUInt32LE(v.getUint32(0x21c, true), 0x21c - 0x1f1);
    expected.writeUInt32LE(v.getUint32(0x228, true), 0x228 - 0x1f1);
    assert.ok(Buffer.from(zp.subarray(0x1f1, 0x26c)).equals(expected));
    assert.equal(cString(direct.memory, v.getUint32(0x228, true)), cmdline);
    assert.equal(v.getUint8(0x1e8), 2);
    assert.equal(v.getBigUint64(0x2d0 + 20, true), 0x100000n);
    assert.equal(v.getBigUint64(0x2d8 + 20, true), BigInt(127 * MiB));
  });

  it('puts the initramfs at the top of RAM, below initrd_addr_max', () => {
    const v = new DataView(direct.memory.buffer, direct.boot.esi, PAGE);
    const bytes = fs.readFileSync(initrd);
    const addr = v.getUint32(0x218, true);
    assert.equal(v.getUint32(0x21c, true), bytes.length);
    assert.equal(addr % PAGE, 0);
    assert.equal(addr, 128 * MiB - Math.ceil(bytes.length / PAGE) * PAGE);
    assert.ok(addr + bytes.length - 1 <= image.readUInt32LE(0x22c));
    assert.ok(Buffer.from(direct.memory.u8.subarray(addr, addr + bytes.length)).equals(bytes));
  });

  it('with direct off, loads the protected-mode code at 1 MiB and enters code32_start', () => {
    const l = load(kernel, { initrd, cmdline, direct: false });
    const pm = (image[0x1f1] + 1) * 512;
    assert.ok(Buffer.from(l.memory.u8.subarray(0x100000, 0x100000 + image.length - pm)).equals(image.subarray(pm)));
    assert.equal(l.boot.eip, 0x100000);
    assert.equal(l.boot.esi % PAGE, 0);
    assert.equal(new DataView(l.memory.buffer, l.boot.esi, PAGE).getUint8(0x210), 0xff);
    // The initrd stays clear of where the kernel decompresses itself (16 MiB + init_size).
    const initrdAt = new DataView(l.memory.buffer, l.boot.esi, PAGE).getUint32(0x218, true);
    assert.ok(initrdAt >= 0x1000000 + image.readUInt32LE(0x260));
  });

  it('refuses too little memory to decompress itself, or to hold the kernel', () => {
    assert.throws(() => load(kernel, { direct: false, mem: 32 * MiB }), refusal(kernel, /the kernel needs 33 MiB of memory to decompress itself, the guest has 32 MiB/));
    assert.throws(() => load(kernel, { mem: 24 * MiB }), refusal(kernel, /ELF segment 0 \(0x1000000-0x[0-9a-f]+\) does not fit in the guest's 24 MiB of memory/));
  });
});

describe('loader: bzImages built by the test', function () {
  this.timeout(120000);
  let dir: string;
  let elf: Buffer;
  let raw: Buffer;

  before(() => {
    ensureTools();
    dir = tmpDir();
    elf = fs.readFileSync(link(dir, nasm(dir, 'vmlinux', 'elf32'), 'vmlinux.ld', 'vmlinux'));
    raw = fs.readFileSync(nasm(dir, 'raw-kernel', 'bin'));
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const c of KERNEL_COMPRESSIONS) {
    it(`boots a protocol 2.15 bzImage with a ${c.name} payload directly`, () => {
      const path = write(dir, `bz-${c.name}`, makeBzImage({ version: 0x020f, payload: kernelCompress(c, elf) }));
      const l = load(path);
      assertSegmentsLoaded(l, elf);
      assert.equal(l.boot.eip, 0x100000);
      assert.ok(l.log.some((line) => line.startsWith(`bzImage protocol 2.15: ${c.name} payload`)), l.log.join('\n'));
      const header = fs.readFileSync(path).subarray(0x1f1, 0x210);
      assert.ok(Buffer.from(l.memory.u8.subarray(l.boot.esi + 0x1f1, l.boot.esi + 0x210)).equals(header));
    });
  }

  it('with direct off, enters the stand-in decompressor at code32_start', () => {
    const bz = makeBzImage({ version: 0x020f, payload: kernelCompress(KERNEL_COMPRESSIONS[1], elf), initSize: 2 * MiB });
    const l = load(write(dir, 'bz-nodirect', bz), { direct: false });
    assert.equal(l.boot.eip, 0x100000);
    assert.ok(Buffer.from(l.memory.u8.subarray(0x100000, 0x100000 + bz.length - 5 * 512)).equals(bz.subarray(5 * 512)));
  });

  it('keeps the initrd below initrd_addr_max', () => {
    const initrd = write(dir, 'initrd', Buffer.alloc(5000, 1));
    const bz = makeBzImage({ version: 0x020f, payload: kernelCompress(KERNEL_COMPRESSIONS[0], elf), initrdAddrMax: 32 * MiB - 1 });
    const l = load(write(dir, 'bz-initrd-max', bz), { initrd });
    assert.equal(new DataView(l.memory.buffer, l.boot.esi, PAGE).getUint32(0x218, true), 32 * MiB - 2 * PAGE);
  });

  it('boots an old (2.04) bzImage by finding its gzip stream and guessing the page offset', () => {
    const gz = compress('gzip', ['-9'], raw);
    // Some bytes that merely look like gzip come first, as they might in a decompressor.
    const stub = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff]), Buffer.alloc(100, 0x90)]);
    const path = write(dir, 'bz-legacy', makeBzImage({ version: 0x0204, stub, payload: gz }));
    const l = load(path, { cmdline: 'root=/dev/hda1' });
    assert.ok(Buffer.from(l.memory.u8.subarray(0x100000, 0x100000 + raw.length)).equals(raw));
    assert.equal(l.boot.eip, 0x100000);
    assert.equal(l.boot.cr0 & 0x80000000, 0);
    assert.ok(l.log.includes('Page offset 0xc0000000 (guessed from the code)'), l.log.join('\n'));
    assert.ok(l.log.includes(`Unpacked gzip stream at 0x${(5 * 512 + stub.length).toString(16)}: size 0x${raw.length.toString(16)} at 0x100000`), l.log.join('\n'));
    const v = new DataView(l.memory.buffer, l.boot.esi, PAGE);
    assert.equal(v.getUint16(0x206, true), 0x0204);
    assert.equal(cString(l.memory, v.getUint32(0x228, true)), 'root=/dev/hda1');
    assert.equal(v.getUint32(0x23c, true), 0);
  });

  it('gives a pre-2.02 kernel its command line the old way', () => {
    const path = write(dir, 'bz-201', makeBzImage({ version: 0x0201, payload: compress('gzip', ['-9'], raw) }));
    const l = load(path, { cmdline: 'old style' });
    const v = new DataView(l.memory.buffer, l.boot.esi, PAGE);
    assert.equal(v.getUint16(0x20, true), 0xa33f);
    assert.equal(cString(l.memory, l.boot.esi + v.getUint16(0x22, true)), 'old style');
    assert.equal(v.getUint32(0x228, true), 0, 'cmd_line_ptr is not a 2.01 field');
  });

  it('boots a 2.08+ bzImage whose payload is not ELF the legacy way', () => {
    const path = write(dir, 'bz-raw', makeBzImage({ version: 0x020f, payload: kernelCompress(KERNEL_COMPRESSIONS[1], raw) }));
    const l = load(path);
    assert.ok(Buffer.from(l.memory.u8.subarray(0x100000, 0x100000 + raw.length)).equals(raw));
    assert.ok(l.log.includes(`Unpacked xz payload: size 0x${raw.length.toString(16)} at 0x100000`), l.log.join('\n'));
  });

  describe('refuses, naming the file and the reason', () => {
    it('a truncated bzImage', () => {
      const bz = makeBzImage({ version: 0x020f, payload: kernelCompress(KERNEL_COMPRESSIONS[1], elf) });
      const path = write(dir, 'bz-truncated', bz.subarray(0, bz.length - 100));
      assert.throws(() => load(path), refusal(path, /truncated: the compressed kernel \(payload_offset\/payload_length\) needs bytes/));
      const short = write(dir, 'bz-short-setup', bz.subarray(0, 0x300));
      assert.throws(() => load(short), refusal(short, /truncated: the setup code \(4 sectors\)/));
    });

    for (const c of [KERNEL_COMPRESSIONS[0], KERNEL_COMPRESSIONS[1], KERNEL_COMPRESSIONS[5]]) {
      it(`a corrupt ${c.name} payload`, () => {
        const payload = kernelCompress(c, elf);
        payload[Math.floor(payload.length / 2)] ^= 0x5a;
        const path = write(dir, `bz-corrupt-${c.name}`, makeBzImage({ version: 0x020f, payload }));
        assert.throws(() => load(path), refusal(path, new RegExp(`corrupt ${c.name} payload at 0x[0-9a-f]+: `)));
      });
    }

    // A decompression bomb: a valid ELF followed by 24 MiB of zeros, which
    // compress to almost nothing. In a 16 MiB guest it must be refused while
    // decoding, before the output is ever held in memory.
    for (const c of KERNEL_COMPRESSIONS) {
      it(`a ${c.name} payload that unpacks to more than the guest's memory (a decompression bomb)`, () => {
        const bomb = Buffer.concat([elf, Buffer.alloc(24 * MiB)]);
        const path = write(dir, `bz-bomb-${c.name}`, makeBzImage({ version: 0x020f, payload: kernelCompress(c, bomb) }));
        assert.throws(
          () => load(path, { mem: 16 * MiB }),
          refusal(path, new RegExp(`: the ${c.name} kernel inside unpacks to more than the guest's 16 MiB of memory$`)),
        );
      });
    }

    it('an old bzImage whose gzip stream unpacks to more than the guest\'s memory', () => {
      const gz = compress('gzip', ['-9'], Buffer.concat([raw, Buffer.alloc(24 * MiB)]));
      const path = write(dir, 'bz-legacy-bomb', makeBzImage({ version: 0x0204, payload: gz }));
      assert.throws(() => load(path, { mem: 16 * MiB }), refusal(path, /: the gzip kernel inside unpacks to more than the guest's 16 MiB of memory$/));
    });

    it('a payload compressed with something lguest cannot decode', () => {
      const path = write(dir, 'bz-lzo', makeBzImage({ version: 0x020f, payload: Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0, 0, 0, 0]) }));
      assert.throws(() => load(path), refusal(path, /the kernel inside is lzo compressed, which lguest cannot decompress \(try --no-direct\)/));
    });

    it('an old bzImage without a gzip stream', () => {
      const path = write(dir, 'bz-nogzip', makeBzImage({ version: 0x0204, payload: Buffer.alloc(5000, 7) }));
      assert.throws(() => load(path), refusal(path, /could not find the kernel in the bzImage \(no gzip stream\)/));
    });

    it('an old bzImage whose kernel gives no clue to its page offset', () => {
      const path = write(dir, 'bz-noclue', makeBzImage({ version: 0x0204, payload: compress('gzip', ['-9'], Buffer.alloc(5000, 0x90)) }));
      assert.throws(() => load(path), refusal(path, /could not determine the page offset/));
    });

    it('an old bzImage with direct off', () => {
      const path = write(dir, 'bz-old-nodirect', makeBzImage({ version: 0x0204, payload: compress('gzip', ['-9'], raw) }));
      assert.throws(() => load(path, { direct: false }), refusal(path, /--no-direct needs boot protocol 2.07 or later, this kernel has boot protocol 2.04/));
    });

    it('a command line longer than cmdline_size', () => {
      const path = write(dir, 'bz-cmdline', makeBzImage({ version: 0x020f, payload: kernelCompress(KERNEL_COMPRESSIONS[0], elf), cmdlineSize: 16 }));
      assert.throws(() => load(path, { cmdline: 'console=ttyS0 quiet' }), refusal(path, /the command line is 19 bytes, this kernel takes at most 16/));
    });
  });
});
