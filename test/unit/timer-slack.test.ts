import assert from 'node:assert/strict';
import { TimerSlack } from '../../src/guest/timer-slack';

describe('timer slack', () => {
  const MS = 1e6;

  it('grows as 1/64 of the time since the guest was last active', () => {
    const slack = new TimerSlack(200 * MS);
    assert.equal(slack.ns(0), 0);
    assert.equal(slack.ns(64 * MS), 1 * MS);
    assert.equal(slack.ns(5000 * MS), 78.125 * MS);
  });

  it('never passes the limit', () => {
    const slack = new TimerSlack(200 * MS);
    assert.equal(slack.ns(3600_000 * MS), 200 * MS);
    assert.equal(new TimerSlack(0).ns(3600_000 * MS), 0);
  });

  it('starts again from nothing when the guest is active', () => {
    const slack = new TimerSlack(200 * MS);
    slack.active(10_000 * MS);
    assert.equal(slack.lastActiveNs, 10_000 * MS);
    assert.equal(slack.ns(10_000 * MS), 0);
    assert.equal(slack.ns(10_640 * MS), 10 * MS);
  });
});
