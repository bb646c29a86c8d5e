/**
 * The --tunnet back end in a process of its own, so that tests can run it
 * inside a network namespace: `ip netns exec <ns> node tap-peer.js <spec json>`.
 * It opens the tap and prints {"name":…} (or the UserError on stderr, exit 1),
 * then serves one JSON request per stdin line with one JSON line on stdout:
 *
 *   {op:"read"}           -> {frames:[hex...]} once at least one frame came
 *   {op:"write", frame}   write a hex frame to the tap
 *   {op:"quiet"}          -> {readable, queued:[hex...]}: onReadable(), then
 *                            whether the fd is still readable, then what poll() gives
 *   {op:"close"}          close the tap (the device goes away)
 */
import * as readline from 'node:readline';
import { TapNet, TunnetSpec } from '../../src/launcher/devices/tap';
import { poll, pollEvents } from '../../src/launcher/native';
import { UserError } from '../../src/launcher/user-error';

let tap: TapNet;
try {
  tap = TapNet.open(JSON.parse(process.argv[2]) as TunnetSpec);
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  process.stderr.write(e.message + '\n');
  process.exit(1);
}

const readable = (timeoutMs: number): boolean => poll([{ fd: tap.fd, events: pollEvents().IN }], timeoutMs)[0] !== 0;
const hex = (f: Uint8Array): string => Buffer.from(f).toString('hex');

function pollAll(): string[] {
  const frames: string[] = [];
  for (let f = tap.poll(); f; f = tap.poll()) frames.push(hex(f));
  return frames;
}

const handlers: Record<string, (req: Record<string, unknown>) => unknown> = {
  read() {
    for (;;) {
      while (!readable(Infinity));
      const frames = pollAll();
      if (frames.length > 0) return { frames };
    }
  },
  write(req) {
    tap.send(Buffer.from(req.frame as string, 'hex'));
    return {};
  },
  quiet() {
    tap.onReadable();
    return { readable: readable(0), queued: pollAll() };
  },
  close() {
    tap.close();
    return {};
  },
};

process.stdout.write(JSON.stringify({ name: tap.name }) + '\n');
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line) as Record<string, unknown>;
  process.stdout.write(JSON.stringify(handlers[req.op as string](req)) + '\n');
});
