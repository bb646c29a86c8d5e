import { strict as assert } from 'node:assert';
import { STRING_YIELD } from '../../src/guest/cpu/strings';
import { GuestError } from '../../src/guest/guest-error';
import { Guest, InputResult, runLoop, Wakeups } from '../../src/launcher/run-loop';

/** Wake-ups scripted by the test: which fds become ready before each drain. */
class ScriptedWakeups implements Wakeups {
  readonly log: string[] = [];
  constructor(private readonly ready: number[][]) {}
  wait(timeoutMs: number): boolean {
    this.log.push(`wait ${timeoutMs}`);
    return this.ready.length > 0 && this.ready[0].length > 0;
  }
  drain(): number[] {
    return this.ready.shift() ?? [];
  }
  rearm(fd: number): void {
    this.log.push(`rearm ${fd}`);
  }
  ignore(fd: number): void {
    this.log.push(`ignore ${fd}`);
  }
}

function source(fd: number, results: InputResult[]) {
  return { fd, readable: (): InputResult => results.shift() ?? 'rearm' };
}

describe('run loop', () => {
  it('sleeps until the deadline when the guest halts, and serves what the waker reports', async () => {
    const runs: string[] = [];
    const guest: Guest = {
      exitCode: null,
      run: () => {
        runs.push('run');
        return 'halt';
      },
      msUntilDeadline: () => 42,
    };
    const w = new ScriptedWakeups([[], [7], [7, 9], [9]]);
    const status = await runLoop(guest, w, [source(7, ['rearm', 'ignore']), source(9, ['rearm', { exit: 2 }])]);
    assert.equal(status, 2);
    assert.deepEqual(w.log, ['wait 42', 'wait 42', 'rearm 7', 'wait 42', 'ignore 7', 'rearm 9', 'wait 42']);
    assert.equal(runs.length, 4);
  });

  it('does not sleep while the guest is busy, yet lets Node run (signal handlers, timers)', async () => {
    let timerFired = false;
    setTimeout(() => (timerFired = true), 0);
    const guest: Guest = {
      get exitCode() {
        return timerFired ? 0 : null;
      },
      run: () => {
        const until = Date.now() + 1;
        while (Date.now() < until);
        return 'budget';
      },
      msUntilDeadline: () => assert.fail('asked for a deadline while busy'),
    };
    const w = new ScriptedWakeups([]);
    assert.equal(await runLoop(guest, w, []), 0);
    assert.deepEqual(w.log, []);
  });

  it('returns the status of a guest that powers off, and lets guest deaths through', async () => {
    const off: Guest = { exitCode: 3, run: () => 'budget', msUntilDeadline: () => Infinity };
    assert.equal(await runLoop(off, new ScriptedWakeups([]), []), 3);
    const dead: Guest = {
      exitCode: null,
      run: () => {
        throw new GuestError('triple fault');
      },
      msUntilDeadline: () => Infinity,
    };
    await assert.rejects(runLoop(dead, new ScriptedWakeups([]), []), /triple fault/);
  });

  it('takes a rep instruction that yielded (STRING_YIELD) as a used slice: input is served, then the guest runs on', async () => {
    let runs = 0;
    const guest: Guest = {
      get exitCode() {
        return runs >= 3 ? 0 : null;
      },
      run: () => {
        runs++;
        throw STRING_YIELD;
      },
      msUntilDeadline: () => assert.fail('asked for a deadline while busy'),
    };
    const w = new ScriptedWakeups([[7], [7]]);
    assert.equal(await runLoop(guest, w, [source(7, [])]), 0);
    assert.equal(runs, 3);
    assert.deepEqual(w.log, ['rearm 7', 'rearm 7']);
  });
});
