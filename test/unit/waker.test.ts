import { strict as assert } from 'node:assert';
import { UserError } from '../../src/launcher/user-error';
import * as fs from 'node:fs';
import { pipe } from '../../src/launcher/native';
import { WakerClient } from '../../src/launcher/waker-client';
import { ControlOp, encodeRecord, RecordDecoder, RECORD_BYTES } from '../../src/waker/protocol';

/** True once `pid` has exited (gone, or a zombie waiting to be reaped). */
function gone(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pid: number, limitMs = 10_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!gone(pid)) {
    assert.ok(Date.now() < until, `process ${pid} is still running`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A short look for a wake-up that must not come. */
const NOT_WITHIN_MS = 200;

describe('waker', () => {
  describe('control protocol', () => {
    it('encodes and decodes records, keeping a partial one for later', () => {
      const bytes = Buffer.concat([encodeRecord(ControlOp.Ignore, 5), encodeRecord(ControlOp.Rearm, 300)]);
      assert.equal(bytes.length, 2 * RECORD_BYTES);
      const d = new RecordDecoder();
      assert.deepEqual(d.push(bytes.subarray(0, 6)), [{ op: ControlOp.Ignore, fd: 5 }]);
      assert.deepEqual(d.push(bytes.subarray(6)), [{ op: ControlOp.Rearm, fd: 300 }]);
      assert.throws(() => d.push(Buffer.from([9, 0, 5, 0])), /bad control op 9/);
    });
  });

  describe('process', () => {
    const open: number[] = [];
    let waker: WakerClient | null = null;

    function inputPipe(): { r: number; w: number } {
      const [r, w] = pipe();
      open.push(r, w);
      return { r, w };
    }

    afterEach(async () => {
      if (waker) {
        const pid = waker.pid;
        waker.stop();
        await waitGone(pid);
        waker = null;
      }
      for (const fd of open.splice(0)) {
        try {
          fs.closeSync(fd);
        } catch {
          // already closed by the test
        }
      }
    });

    it('wakes the launcher once per input until re-armed, naming the launcher fd', () => {
      const a = inputPipe();
      const b = inputPipe();
      waker = WakerClient.start([a.r, b.r]);
      fs.writeSync(b.w, 'x');
      assert.equal(waker.wait(Infinity), true);
      assert.deepEqual(waker.drain(), [b.r]);
      // Still unread, but reported already: silent until re-armed.
      assert.equal(waker.wait(NOT_WITHIN_MS), false);
      waker.rearm(b.r);
      assert.equal(waker.wait(Infinity), true);
      assert.deepEqual(waker.drain(), [b.r]);
      fs.readSync(b.r, Buffer.alloc(1));
      waker.rearm(b.r);
      fs.writeSync(a.w, 'y');
      assert.equal(waker.wait(Infinity), true);
      assert.deepEqual(waker.drain(), [a.r]);
      assert.deepEqual(waker.drain(), []);
    });

    it('reports end of file, and stops watching an ignored fd for good', () => {
      const a = inputPipe();
      const b = inputPipe();
      waker = WakerClient.start([a.r, b.r]);
      fs.closeSync(a.w);
      assert.equal(waker.wait(Infinity), true);
      assert.deepEqual(waker.drain(), [a.r]);
      waker.ignore(a.r);
      waker.rearm(a.r); // ignored stays ignored
      fs.writeSync(b.w, 'z'); // and the others still work
      assert.equal(waker.wait(Infinity), true);
      assert.deepEqual(waker.drain(), [b.r]);
      assert.equal(waker.wait(NOT_WITHIN_MS), false);
    });

    it('times out when nothing happens', () => {
      const a = inputPipe();
      waker = WakerClient.start([a.r]);
      assert.equal(waker.wait(50), false);
      assert.deepEqual(waker.drain(), []);
    });

    it('exits when the launcher closes the control pipe', async () => {
      waker = WakerClient.start([inputPipe().r]);
      const pid = waker.pid;
      assert.equal(gone(pid), false);
      waker.stop();
      waker = null;
      await waitGone(pid);
    });

    it('shows its own death to the launcher as a one-line error from drain()', async () => {
      const w = WakerClient.start([inputPipe().r]);
      process.kill(w.pid, 'SIGKILL');
      await waitGone(w.pid);
      assert.equal(w.wait(Infinity), true);
      assert.throws(
        () => w.drain(),
        (e: unknown) => e instanceof UserError && e.message === `the waker process (pid ${w.pid}) died: stopping the guest`,
      );
      w.stop();
    });

    it('refuses fds it was not given', () => {
      const a = inputPipe();
      waker = WakerClient.start([a.r]);
      assert.throws(() => waker!.rearm(a.w), /is not watched/);
    });
  });
});
