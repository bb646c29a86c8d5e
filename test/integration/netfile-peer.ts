/**
 * One launcher's network port, as a separate process, for the multi-process
 * netfile tests: `node netfile-peer.js <file> <mac hex>`. It joins and prints
 * {"slot":n} (or the UserError on stderr, exit 1), then serves one JSON
 * request per stdin line with one JSON line on stdout:
 *
 *   {op:"send", frame}            send a hex frame
 *   {op:"recv"}                   -> {frames:[hex...]} everything waiting
 *   {op:"wait"}                   -> {} once the wake FIFO is readable (drained)
 *   {op:"promisc", on}
 *   {op:"sendHalf", frame}        -> {paused:true} with the frame half copied, then hangs for ever
 *   {op:"blast", dst, id, count, startedAfter?}
 *                                 -> {dropped} after `count` numbered frames and an end marker;
 *                                    first {started:true} after `startedAfter` frames, if given
 *   {op:"collect", senders}       -> {received, bad, disorder} once every sender's end marker came
 *
 * If the file loses pages under the port (truncated), "lost: <reason>" goes to stderr.
 */
import * as readline from 'node:readline';
import { poll, pollEvents } from '../../src/launcher/native';
import { UserError } from '../../src/launcher/user-error';
import { MAX_FRAME } from '../../src/netfile/layout';
import { ShareNet } from '../../src/netfile/sharenet';

const [file, macHex] = process.argv.slice(2);
let pauseMidFrame = false;

function halfWritten(): void {
  if (!pauseMidFrame) return;
  process.stdout.write(JSON.stringify({ paused: true }) + '\n');
  // Hold the reservation until killed.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

let port: ShareNet;
try {
  port = ShareNet.join(file, Buffer.from(macHex, 'hex'), {
    halfWritten,
    onLost: (reason) => process.stderr.write(`lost: ${reason}\n`),
  });
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  process.stderr.write(e.message + '\n');
  process.exit(1);
}

const ETHERTYPE = [0x88, 0xb5];
const buf = new Uint8Array(MAX_FRAME);

function waitForWake(): void {
  while (poll([{ fd: port.wakeFd, events: pollEvents().IN }], Infinity)[0] === 0);
  port.drain();
}

/**
 * Stress frames: [dst, src, ethertype, id, seq (u32), fill...], length and
 * fill a function of (id, seq) so a torn or mixed-up frame shows. seq
 * 0xffffffff is the end marker.
 */
function stressFrame(dst: Buffer, src: Buffer, id: number, seq: number): Uint8Array {
  const length = 60 + ((seq * 7919 + id * 31) % (1514 - 60));
  const f = Buffer.alloc(length);
  dst.copy(f, 0);
  src.copy(f, 6);
  f.set(ETHERTYPE, 12);
  f[14] = id;
  f.writeUInt32LE(seq >>> 0, 15);
  for (let i = 19; i < length; i++) f[i] = (id * 13 + seq + i) & 0xff;
  return f;
}

function checkStressFrame(f: Uint8Array): { id: number; seq: number } | null {
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  const id = b[14];
  const seq = b.readUInt32LE(15);
  const expect = stressFrame(b.subarray(0, 6), b.subarray(6, 12), id, seq);
  return Buffer.compare(expect, b) === 0 ? { id, seq } : null;
}

const handlers: Record<string, (req: Record<string, unknown>) => unknown> = {
  send(req) {
    port.send(Buffer.from(req.frame as string, 'hex'));
    return {};
  },
  recv() {
    const frames: string[] = [];
    for (let n = port.receive(buf); n > 0; n = port.receive(buf)) frames.push(Buffer.from(buf.subarray(0, n)).toString('hex'));
    return { frames };
  },
  wait() {
    waitForWake();
    return {};
  },
  promisc(req) {
    port.setPromiscuous(req.on as boolean);
    return {};
  },
  sendHalf(req) {
    pauseMidFrame = true;
    port.send(Buffer.from(req.frame as string, 'hex'));
    throw new Error('sendHalf returned');
  },
  blast(req) {
    const dst = Buffer.from(req.dst as string, 'hex');
    const src = Buffer.from(macHex, 'hex');
    const id = req.id as number;
    for (let seq = 0; seq < (req.count as number); seq++) {
      if (seq === req.startedAfter) process.stdout.write(JSON.stringify({ started: true }) + '\n');
      port.send(stressFrame(dst, src, id, seq));
    }
    const dropped = port.droppedFull;
    // The end marker must get through: retry it while the receiver's ring is full.
    for (let before = port.droppedFull, sent = false; !sent; before = port.droppedFull) {
      port.send(stressFrame(dst, src, id, 0xffffffff));
      sent = port.droppedFull === before;
    }
    return { dropped };
  },
  collect(req) {
    const senders = req.senders as number;
    const received = new Map<number, number>();
    const last = new Map<number, number>();
    let bad = 0;
    let disorder = 0;
    let ended = 0;
    while (ended < senders) {
      waitForWake();
      for (let n = port.receive(buf); n > 0; n = port.receive(buf)) {
        const f = checkStressFrame(buf.subarray(0, n));
        if (!f) {
          bad++;
        } else if (f.seq === 0xffffffff) {
          ended++;
        } else {
          if (f.seq <= (last.get(f.id) ?? -1)) disorder++;
          last.set(f.id, f.seq);
          received.set(f.id, (received.get(f.id) ?? 0) + 1);
        }
      }
    }
    return { received: Object.fromEntries(received), bad, disorder };
  },
};

process.stdout.write(JSON.stringify({ slot: port.slot }) + '\n');
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line) as Record<string, unknown>;
  process.stdout.write(JSON.stringify(handlers[req.op as string](req)) + '\n');
});
