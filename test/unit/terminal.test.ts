import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipe } from '../../src/launcher/native';
import { ConsoleInput, ConsoleReader, CTRL_C_EXIT, Terminal, TripleCtrlC } from '../../src/launcher/terminal';

const TERMINAL_JS = path.join(__dirname, '..', '..', 'src', 'launcher', 'terminal.js');
const CTRL_C = Uint8Array.of(3);

/** A console reader that hands out prepared reads. */
class ScriptedReader implements ConsoleReader {
  inputClosed = false;
  constructor(readonly inFd: number, private readonly reads: (Uint8Array | 'eof')[]) {}
  readInput(): Uint8Array | null {
    const next = this.reads.shift();
    if (next === 'eof' || next === undefined) {
      this.inputClosed = true;
      return null;
    }
    return next;
  }
}

describe('terminal', () => {
  describe('three ^C', () => {
    it('ends on the third ^C within the window, each in its own read', () => {
      let now = 0;
      const c = new TripleCtrlC(() => now);
      assert.equal(c.note(CTRL_C), false);
      now += 400;
      assert.equal(c.note(CTRL_C), false);
      now += 400;
      assert.equal(c.note(CTRL_C), true);
    });

    it('does not count a paste of several ^C, other keys in between, or slow presses', () => {
      let now = 0;
      const c = new TripleCtrlC(() => now);
      assert.equal(c.note(Uint8Array.of(3, 3, 3)), false);
      c.note(CTRL_C);
      c.note(CTRL_C);
      assert.equal(c.note(Uint8Array.of(0x61)), false);
      assert.equal(c.note(CTRL_C), false);
      now += TripleCtrlC.WINDOW_MS + 1;
      assert.equal(c.note(CTRL_C), false);
      now += TripleCtrlC.WINDOW_MS + 1;
      assert.equal(c.note(CTRL_C), false);
      // Those two slow ones started a new window: one more quick pair ends it.
      now += 10;
      assert.equal(c.note(CTRL_C), false);
      assert.equal(c.note(CTRL_C), true);
    });
  });

  describe('console input', () => {
    it('delivers what is typed, ends on three ^C and stops watching at end of input', () => {
      const delivered: string[] = [];
      const log: string[] = [];
      const reader = new ScriptedReader(7, [Uint8Array.of(0x68, 0x69), CTRL_C, CTRL_C, CTRL_C]);
      const input = new ConsoleInput(reader, (b) => delivered.push(Buffer.from(b).toString('hex')), (m) => log.push(m), () => 0);
      assert.equal(input.fd, 7);
      assert.equal(input.readable(), 'rearm');
      assert.equal(input.readable(), 'rearm');
      assert.equal(input.readable(), 'rearm');
      assert.deepEqual(input.readable(), { exit: CTRL_C_EXIT });
      // The ^C went to the guest too: one ^C is just a key.
      assert.deepEqual(delivered, ['6869', '03', '03', '03']);
      assert.equal(input.readable(), 'ignore');
      assert.match(log.join('\n'), /end of input/);
    });
  });

  describe('raw mode', () => {
    it('leaves standard input alone when it is not a terminal', () => {
      const [r, w] = pipe();
      const listeners = process.listenerCount('SIGTERM');
      const t = Terminal.takeOver(r);
      assert.equal(t.raw, false);
      assert.equal(process.listenerCount('SIGTERM'), listeners);
      t.restore();
      fs.closeSync(r);
      fs.closeSync(w);
    });

    // Each case runs a process that makes its terminal (a pty from script(1))
    // raw and then leaves in its own way. Node itself puts a terminal back as
    // it found it when the process ends, so the state after the process is
    // no evidence: the fixture looks at its terminal at the last moment our
    // code could have restored it (a later 'exit' or 'uncaughtExceptionMonitor'
    // listener; the re-raise of a signal).
    const fixture = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lguest-term-')), 'fixture.js');
    fs.writeFileSync(
      fixture,
      `const { Terminal } = require(${JSON.stringify(TERMINAL_JS)});
       const { execSync } = require('child_process');
       const probe = (where) => {
         const s = execSync('stty -a', { stdio: ['inherit', 'pipe', 'inherit'] }).toString();
         const flags = ['icanon', 'echo', 'isig', 'icrnl'].map((f) => s.match(new RegExp('(^|\\\\s)(-?' + f + ')(\\\\s|$)'))[2]);
         console.log(where + ': ' + flags.join(' '));
       };
       const t = Terminal.takeOver(0);
       probe('raw=' + t.raw);
       process.on('exit', () => probe('exit'));
       process.on('uncaughtExceptionMonitor', () => probe('uncaught'));
       const kill = process.kill;
       process.kill = (pid, signal) => { probe('signal'); return kill.call(process, pid, signal); };
       const how = process.argv[2];
       if (how === 'exit') process.exit(0);
       if (how === 'error') process.exit(3);
       if (how === 'throw') throw new Error('launcher bug');
       if (how === 'reject') Promise.reject(new Error('async launcher bug'));
       if (how.startsWith('SIG')) { kill.call(process, process.pid, how); setInterval(() => {}, 1000); }
       if (how === 'restore') { t.restore(); probe('restore'); t.restore(); }`,
    );

    /** The fixture's output lines and the shell's "status=N" under a pty. */
    function runInPty(how: string): string[] {
      const script = `${process.execPath} ${fixture} ${how}; echo "status=$?"`;
      // A bounded wait: a fixture that never dies must fail the test, not hang it.
      const r = spawnSync('script', ['-qfec', script, '/dev/null'], { encoding: 'utf8', input: '', timeout: 30_000, killSignal: 'SIGKILL' });
      return r.stdout.split(/\r?\n/).filter((l) => l && !l.startsWith('    at '));
    }

    const RAW = '-icanon -echo -isig -icrnl';
    const COOKED = 'icanon echo isig icrnl';
    const SIGNO: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
    const cases: [string, string[]][] = [
      ['exit', [`exit: ${COOKED}`, 'status=0']],
      ['restore', [`restore: ${COOKED}`, `exit: ${COOKED}`, 'status=0']],
      ['error', [`exit: ${COOKED}`, 'status=3']],
      ['throw', [`uncaught: ${COOKED}`, `exit: ${COOKED}`, 'status=1']],
      ['reject', [`uncaught: ${COOKED}`, `exit: ${COOKED}`, 'status=1']],
      ...Object.entries(SIGNO).map(([s, n]): [string, string[]] => [s, [`signal: ${COOKED}`, `status=${128 + n}`]]),
    ];
    for (const [how, expected] of cases) {
      it(`makes the terminal raw and restores it on ${how}`, () => {
        const lines = runInPty(how);
        assert.equal(lines[0], `raw=true: ${RAW}`, lines.join('\n'));
        const probes = lines.filter((l) => /^(exit|restore|uncaught|signal): |^status=/.test(l));
        assert.deepEqual(probes, expected, lines.join('\n'));
      });
    }
  });
});
