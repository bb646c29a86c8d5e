import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '../../src/guest/memory';
import { PciDeviceSpec } from '../../src/guest/platform/pci-device';
import { ConsoleBackend } from '../../src/launcher/devices/console';
import { DeviceContext, createDevices, randomMac } from '../../src/launcher/devices/index';
import { LoopbackNet } from '../../src/launcher/devices/loopback-net';
import { UserError } from '../../src/launcher/user-error';
import { F_VERSION_1, FakeDriver, FakeSlot } from './virtio-driver';

interface ShareNet {
  kind: 'sharenet';
  path: string;
}

describe('createDevices', () => {
  let dir: string;
  let outFd: number;
  let specs: PciDeviceSpec[];
  let opened: { req: ShareNet; mac: Uint8Array }[];
  let ctx: DeviceContext<ShareNet>;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devices-'));
    outFd = fs.openSync(path.join(dir, 'console'), 'w');
    specs = [];
    opened = [];
    ctx = {
      memory: new GuestMemory(new ArrayBuffer(1 << 20)),
      addPciDevice: (spec) => {
        specs.push(spec);
        return new FakeSlot();
      },
      console: new ConsoleBackend(-1, outFd),
      openNet: (req, mac) => {
        opened.push({ req, mac });
        return new LoopbackNet();
      },
    };
  });

  afterEach(() => {
    fs.closeSync(outFd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function disk(name: string, bytes: number): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, Buffer.alloc(bytes, name.charCodeAt(0)));
    return p;
  }

  it('plugs the console, then the devices in command-line order', () => {
    const a = disk('a.img', 1024);
    const b = disk('b.img', 2048);
    const devs = createDevices<ShareNet>(
      [{ kind: 'block', path: a }, { kind: 'rng' }, { kind: 'sharenet', path: '/tmp/net' }, { kind: 'block', path: b }],
      ctx,
    );
    try {
      assert.deepEqual(specs.map((s) => s.deviceId), [0x1043, 0x1042, 0x1044, 0x1041, 0x1042]);
      assert.deepEqual(devs.functions.map((f) => f.spec), specs);
      assert.deepEqual(devs.blocks.map((d) => d.name), [`virtio-blk ${a}`, `virtio-blk ${b}`]);
      assert.equal(devs.nets.length, 1);
      assert.deepEqual(opened.map((o) => o.req), [{ kind: 'sharenet', path: '/tmp/net' }]);
      assert.deepEqual([...devs.nets[0].config.subarray(0, 6)], [...opened[0].mac], 'the back end knows the guest MAC');
      assert.equal(devs.console.name, 'virtio-console');
    } finally {
      devs.close();
    }
  });

  it('gives working devices: the second disk reads its own file', () => {
    const devs = createDevices([{ kind: 'block', path: disk('a.img', 1024) }, { kind: 'block', path: disk('b.img', 1024) }], ctx);
    try {
      const mem = ctx.memory;
      const drv = new FakeDriver(mem, devs.functions[2]);
      const [q] = drv.start(F_VERSION_1, 1);
      mem.u8.fill(0, 0x80000, 0x80010);
      q.add([{ addr: 0x80000, len: 16 }, { addr: 0x90000, len: 512, write: true }, { addr: 0x80100, len: 1, write: true }]);
      q.kick();
      assert.equal(mem.u8[0x80100], 0);
      assert.equal(mem.u8[0x90000], 'b'.charCodeAt(0));
    } finally {
      devs.close();
    }
  });

  it('stops at a file it cannot use, naming it, and closes the files it had opened', () => {
    const fds = (): number => fs.readdirSync('/proc/self/fd').length;
    const before = fds();
    const missing = path.join(dir, 'missing.img');
    assert.throws(
      () => createDevices([{ kind: 'block', path: disk('a.img', 1024) }, { kind: 'block', path: missing }], ctx),
      (e: Error) => e instanceof UserError && e.message.startsWith(missing),
    );
    assert.equal(fds(), before);
  });

  it('makes locally administered unicast MAC addresses', () => {
    for (let i = 0; i < 50; i++) assert.equal(randomMac()[0] & 3, 2);
  });
});
