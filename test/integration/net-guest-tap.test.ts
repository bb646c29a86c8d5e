import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { BOOT_LIMIT_MS, bootAll, Guest, HostPeer, initrd, kernel, Netns, requireGuestImage, root } from './guest-console';

/**
 * Real guests on real tap devices: --tunnet=<ip> and --tunnet=bridge:<br>.
 * Each launcher runs inside a network namespace this file creates (so its
 * tap lives there) and deletes; every address is in 10.77.0.0/16 inside
 * those namespaces, so no frame leaves the machine.
 */

/** The digest md5sum printed. */
function md5Of(output: string): string {
  const m = /\n([0-9a-f]{32}) /.exec(output);
  if (!m) throw new Error(`no md5sum output in:\n${output}`);
  return m[1];
}

describe('guest networking over tap devices (--tunnet)', function () {
  this.timeout(BOOT_LIMIT_MS + 5 * 60 * 1000);
  const id = `${process.pid}`;
  const namespaces: Netns[] = [];
  const guests: Guest[] = [];
  const peers: HostPeer[] = [];
  /** The host side of the tap: 10.77.1.1 on the tap in `hostNs`. */
  let hostNs: Netns;
  /** A bridge br0 in `bridgeNs` with a veth whose other end, 10.77.2.1, is in `farNs`. */
  let bridgeNs: Netns;
  let farNs: Netns;
  let tapGuest: Guest;
  let bridgeGuest: Guest;

  const namespace = (role: string): Netns => {
    const ns = Netns.create(`lgng-${id}-${role}`);
    namespaces.push(ns);
    return ns;
  };

  before(async function () {
    requireGuestImage();
    hostNs = namespace('tap');
    bridgeNs = namespace('br');
    farNs = namespace('far');
    bridgeNs.ip('link', 'add', 'br0', 'type', 'bridge');
    bridgeNs.ip('link', 'set', 'br0', 'up');
    bridgeNs.ip('link', 'add', 'lgv0', 'type', 'veth', 'peer', 'name', 'lgv1');
    bridgeNs.ip('link', 'set', 'lgv0', 'master', 'br0');
    bridgeNs.ip('link', 'set', 'lgv0', 'up');
    bridgeNs.ip('link', 'set', 'lgv1', 'netns', farNs.name);
    farNs.ip('addr', 'add', '10.77.2.1/24', 'dev', 'lgv1');
    farNs.ip('link', 'set', 'lgv1', 'up');

    tapGuest = Guest.start({ label: 'tap guest', options: ['--tunnet=10.77.1.1'], netns: hostNs.name });
    bridgeGuest = Guest.start({ label: 'bridge guest', options: ['--tunnet=bridge:br0'], netns: bridgeNs.name });
    guests.push(tapGuest, bridgeGuest);
    await bootAll(guests);
    await tapGuest.ok('ip addr add 10.77.1.2/24 dev eth0 && ip link set eth0 up');
    await bridgeGuest.ok('ip addr add 10.77.2.2/24 dev eth0 && ip link set eth0 up');
  });

  after(async function () {
    peers.forEach((p) => p.kill());
    await Promise.all(guests.map((g) => g.powerOff()));
    Netns.delAll(namespaces);
  });

  describe('--tunnet=<ip>', () => {
    it('gives the host end its address: the guest pings the host', async () => {
      assert.match(hostNs.ip('-o', '-4', 'addr', 'show'), /tap\d+ +inet 10\.77\.1\.1\/24 /);
      const out = await tapGuest.ok('ping -c 3 10.77.1.1');
      assert.match(out, /64 bytes from 10\.77\.1\.1: seq=0/);
      assert.match(out, /3 packets transmitted, 3 packets received/);
    });

    it('carries a TCP connection the guest opens, data both ways', async () => {
      const host = await HostPeer.serve(hostNs.name, '10.77.1.1', 7001, 'host-reply');
      peers.push(host);
      const out = await tapGuest.ok('echo guest-says-hi | nc 10.77.1.1 7001');
      assert.equal((await host.report).text, 'guest-says-hi\n');
      assert.match(out, /\nhost-reply/);
    });

    it('carries a TCP connection the host opens, data both ways', async () => {
      const host = HostPeer.connect(hostNs.name, '10.77.1.2', 7002, 'host-says-hi');
      peers.push(host);
      // nc's stdin is a pipe, so it sends its line and half-closes at once.
      const out = await tapGuest.ok('echo guest-reply | nc -l -p 7002');
      assert.match(out, /\nhost-says-hi/);
      assert.equal((await host.report).text, 'guest-reply\n');
    });

    it('carries 1 MiB of random bytes intact from the guest to the host', async () => {
      const host = await HostPeer.serve(hostNs.name, '10.77.1.1', 7003, '');
      peers.push(host);
      const sum = md5Of(await tapGuest.ok('dd if=/dev/urandom of=/tmp/blob bs=4096 count=256 2>/dev/null && md5sum /tmp/blob'));
      await tapGuest.ok('nc 10.77.1.1 7003 < /tmp/blob');
      const report = await host.report;
      assert.equal(report.bytes, 1 << 20);
      assert.equal(report.md5, sum);
    });

    it('carries 1 MiB of random bytes intact from the host to the guest', async () => {
      const host = HostPeer.connect(hostNs.name, '10.77.1.2', 7004, `random:${1 << 20}`);
      peers.push(host);
      const out = await tapGuest.ok('nc -l -p 7004 < /dev/null | md5sum');
      assert.equal(md5Of(out), (await host.report).sentMd5);
    });
  });

  describe('--tunnet=bridge:<bridge>', () => {
    it('puts the tap on the bridge: the guest reaches an interface in another namespace through it', async () => {
      assert.match(bridgeNs.ip('-o', 'link', 'show', 'master', 'br0'), /tap\d+/);
      const out = await bridgeGuest.ok('ping -c 3 10.77.2.1');
      assert.match(out, /3 packets transmitted, 3 packets received/);
      // The far end learnt the guest's MAC through the bridge.
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(await bridgeGuest.ok('ip link show eth0'))![1];
      assert.match(farNs.ip('neigh', 'show', '10.77.2.2'), new RegExp(`lladdr ${mac}`));
    });

    it('refuses a bridge that does not exist: one line, exit 1, no tap left', function () {
      const ns = namespace('nosuch');
      const r = spawnSync(
        'ip',
        ['netns', 'exec', ns.name, process.execPath, path.join(root, 'bin/lguest'), '--tunnet=bridge:nosuch', `--initrd=${initrd}`, '64', kernel],
        { encoding: 'utf8', input: '' },
      );
      assert.equal(r.stderr, 'lguest: --tunnet=bridge:nosuch: bridge nosuch does not exist\n');
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(ns.ip('-o', 'link', 'show'), /tap/);
    });
  });
});
