import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FLAG_LIVE, FLAG_PROMISC, HEADER_SIZE, SLOTS, slotFlags, slotMac, slotPid } from '../../src/netfile/layout';
import { BOOT_LIMIT_MS, bootAll, Guest, requireGuestImage } from './guest-console';

/**
 * Real guests on one --sharenet file. The shared network never touches the
 * host's interfaces (frames go from launcher to launcher through the file),
 * so these launchers need no namespace; the guests' addresses, 10.77.9.x,
 * exist only on the file's Ethernet.
 */

const address = (n: number): string => `10.77.9.${n}`;

describe('guest networking over a shared file (--sharenet)', function () {
  this.timeout(2 * BOOT_LIMIT_MS + 10 * 60 * 1000);
  const guests: Guest[] = [];
  let dir: string;
  let file: string;
  let a: Guest;
  let b: Guest;
  let c: Guest;

  /** Boots guests on the file side by side and gives guest n address 10.77.9.n. */
  async function boot(numbers: number[]): Promise<Guest[]> {
    const started = numbers.map((n) => Guest.start({ label: `guest ${n}`, options: [`--sharenet=${file}`] }));
    guests.push(...started);
    await bootAll(started);
    await Promise.all(started.map((g, i) => g.ok(`ip addr add ${address(numbers[i])}/24 dev eth0 && ip link set eth0 up`)));
    return started;
  }

  /** The pid of the launcher in each slot that is live, from the file's slot table. */
  function slotOwners(): Map<number, number> {
    const words = new Int32Array(new Uint8Array(fs.readFileSync(file)).buffer);
    const owners = new Map<number, number>();
    for (let s = 0; s < SLOTS; s++) {
      if (words[slotFlags(s) >> 2] & FLAG_LIVE) owners.set(s, words[slotPid(s) >> 2]);
    }
    return owners;
  }

  const slotOf = (g: Guest): number | undefined => [...slotOwners()].find(([, pid]) => pid === g.pid)?.[0];

  /** Slot `s`'s flags and MAC address ("02:00:..."), from the file's slot table. */
  function slotEntry(s: number): { flags: number; mac: string } {
    const header = Buffer.alloc(HEADER_SIZE);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, header, 0, HEADER_SIZE, 0);
    } finally {
      fs.closeSync(fd);
    }
    const mac = [...header.subarray(slotMac(s), slotMac(s) + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    return { flags: header.readUInt32LE(slotFlags(s)), mac };
  }

  /** `from` pings 10.77.9.<to> `count` times; all must be answered. */
  async function ping(from: Guest, to: number, count = 3): Promise<void> {
    const out = await from.ok(`ping -c ${count} ${address(to)}`);
    assert.match(out, new RegExp(`${count} packets transmitted, ${count} packets received`), `${from.label} -> ${address(to)}`);
  }

  before(async function () {
    requireGuestImage();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-sharenet-'));
    file = path.join(dir, 'net');
    [a, b, c] = await boot([1, 2, 3]);
  });

  after(async function () {
    await Promise.all(guests.map((g) => g.powerOff()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes the file, mode 0600, with the three launchers in three slots', () => {
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const slots = [a, b, c].map(slotOf);
    assert.deepEqual([...slots].sort(), [0, 1, 2]);
  });

  it('lets the three guests ping each other', async () => {
    await Promise.all([
      (async () => (await ping(a, 2), await ping(a, 3)))(),
      (async () => (await ping(b, 3), await ping(b, 1)))(),
      (async () => (await ping(c, 1), await ping(c, 2)))(),
    ]);
  });

  it("puts the guest's promiscuous mode and MAC address changes in its slot, and routes by the new MAC", async () => {
    const slot = slotOf(c)!;
    assert.notEqual(slot, undefined);
    const original = slotEntry(slot).mac;
    assert.match(await c.ok('cat /sys/class/net/eth0/address'), new RegExp(original));

    await c.ok('ip link set eth0 promisc on');
    assert.equal(slotEntry(slot).flags, FLAG_LIVE | FLAG_PROMISC);
    await c.ok('ip link set eth0 promisc off');
    assert.equal(slotEntry(slot).flags, FLAG_LIVE);

    const changed = '02:00:00:77:09:03';
    await c.ok(`ip link set eth0 address ${changed}`);
    assert.equal(slotEntry(slot).mac, changed);
    // Guest 2 forgets the old MAC, asks again, and its frames reach guest 3 at the new one.
    await b.ok('ip neigh flush dev eth0');
    await ping(b, 3);

    // Back as it was for the test that follows, with nobody remembering the MAC in between.
    await c.ok(`ip link set eth0 address ${original}`);
    assert.equal(slotEntry(slot).mac, original);
    await Promise.all([a, b, c].map((g) => g.ok('ip neigh flush dev eth0')));
    await ping(b, 3);
    await ping(a, 3);
  });

  it('keeps working for the others when one is SIGKILLed in the middle of a transfer', async () => {
    // Guest 1 streams to guest 2 as fast as it can: the frames it has in
    // flight when it dies are the worst case the network file must survive.
    // (The receiver's stdin must stay open: busybox nc closes its sending
    // half at end of input, and the sender's nc stops at that.)
    await b.ok('sleep 999999 | nc -l -p 7000 > /dev/null &');
    await b.ok("until netstat -ltn | grep -q ':7000 '; do usleep 100000; done");
    await a.ok('dd if=/dev/zero bs=1024 count=1000000 2>/dev/null | nc 10.77.9.2 7000 > /dev/null &');
    const received = async (): Promise<number> => Number(/\n(\d+)\r?\n/.exec(await b.ok('cat /sys/class/net/eth0/statistics/rx_bytes'))![1]);
    const before = await received();
    await b.ok('sleep 1');
    assert.ok((await received()) > before + 10_000, 'guest 1 is streaming to guest 2');

    const slot = slotOf(a);
    assert.notEqual(slot, undefined);
    // Guest 3 pings guest 2 throughout: half of it before the kill, half after.
    const from = c.output.length;
    const pinging = c.ok('ping -c 20 -i 0.2 10.77.9.2');
    await c.waitFor(/seq=9 /, from);
    await a.kill();
    assert.equal(a.ended!.signal, 'SIGKILL');
    assert.match(await pinging, /20 packets transmitted, 20 packets received/);
    await ping(b, 3);
    await ping(c, 2);

    const [d] = await boot([4]);
    assert.equal(slotOf(d), slot, "the newcomer has the killed launcher's slot");
    await ping(d, 2);
    await ping(d, 3);
    await ping(b, 4);
    await ping(c, 4);
  });
});
