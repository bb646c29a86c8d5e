/**
 * How late a halted guest's one-shot timers may fire.
 *
 * Debian's kernel ticks 250 times a second even when idle (HZ_PERIODIC),
 * some 4,000 instructions a tick: woken for each, an idle guest would cost
 * the host a good part of a core. With slack it sleeps through ticks, and
 * its tick code counts the ones it missed from the clock. The slack is kept
 * to what nobody can notice: at most 1/64 of the time since the guest last
 * did anything but keep time (ran user code, or touched a device other than
 * its timers and interrupt controllers), and never more than the user's
 * limit. So `sleep 5` typed at the shell ends at most 78 ms late (1.6%),
 * a loop of short sleeps runs its user code every time and gets next to no
 * slack, and an idle shell prompt wakes the host a few times a second.
 */
export class TimerSlack {
  private lastActive = 0;

  constructor(private readonly maxNs: number) {}

  /** Virtual time the guest last did something that can be seen. */
  get lastActiveNs(): number {
    return this.lastActive;
  }

  active(nowNs: number): void {
    this.lastActive = nowNs;
  }

  /** The slack a one-shot timer may have at `nowNs`. */
  ns(nowNs: number): number {
    return Math.min(this.maxNs, Math.max(0, nowNs - this.lastActive) / IDLE_SHARE);
  }
}

/** Slack is at most the idle time over this. */
const IDLE_SHARE = 64;
