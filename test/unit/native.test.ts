import { strict as assert } from 'node:assert';
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as native from '../../src/launcher/native';

/** Each native primitive against the real OS, including the errors it gives. */

const NATIVE_JS = path.join(__dirname, '..', '..', 'src', 'launcher', 'native.js');

function tmpFile(name: string, contents: Buffer | string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-native-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, contents);
  return file;
}

/** An Error thrown by `fn`, checked for the errno name and the object it names. */
function expectErrno(fn: () => unknown, code: string, ...mentions: string[]): void {
  assert.throws(fn, (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, new RegExp(`: ${code} \\(`));
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should name ${m}`);
    return true;
  });
}

/** A node child running `code` with the native wrapper as `native`; resolves on its first stdout line. */
function helper(code: string, argv: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['-e', `const native = require(${JSON.stringify(NATIVE_JS)});\n${code}`, ...argv], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: out.slice(0, nl) });
    });
    child.on('exit', (status) => reject(new Error(`helper exited (${status}) before answering: ${out}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('exit', () => resolve())));
}

describe('native addon', () => {
  describe('memory regions', () => {
    const page = native.pageSize();

    it('reserves a region, maps zero pages in it and exposes it as one buffer', () => {
      const r = native.reserve(16 * page);
      native.mapAnonymous(r, 0, 16 * page);
      const u8 = new Uint8Array(r.buffer);
      assert.equal(u8.length, 16 * page);
      assert.equal(typeof r.base, 'bigint');
      assert.equal(r.base % BigInt(page), 0n);
      assert.ok(u8.every((b) => b === 0));
      u8[5 * page + 7] = 0xa5;
      assert.equal(new Uint8Array(r.buffer)[5 * page + 7], 0xa5);
      native.unmap(r);
    });

    it('maps a file privately (copy on write) and shared (write through)', () => {
      const file = tmpFile('data', Buffer.alloc(2 * page, 0x11));
      const ro = fs.openSync(file, 'r');
      const rw = fs.openSync(file, 'r+');
      const r = native.reserve(4 * page);
      native.mapAnonymous(r, 0, 4 * page);
      native.mapFile(r, page, page, ro, page, false);
      native.mapFile(r, 2 * page, page, rw, 0, true);
      const u8 = new Uint8Array(r.buffer);
      assert.equal(u8[page], 0x11);
      u8[page] = 0x22; // private: not written back
      u8[2 * page + 1] = 0x33; // shared: written back
      native.unmap(r);
      const disk = fs.readFileSync(file);
      assert.equal(disk[page], 0x11);
      assert.equal(disk[1], 0x33);
      fs.closeSync(ro);
      fs.closeSync(rw);
    });

    it('unmap detaches the buffer, and a detached or foreign buffer is refused', () => {
      const r = native.reserve(page);
      native.mapAnonymous(r, 0, page);
      native.unmap(r);
      assert.equal(r.buffer.byteLength, 0);
      assert.throws(() => native.unmap(r), /not a live region/);
      assert.throws(() => native.mapAnonymous({ buffer: new ArrayBuffer(page), base: 0n }, 0, page), /not a live region/);
    });

    it('refuses ranges outside the region and unaligned offsets', () => {
      const r = native.reserve(4 * page);
      assert.throws(() => native.reserve(page + 1), RangeError);
      assert.throws(() => native.mapAnonymous(r, 3 * page, 2 * page), /outside the region/);
      assert.throws(() => native.mapAnonymous(r, 100, page), /not page aligned/);
      const fd = fs.openSync(tmpFile('f', Buffer.alloc(2 * page)), 'r');
      assert.throws(() => native.mapFile(r, 0, page, fd, 10, false), /file offset 0xa is not page aligned/);
      native.unmap(r);
      fs.closeSync(fd);
    });

    it('refuses to map past the end of a file (it would be SIGBUS later), naming the file', () => {
      const file = tmpFile('short', 'abc');
      const fd = fs.openSync(file, 'r');
      const r = native.reserve(4 * page);
      native.mapFile(r, 0, page, fd, 0, false);
      assert.equal(Buffer.from(r.buffer, 0, 4).toString('latin1'), 'abc\0');
      assert.throws(() => native.mapFile(r, 0, 2 * page, fd, 0, false), (e: Error) => e.message.includes(file) && /past the end/.test(e.message));
      native.unmap(r);
      fs.closeSync(fd);
    });

    it('survives a mapped file shrinking: zero pages instead of SIGBUS, and takeBusFault names the file once', () => {
      const file = tmpFile('shrinks', Buffer.alloc(3 * page, 0x5a));
      const fd = fs.openSync(file, 'r+');
      const r = native.reserve(4 * page);
      native.mapFile(r, 0, 3 * page, fd, 0, true);
      const u8 = new Uint8Array(r.buffer);
      assert.equal(u8[2 * page], 0x5a);
      assert.equal(native.takeBusFault(r), null);
      fs.ftruncateSync(fd, page);
      // Without the handler this read kills the process.
      assert.equal(u8[2 * page + 5], 0);
      assert.equal(u8[page + 1], 0);
      assert.equal(u8[0], 0x5a, 'what the file still has is still mapped');
      const fault = native.takeBusFault(r)!;
      assert.ok(fault.what.includes(file), fault.what);
      assert.equal(fault.pages, 2);
      assert.equal(native.takeBusFault(r), null, 'reported once');
      native.unmap(r);
      fs.closeSync(fd);
    });

    it('fallocate gives a file real blocks, and says ENOSPC when the filesystem has none', function () {
      const file = tmpFile('sparse', '');
      const fd = fs.openSync(file, 'r+');
      native.fallocate(fd, 0, 4 * page);
      assert.equal(fs.fstatSync(fd).size, 4 * page);
      assert.ok(fs.fstatSync(fd).blocks * 512 >= 4 * page);
      fs.closeSync(fd);
      if (process.getuid!() !== 0) return;
      const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-native-tmpfs-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
      try {
        const small = fs.openSync(path.join(mnt, 'big'), 'w');
        try {
          expectErrno(() => native.fallocate(small, 0, 8 << 20), 'ENOSPC', 'posix_fallocate', mnt);
        } finally {
          fs.closeSync(small);
        }
      } finally {
        execFileSync('umount', [mnt]);
        fs.rmdirSync(mnt);
      }
    });

    it('reports mmap failures with the errno name and the file', () => {
      const file = tmpFile('ro', Buffer.alloc(page));
      const fd = fs.openSync(file, 'r');
      const r = native.reserve(page);
      expectErrno(() => native.mapFile(r, 0, page, fd, 0, true), 'EACCES', file, 'MAP_SHARED');
      expectErrno(() => native.mapFile(r, 0, page, 1_000_000, 0, false), 'EBADF', 'fd 1000000');
      native.unmap(r);
      fs.closeSync(fd);
    });
  });

  describe('fcntl locks', () => {
    it('sees another process holding a byte, and the byte free again once that process is killed', async () => {
      const file = tmpFile('locks', Buffer.alloc(16));
      const { child, line } = await helper(
        `const fd = require('fs').openSync(process.argv[1], 'r+');
         console.log(native.tryLock(fd, 3) ? 'locked' : 'busy');
         setInterval(() => {}, 1000);`,
        [file],
      );
      assert.equal(line, 'locked');
      const fd = fs.openSync(file, 'r+');
      try {
        assert.equal(native.lockHolder(fd, 3), child.pid);
        assert.equal(native.tryLock(fd, 3), false);
        assert.equal(native.lockHolder(fd, 4), 0);
        assert.equal(native.tryLock(fd, 4), true);
        native.unlock(fd, 4);
        child.kill('SIGKILL');
        await exited(child);
        assert.equal(native.lockHolder(fd, 3), 0);
        assert.equal(native.tryLock(fd, 3), true);
        native.unlock(fd, 3);
      } finally {
        fs.closeSync(fd);
      }
    });

    it('names the file and the errno when a lock cannot be asked for', () => {
      const file = tmpFile('rolock', Buffer.alloc(4));
      const fd = fs.openSync(file, 'r');
      expectErrno(() => native.tryLock(fd, 0), 'EBADF', file, 'byte 0');
      expectErrno(() => native.lockHolder(99999, 0), 'EBADF', 'fd 99999');
      expectErrno(() => native.unlock(99999, 0), 'EBADF', 'fd 99999');
      fs.closeSync(fd);
    });
  });

  describe('poll, pipes and O_NONBLOCK', () => {
    const ev = () => native.pollEvents();

    it('reports readable, hung-up and invalid descriptors', () => {
      const [r, w] = native.pipe();
      assert.deepEqual(native.poll([{ fd: r, events: ev().IN }], 0), [0]);
      fs.writeSync(w, 'x');
      assert.deepEqual(native.poll([{ fd: r, events: ev().IN }], Infinity), [ev().IN]);
      fs.closeSync(w);
      assert.equal(native.poll([{ fd: r, events: ev().IN }], 0)[0] & ev().HUP, ev().HUP);
      fs.closeSync(r);
      assert.deepEqual(native.poll([{ fd: r, events: ev().IN }], 0), [ev().NVAL]);
    });

    it('gives close-on-exec pipes (only a child handed an end holds it)', () => {
      const [r, w] = native.pipe();
      for (const fd of [r, w]) {
        const flags = /flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1];
        assert.ok(parseInt(flags, 8) & 0o2000000, `fd ${fd} flags ${flags} lack O_CLOEXEC`);
      }
      fs.closeSync(r);
      fs.closeSync(w);
    });

    it('sets and clears O_NONBLOCK', () => {
      const [r, w] = native.pipe();
      native.setNonBlocking(r, true);
      assert.throws(() => fs.readSync(r, Buffer.alloc(1)), { code: 'EAGAIN' });
      native.setNonBlocking(r, false);
      const flags = /flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${r}`, 'utf8'))![1];
      assert.equal(parseInt(flags, 8) & 0o4000, 0);
      expectErrno(() => native.setNonBlocking(99999, true), 'EBADF', 'fd 99999');
      fs.closeSync(r);
      fs.closeSync(w);
    });
  });

  describe('termios', () => {
    it('names the descriptor when it is not a terminal', () => {
      const [r, w] = native.pipe();
      expectErrno(() => native.tcgetattr(r), 'ENOTTY', `fd ${r}`, 'pipe:');
      expectErrno(() => native.makeRaw(r), 'ENOTTY', `fd ${r}`);
      fs.closeSync(r);
      fs.closeSync(w);
    });
  });

  describe('tap devices (in a network namespace of our own)', function () {
    const ns = `lgtest-${process.pid}`;

    before(function () {
      if (!fs.existsSync('/dev/net/tun')) this.skip(); // no tun driver on this host: nothing to test
      execFileSync('ip', ['netns', 'add', ns]);
    });

    after(() => {
      if (fs.existsSync(`/run/netns/${ns}`)) execFileSync('ip', ['netns', 'del', ns]);
    });

    /** Runs `code` inside the namespace; it prints one JSON line, then holds its taps until stdin closes. */
    async function inNamespace(code: string): Promise<{ child: ChildProcess; result: Record<string, unknown> }> {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', `
        const native = require(${JSON.stringify(NATIVE_JS)});
        let result;
        try { result = (() => { ${code} })(); } catch (e) { result = { error: e.message, code: e.code }; }
        console.log(JSON.stringify(result));
        process.stdin.on('data', () => {}).on('end', () => process.exit(0));`], { stdio: ['pipe', 'pipe', 'inherit'] });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out.trim());
        });
        child.on('exit', (s) => reject(new Error(`namespace helper exited ${s}: ${out}`)));
      });
      return { child, result: JSON.parse(line) };
    }

    async function release(child: ChildProcess): Promise<void> {
      child.stdin!.end();
      await exited(child);
    }

    function ipJson(...args: string[]): any[] {
      return JSON.parse(execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8' }));
    }

    it('creates a tap from the tap%d pattern, sets its address and netmask, brings it up and reads its MAC', async () => {
      const { child, result } = await inNamespace(`
        const tap = native.openTap();
        native.setIpv4(tap.name, '10.77.0.1', '255.255.255.0');
        native.ifUp(tap.name);
        return { name: tap.name, fd: tap.fd, mac: Buffer.from(native.getMac(tap.name)).toString('hex') };`);
      try {
        assert.equal(result.error, undefined, String(result.error));
        assert.match(String(result.name), /^tap\d+$/);
        const [link] = ipJson('addr', 'show', 'dev', String(result.name));
        assert.ok(link.flags.includes('UP'), JSON.stringify(link.flags));
        assert.equal(link.address.replace(/:/g, ''), result.mac);
        const inet = link.addr_info.find((a: any) => a.family === 'inet');
        assert.equal(inet.local, '10.77.0.1');
        assert.equal(inet.prefixlen, 24);
      } finally {
        await release(child);
      }
      // A tap lives as long as its descriptor: the helper is gone, so is it.
      assert.throws(() => execFileSync('ip', ['-n', ns, 'link', 'show', String(result.name)], { stdio: 'pipe' }));
    });

    it('opens a tap by name with a virtio-net header and offloads', async () => {
      const { child, result } = await inNamespace(`
        const f = native.tunOffload();
        const tap = native.openTap({ name: 'lgvnet0', vnetHdr: true, vnetHdrSize: 12, offload: f.CSUM | f.TSO4 | f.TSO6 });
        return { name: tap.name, flags: require('fs').readFileSync('/sys/class/net/' + tap.name + '/tun_flags', 'utf8') };`);
      try {
        assert.equal(result.error, undefined, String(result.error));
        assert.equal(result.name, 'lgvnet0');
        const IFF_TAP = 0x2, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
        const flags = parseInt(String(result.flags), 16);
        assert.equal(flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
      } finally {
        await release(child);
      }
    });

    it('attaches a tap to a bridge, and names the bridge when it does not exist', async () => {
      execFileSync('ip', ['-n', ns, 'link', 'add', 'lgbr0', 'type', 'bridge']);
      const { child, result } = await inNamespace(`
        const tap = native.openTap();
        native.addToBridge('lgbr0', tap.name);
        let missing;
        try { native.addToBridge('lgnobridge', tap.name); } catch (e) { missing = { message: e.message, code: e.code }; }
        return { name: tap.name, missing };`);
      try {
        assert.equal(result.error, undefined, String(result.error));
        const [link] = ipJson('link', 'show', 'dev', String(result.name));
        assert.equal(link.master, 'lgbr0');
        const missing = result.missing as { message: string; code: string };
        assert.equal(missing.code, 'ENODEV');
        assert.ok(missing.message.includes('bridge lgnobridge'), missing.message);
        assert.ok(missing.message.includes(String(result.name)), missing.message);
      } finally {
        await release(child);
      }
    });

    it('names the interface in TUNSETIFF, TUNSETOFFLOAD and ioctl errors', async () => {
      const { child, result } = await inNamespace(`
        const errors = [];
        const grab = (f) => { try { f(); errors.push(null); } catch (e) { errors.push({ message: e.message, code: e.code }); } };
        grab(() => native.openTap({ name: 'bad/name' }));
        grab(() => native.openTap({ name: 'lgoff0', offload: 0x10000 }));
        grab(() => native.setIpv4('lgnosuch0', '10.0.0.1', '255.0.0.0'));
        grab(() => native.ifUp('lgnosuch0'));
        grab(() => native.getMac('lgnosuch0'));
        grab(() => native.openTap({ name: 'a-name-far-too-long' }));
        return { errors };`);
      try {
        const [setiff, offload, addr, up, mac, long] = result.errors as { message: string; code: string }[];
        assert.equal(setiff.code, 'EINVAL');
        assert.match(setiff.message, /^TUNSETIFF bad\/name: EINVAL/);
        assert.equal(offload.code, 'EINVAL');
        assert.match(offload.message, /^TUNSETOFFLOAD lgoff0: EINVAL/);
        assert.match(addr.message, /^SIOCSIFADDR lgnosuch0: ENODEV/);
        assert.match(up.message, /^SIOCGIFFLAGS lgnosuch0: ENODEV/);
        assert.match(mac.message, /^SIOCGIFHWADDR lgnosuch0: ENODEV/);
        assert.match(long.message, /a-name-far-too-long' must be 1 to 15 characters/);
      } finally {
        await release(child);
      }
    });
  });
});
