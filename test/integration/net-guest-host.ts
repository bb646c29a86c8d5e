/**
 * The host's end of a TCP connection with a guest, run inside the test's
 * network namespace (`ip netns exec <ns> node net-guest-host.js ...`):
 *
 *   serve <addr> <port> <reply>      listen, print "listening", take one
 *                                    connection, read it to its end, send
 *                                    <reply>, close
 *   connect <addr> <port> <payload>  connect (retrying while refused: the guest's
 *                                    nc may not listen yet), send <payload>, end
 *                                    our side, read the guest's side to its end
 *
 * A <reply> or <payload> of the form random:<n> is n random bytes.
 * Either way the last line printed is a JSON report: {bytes, seconds (first
 * byte to end of file), md5, text (if short)} of what was received, and
 * sentMd5, the MD5 of what was sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';

const [mode, addr, portArg, dataArg] = process.argv.slice(2);
const port = Number(portArg);
const random = /^random:(\d+)$/.exec(dataArg);
const data = random ? randomBytes(Number(random[1])) : Buffer.from(dataArg, 'latin1');
const sentMd5 = createHash('md5').update(data).digest('hex');
/** How long `connect` keeps retrying a refused connection. */
const CONNECT_LIMIT_MS = 5 * 60 * 1000;
const TEXT_LIMIT = 4096;

/** Reads `socket` to its end and reports; resolves when done. */
function receive(socket: net.Socket): Promise<void> {
  let bytes = 0;
  let first = 0n;
  const chunks: Buffer[] = [];
  const md5 = createHash('md5');
  socket.on('data', (d: Buffer) => {
    if (bytes === 0) first = process.hrtime.bigint();
    bytes += d.length;
    md5.update(d);
    if (bytes <= TEXT_LIMIT) chunks.push(d);
  });
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('end', () => {
      const seconds = bytes > 0 ? Number(process.hrtime.bigint() - first) / 1e9 : 0;
      const text = bytes <= TEXT_LIMIT ? Buffer.concat(chunks).toString('latin1') : undefined;
      process.stdout.write(JSON.stringify({ bytes, seconds, md5: md5.digest('hex'), text, sentMd5 }) + '\n');
      resolve();
    });
  });
}

function serve(): void {
  // Half open, here and in connect(): the guest's end of file must not end what we send.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    server.close();
    receive(socket).then(
      () => socket.end(data),
      (e: Error) => fail(e),
    );
  });
  server.on('error', fail);
  server.listen(port, addr, () => process.stdout.write('listening\n'));
}

function connect(deadline: number): void {
  const socket = net.connect({ port, host: addr, allowHalfOpen: true });
  socket.once('connect', () => {
    socket.end(data);
    receive(socket).catch(fail);
  });
  socket.once('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'ECONNREFUSED' && Date.now() < deadline) setTimeout(() => connect(deadline), 200);
    else fail(e);
  });
}

function fail(e: Error): void {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}

if (mode === 'serve') serve();
else if (mode === 'connect') connect(Date.now() + CONNECT_LIMIT_MS);
else fail(new Error(`unknown mode ${mode}`));
