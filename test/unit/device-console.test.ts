import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConsoleBackend } from '../../src/launcher/devices/console';

describe('console back end', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function fifo(name: string): string {
    const p = path.join(dir, name);
    assert.equal(spawnSync('mkfifo', [p]).status, 0);
    return p;
  }

  it('reads the input there is, and notes end of file without failing', () => {
    const file = path.join(dir, 'in');
    fs.writeFileSync(file, 'typed');
    const fd = fs.openSync(file, 'r');
    try {
      const con = new ConsoleBackend(fd, -1);
      assert.equal(Buffer.from(con.readInput()!).toString(), 'typed');
      assert.equal(con.readInput(), null);
      assert.equal(con.inputClosed, true);
      assert.equal(con.readInput(), null);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('returns null for no input yet on a non-blocking descriptor, and stays open', () => {
    const p = fifo('in');
    const rd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wr = fs.openSync(p, fs.constants.O_WRONLY);
    try {
      const con = new ConsoleBackend(rd, -1);
      assert.equal(con.readInput(), null);
      assert.equal(con.inputClosed, false);
      fs.writeSync(wr, 'x');
      assert.equal(Buffer.from(con.readInput()!).toString(), 'x');
    } finally {
      fs.closeSync(rd);
      fs.closeSync(wr);
    }
  });

  it('writes everything, waiting out a full non-blocking pipe', async () => {
    const p = fifo('out');
    const outFile = path.join(dir, 'copy');
    const rd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wr = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    // A reader in another process, so the pipe drains while we are blocked writing.
    const cat = spawn('sh', ['-c', `cat "${p}" > "${outFile}"`], { stdio: 'ignore' });
    const done = new Promise((resolve) => cat.on('exit', resolve));
    const data = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    try {
      // Our own read end (never read) keeps the pipe from breaking before cat opens it.
      new ConsoleBackend(-1, wr).write(data);
    } finally {
      fs.closeSync(wr);
      fs.closeSync(rd);
    }
    await done;
    assert.ok(fs.readFileSync(outFile).equals(Buffer.from(data)));
  });

  it('drops output once the reader is gone, instead of failing', () => {
    const p = fifo('out');
    const rd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wr = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(rd);
    try {
      const con = new ConsoleBackend(-1, wr);
      con.write(Buffer.from('nobody hears this'));
      assert.equal(con.outputClosed, true);
      con.write(Buffer.from('or this'));
    } finally {
      fs.closeSync(wr);
    }
  });
});
