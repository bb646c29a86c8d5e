import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockFile } from '../../src/launcher/devices/block-file';
import { UserError } from '../../src/launcher/user-error';

describe('block file back end', () => {
  let dir: string;
  const opened: BlockFile[] = [];
  const open = (file: string): BlockFile => {
    const f = BlockFile.open(file);
    opened.push(f);
    return f;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'block-file-'));
  });

  afterEach(() => {
    opened.splice(0).forEach((f) => f.close());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens a regular file read-write, with its size and its name as serial', () => {
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(5000));
    const f = open(file);
    assert.equal(f.size, 5000);
    assert.equal(f.readOnly, false);
    assert.equal(Buffer.from(f.id).toString(), 'disk.img');
  });

  it('cuts the serial to 20 bytes', () => {
    const file = path.join(dir, 'a-very-long-disk-image-name.img');
    fs.writeFileSync(file, '');
    assert.equal(Buffer.from(open(file).id).toString(), 'a-very-long-disk-ima');
  });

  it('reads and writes vectored, at any position, and reads short at end of file', () => {
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(4096));
    const f = open(file);
    f.write([Buffer.from('abc'), Buffer.from('defgh')], 1000);
    assert.equal(fs.readFileSync(file).subarray(1000, 1008).toString(), 'abcdefgh');
    const a = new Uint8Array(2);
    const b = new Uint8Array(4);
    assert.equal(f.read([a, b], 1001), 6);
    assert.equal(Buffer.concat([a, b]).toString(), 'bcdefg');
    assert.equal(f.read([new Uint8Array(100)], 4090), 6);
    f.flush();
  });

  it('opens a file without write permission read-only, even for root', () => {
    const file = path.join(dir, 'ro.img');
    fs.writeFileSync(file, Buffer.alloc(1024, 1));
    fs.chmodSync(file, 0o444);
    const f = open(file);
    assert.equal(f.readOnly, true);
    assert.throws(() => f.write([new Uint8Array(1)], 0), { code: 'EBADF' });
    assert.equal(fs.readFileSync(file)[0], 1);
  });

  it('names the file and the reason when it cannot be used', () => {
    const missing = path.join(dir, 'nope.img');
    assert.throws(() => BlockFile.open(missing), (e: Error) => e instanceof UserError && e.message === `${missing}: no such file or directory`);
    assert.throws(() => BlockFile.open(dir), (e: Error) => e instanceof UserError && e.message === `${dir}: not a regular file or a block device`);
    assert.throws(() => BlockFile.open('/dev/null'), /\/dev\/null: not a regular file or a block device/);
  });

  it('refuses a disk another process has open for writing, and names that process', async function () {
    this.timeout(30_000);
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(4096));
    const holder = spawn(
      process.execPath,
      ['-e', `require(${JSON.stringify(path.join(__dirname, '../../src/launcher/devices/block-file'))}).BlockFile.open(process.argv[1]); console.log('open'); setInterval(() => {}, 1000);`, file],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => holder.stdout!.once('data', resolve));
      assert.throws(() => open(file), (e: Error) => e instanceof UserError && e.message === `${file}: in use by another lguest (pid ${holder.pid}); two guests writing one disk would corrupt it`);
      fs.chmodSync(file, 0o444);
      assert.equal(open(file).readOnly, true, 'read-only, it may be shared');
      fs.chmodSync(file, 0o644);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    assert.equal(open(file).readOnly, false, 'free again once the holder is gone');
  });

  it('finds the size of a host block device (a loop device)', function () {
    const img = path.join(dir, 'loop.img');
    fs.writeFileSync(img, Buffer.alloc(3 * 1024 * 1024, 0x5a));
    const setup = spawnSync('losetup', ['--find', '--show', img], { encoding: 'utf8' });
    if (setup.status !== 0) this.skip();
    const dev = setup.stdout.trim();
    try {
      const f = open(dev);
      assert.equal(f.size, 3 * 1024 * 1024);
      const buf = new Uint8Array(512);
      assert.equal(f.read([buf], 512 * 100), 512);
      assert.ok(buf.every((x) => x === 0x5a));
      f.close();
      opened.pop();
    } finally {
      spawnSync('losetup', ['--detach', dev]);
    }
  });
});
