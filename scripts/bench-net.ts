/**
 * Network benchmark: real guests, real tap device, real shared file. Prints
 * TCP throughput guest -> host over --tunnet and guest -> guest over
 * --sharenet (busybox dd and nc in the guests), and ping round trips on both.
 *
 *   npx tsc -p . && node dist/scripts/bench-net.js [--mib N] [--pings N]
 *
 * Root only (it makes a network namespace, lgbench-<pid>, and removes it);
 * the guests' addresses exist only inside it and on the shared file, so no
 * traffic leaves the machine. The two parts run one after the other, so the
 * guests being measured have the machine's cores to themselves.
 * Needs scripts/setup (the guest image).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bootAll, Guest, HostPeer, Netns } from '../test/integration/guest-console';

interface Args {
  mib: number;
  pings: number;
}

function parse(argv: string[]): Args {
  const args: Args = { mib: 8, pings: 20 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--mib') args.mib = Number(argv[++i]);
    else if (argv[i] === '--pings') args.pings = Number(argv[++i]);
    else throw new Error(`bench-net: unknown argument ${argv[i]}`);
  }
  if (!(Number.isInteger(args.mib) && args.mib > 0 && Number.isInteger(args.pings) && args.pings > 0)) {
    throw new Error('bench-net: --mib and --pings take positive integers');
  }
  return args;
}

/** `count` 64 KiB blocks of zeros: `mib` MiB. */
const zeros = (mib: number): string => `dd if=/dev/zero bs=65536 count=${mib * 16} 2>/dev/null`;

const rate = (bytes: number, seconds: number): string =>
  `${(bytes / 2 ** 20).toFixed(1)} MiB in ${seconds.toFixed(2)} s = ${(bytes / 2 ** 20 / seconds).toFixed(2)} MiB/s (${((bytes * 8) / 1e6 / seconds).toFixed(1)} Mbit/s)`;

/** busybox ping's summary line, as "min/avg/max a/b/c ms", after checking that every ping was answered. */
async function pingTimes(from: Guest, to: string, count: number): Promise<string> {
  const out = await from.ok(`ping -c ${count} -i 0.2 ${to}`);
  const received = /(\d+) packets received/.exec(out);
  const times = /round-trip min\/avg\/max = ([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out);
  if (!received || !times) throw new Error(`bench-net: no ping summary in:\n${out}`);
  return `min/avg/max ${times[1]}/${times[2]}/${times[3]} ms over ${count} pings (${received[1]} answered)`;
}

/** One guest on a tap in a namespace of ours: ping the host, then send it `mib` MiB. */
async function benchTap(args: Args): Promise<void> {
  const ns = Netns.create(`lgbench-${process.pid}`);
  const guest = Guest.start({ label: 'tap guest', options: ['--tunnet=10.77.5.1'], netns: ns.name });
  let host: HostPeer | null = null;
  try {
    await bootAll([guest]);
    await guest.ok('ip addr add 10.77.5.2/24 dev eth0 && ip link set eth0 up');
    console.log(`tap (--tunnet) ping guest -> host: ${await pingTimes(guest, '10.77.5.1', args.pings)}`);
    host = await HostPeer.serve(ns.name, '10.77.5.1', 5001, '');
    await guest.ok(`${zeros(args.mib)} | nc 10.77.5.1 5001`, 30 * 60 * 1000);
    // Timed on the host, from the first byte received to the guest's end of file.
    const report = await host.report;
    console.log(`tap (--tunnet) TCP guest -> host: ${rate(report.bytes, report.seconds)}`);
  } finally {
    host?.kill();
    await guest.powerOff();
    ns.del();
  }
}

/** Two guests on one shared file: ping, then `mib` MiB from one to the other. */
async function benchShareNet(args: Args): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-bench-net-'));
  const file = path.join(dir, 'net');
  const guests = [1, 2].map((n) => Guest.start({ label: `guest ${n}`, options: [`--sharenet=${file}`] }));
  const [a, b] = guests;
  try {
    await bootAll(guests);
    await Promise.all(guests.map((g, i) => g.ok(`ip addr add 10.77.6.${i + 1}/24 dev eth0 && ip link set eth0 up`)));
    console.log(`shared file (--sharenet) ping guest -> guest: ${await pingTimes(a, '10.77.6.2', args.pings)}`);
    // The receiver's stdin stays open: busybox nc stops sending once its peer has closed its half.
    await b.ok('sleep 999999 | nc -l -p 5001 > /dev/null &');
    await b.ok("until netstat -ltn | grep -q ':5001 '; do usleep 100000; done");
    // Timed in the sender: its nc ends when the receiver has had everything and closed.
    const out = await a.ok(`time sh -c '${zeros(args.mib)} | nc 10.77.6.2 5001'`, 30 * 60 * 1000);
    const real = /real\s+(\d+)m\s*([\d.]+)s/.exec(out);
    if (!real) throw new Error(`bench-net: no time output in:\n${out}`);
    const seconds = Number(real[1]) * 60 + Number(real[2]);
    console.log(`shared file (--sharenet) TCP guest -> guest: ${rate(args.mib * 2 ** 20, seconds)}`);
  } finally {
    await Promise.all(guests.map((g) => g.powerOff()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  await benchTap(args);
  await benchShareNet(args);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
