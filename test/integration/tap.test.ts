import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

/**
 * --tunnet against real tap devices and bridges, each test in a network
 * namespace of its own (lgt-<pid>-<n>), which it deletes afterwards. The
 * back end runs in a child process inside the namespace (tap-peer.ts); all
 * traffic stays inside it.
 */

const TAP_PEER = path.join(__dirname, 'tap-peer.js');
const GUEST_MAC = '02:00:00:00:4c:47';
const ARP = 0x0806;
const IPV4 = 0x0800;

let nsCount = 0;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Send `count` UDP datagrams to `addr` port 9 from inside `ns`. */
function udpFrom(ns: string, addr: string, count = 1): void {
  const code =
    "const s=require('dgram').createSocket('udp4');let n=+process.argv[2];" +
    "const go=()=>s.send('lguest',9,process.argv[1],(e)=>{if(e)throw e;if(--n>0)go();else s.close();});go();";
  execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', code, addr, String(count)]);
}

const macBytes = (mac: string): Buffer => Buffer.from(mac.replace(/:/g, ''), 'hex');
const ipBytes = (a: string): Buffer => Buffer.from(a.split('.').map(Number));
const etherType = (f: Buffer): number => f.readUInt16BE(12);

type Reply = Record<string, unknown>;

class TapPeer {
  private readonly replies: ((r: Reply) => void)[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
    lines: readline.Interface,
  ) {
    lines.on('line', (l) => this.replies.shift()?.(JSON.parse(l) as Reply));
    this.exited = new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', () => r())));
  }

  static start(ns: string, spec: object): Promise<TapPeer | { code: number | null; stderr: string }> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, TAP_PEER, JSON.stringify(spec)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const lines = readline.createInterface({ input: child.stdout! });
    return new Promise((resolve) => {
      lines.once('line', (l) => resolve(new TapPeer(child, (JSON.parse(l) as { name: string }).name, lines)));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  }

  request(req: Reply): Promise<Reply> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.stdin!.write(JSON.stringify(req) + '\n');
    });
  }

  /** Frames from the host, until one passes `want`. */
  async readUntil(want: (f: Buffer) => boolean): Promise<Buffer> {
    for (;;) {
      const frames = ((await this.request({ op: 'read' })).frames as string[]).map((h) => Buffer.from(h, 'hex'));
      const f = frames.find(want);
      if (f) return f;
    }
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

describe('tap back end (--tunnet)', function () {
  let ns: string;
  const peers: TapPeer[] = [];

  async function open(spec: object): Promise<TapPeer> {
    const p = await TapPeer.start(ns, spec);
    if (!(p instanceof TapPeer)) throw new Error(`tap did not open: exit ${p.code}: ${p.stderr}`);
    peers.push(p);
    return p;
  }

  function tapMac(name: string): string {
    return /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', ns, '-o', 'link', 'show', 'dev', name))![1];
  }

  beforeEach(() => {
    ns = `lgt-${process.pid}-${nsCount++}`;
    ip('netns', 'add', ns);
  });

  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.kill()));
    ip('netns', 'del', ns);
  });

  describe('with an address', () => {
    it('makes a tap with that address on a /24, up', async () => {
      const tap = await open({ ip: '10.77.0.1' });
      assert.match(tap.name, /^tap\d+$/);
      assert.match(ip('-n', ns, '-o', '-4', 'addr', 'show', 'dev', tap.name), /inet 10\.77\.0\.1\/24 /);
      assert.match(ip('-n', ns, '-o', 'link', 'show', 'dev', tap.name), /<[^>]*\bUP\b[^>]*>/);
    });

    it("passes the host's ARP request to the guest and the guest's reply to the host", async () => {
      const tap = await open({ ip: '10.77.0.1' });
      const hostMac = tapMac(tap.name);
      assert.notEqual(hostMac, GUEST_MAC);
      udpFrom(ns, '10.77.0.2');
      const request = await tap.readUntil((f) => etherType(f) === ARP && f.readUInt16BE(20) === 1);
      assert.deepEqual(request.subarray(0, 6), macBytes('ff:ff:ff:ff:ff:ff'));
      assert.deepEqual(request.subarray(6, 12), macBytes(hostMac));
      assert.deepEqual(request.subarray(28, 32), ipBytes('10.77.0.1'), 'sender IP');
      assert.deepEqual(request.subarray(38, 42), ipBytes('10.77.0.2'), 'target IP');

      const reply = Buffer.concat([
        macBytes(hostMac),
        macBytes(GUEST_MAC),
        Buffer.from([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02]),
        macBytes(GUEST_MAC),
        ipBytes('10.77.0.2'),
        macBytes(hostMac),
        ipBytes('10.77.0.1'),
        Buffer.alloc(18),
      ]);
      await tap.request({ op: 'write', frame: reply.toString('hex') });
      // The host learnt the guest's MAC, and sends it the datagram it held back.
      const datagram = await tap.readUntil((f) => etherType(f) === IPV4 && f[23] === 17);
      assert.deepEqual(datagram.subarray(0, 6), macBytes(GUEST_MAC));
      assert.deepEqual(datagram.subarray(30, 34), ipBytes('10.77.0.2'));
      assert.match(ip('-n', ns, 'neigh', 'show', '10.77.0.2', 'dev', tap.name), new RegExp(`lladdr ${GUEST_MAC} `));
    });

    it('keeps frames the guest cannot take yet off the descriptor, for poll() later', async () => {
      const tap = await open({ ip: '10.77.0.1' });
      ip('-n', ns, 'neigh', 'add', '10.77.0.3', 'lladdr', GUEST_MAC, 'dev', tap.name, 'nud', 'permanent');
      udpFrom(ns, '10.77.0.3', 5);
      const quiet = (await tap.request({ op: 'quiet' })) as { readable: boolean; queued: string[] };
      assert.equal(quiet.readable, false);
      const udp = quiet.queued.map((h) => Buffer.from(h, 'hex')).filter((f) => etherType(f) === IPV4 && f[23] === 17);
      assert.equal(udp.length, 5);
      for (const f of udp) assert.equal(f.subarray(42).toString(), 'lguest');
    });

    it('deletes the tap when closed', async () => {
      const tap = await open({ ip: '10.77.0.1' });
      await tap.request({ op: 'close' });
      assert.throws(() => ip('-n', ns, 'link', 'show', 'dev', tap.name), /does not exist/);
    });
  });

  describe('on a bridge', () => {
    it('attaches the tap to the bridge, up, and frames on the bridge reach it', async () => {
      ip('-n', ns, 'link', 'add', 'lgtbr0', 'type', 'bridge');
      ip('-n', ns, 'addr', 'add', '10.78.0.1/24', 'dev', 'lgtbr0');
      ip('-n', ns, 'link', 'set', 'lgtbr0', 'up');
      const tap = await open({ bridge: 'lgtbr0' });
      const link = ip('-n', ns, '-o', 'link', 'show', 'dev', tap.name);
      assert.match(link, / master lgtbr0 /);
      assert.match(link, /<[^>]*\bUP\b[^>]*>/);
      udpFrom(ns, '10.78.0.2');
      const request = await tap.readUntil((f) => etherType(f) === ARP && f.readUInt16BE(20) === 1);
      assert.deepEqual(request.subarray(38, 42), ipBytes('10.78.0.2'));
    });

    it('refuses a bridge that does not exist, naming it, and leaves no tap behind', async () => {
      const failed = await TapPeer.start(ns, { bridge: 'nosuchbr' });
      assert.ok(!(failed instanceof TapPeer));
      assert.equal(failed.code, 1);
      assert.equal(failed.stderr, '--tunnet=bridge:nosuchbr: bridge nosuchbr does not exist\n');
      assert.doesNotMatch(ip('-n', ns, '-o', 'link', 'show'), /tap/);
    });

    it('refuses an interface that is not a bridge', async () => {
      ip('-n', ns, 'link', 'add', 'lgtv0', 'type', 'veth', 'peer', 'name', 'lgtv1');
      const failed = await TapPeer.start(ns, { bridge: 'lgtv0' });
      assert.ok(!(failed instanceof TapPeer));
      assert.equal(failed.code, 1);
      assert.equal(failed.stderr, '--tunnet=bridge:lgtv0: lgtv0 is not a bridge\n');
    });
  });
});
