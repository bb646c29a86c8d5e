import { performance } from 'node:perf_hooks';
import { BootState } from './boot-state';
import { VirtualClock } from './clock';
import { Cpu, RunExit } from './cpu/cpu';
import { IF } from './cpu/flags';
import { IoBus } from './io-bus';
import { GuestMemory } from './memory';
import { PcPlatform } from './platform/pc';
import { SerialBackend } from './platform/uart';
import { TimerSlack } from './timer-slack';

export interface MachineOptions {
  /** Where COM1's output goes. */
  serial: SerialBackend;
  /** Run the clock from the instruction count (reproducible runs), in ns per instruction. */
  nsPerInstruction?: number;
  /** The most a halted guest's one-shot timers may fire late (ms; see TimerSlack). */
  timerSlackMs?: number;
  /** --verbose logger. */
  log?: (msg: string) => void;
}

/**
 * Instructions between two looks at the timers. Small enough that a timer
 * interrupt is seen within a fraction of a millisecond of coming due, large
 * enough that the look costs nothing next to the work.
 */
const INSTRUCTIONS_PER_CHECK = 20_000;
/** How long one run() may keep the thread before the launcher serves input. */
const SLICE_MS = 4;

/**
 * The whole guest computer: the TS CPU core on guest memory, with the PC
 * platform around it. This is what lg.ko and the real CPU were to the
 * original launcher: `run()` runs the guest until it halts or its slice is
 * used, and the launcher's run loop serves input and sleeps in between.
 */
export class Machine {
  readonly bus = new IoBus();
  readonly clock: VirtualClock;
  readonly platform: PcPlatform;
  readonly cpu: Cpu;
  /** Set when the guest has powered off or reset: the launcher's exit status. */
  exitCode: number | null = null;
  /** The guest ended by resetting the machine (`reboot`), not by powering off. */
  rebooted = false;
  readonly slack: TimerSlack;
  /** Device accesses and user-mode entries when last looked at. */
  private activity = 0;
  /** Virtual time the guest last started running (the slack counts from there). */
  private resumedNs = 0;

  constructor(readonly memory: GuestMemory, boot: BootState, opts: MachineOptions) {
    this.clock = new VirtualClock(opts.nsPerInstruction ?? 0);
    this.slack = new TimerSlack((opts.timerSlackMs ?? 0) * 1e6);
    // Before anything reads the clock: in instruction-count mode time starts
    // at zero and never runs backwards.
    this.clock.followInstructions(() => (this.cpu ? this.cpu.instructionCount : 0));
    // A reset (the i8042 pulse, port 0x92 or 0xCF9) is how `reboot` ends: the
    // launcher exits with status 0, as the original did on LHCALL_SHUTDOWN,
    // or starts the guest again if the user asked (--restart-on-reboot).
    this.platform = new PcPlatform(this.bus, this.clock, {
      serial: opts.serial,
      reset: () => {
        if (this.exitCode === null) this.rebooted = true;
        this.stop(0);
      },
    });
    this.cpu = new Cpu(memory, this.bus, this.platform.intr, this.clock);
    if (opts.log) this.cpu.log = opts.log;
    memory.deviceWrites = (addr, len) => this.cpu.invalidatePhys(addr, len);
    this.cpu.reset(boot);
  }

  run(): 'halt' | 'budget' {
    const end = performance.now() + SLICE_MS;
    this.resumedNs = this.clock.nowNs();
    do {
      this.platform.update();
      const exit = this.cpu.run(INSTRUCTIONS_PER_CHECK);
      this.noteActivity();
      if (exit === RunExit.Halt) {
        // hlt with interrupts off can never wake: it is how Linux ends
        // `poweroff` and `halt` on a machine without ACPI.
        if ((this.cpu.getEflags() & IF) === 0) {
          this.stop(0);
          return 'halt';
        }
        const deadline = this.platform.nextDeadlineNs();
        if (!this.clock.deterministic || deadline === Infinity) return 'halt';
        this.clock.idleUntil(deadline);
      }
    } while (this.exitCode === null && performance.now() < end);
    return 'budget';
  }

  private noteActivity(): void {
    const activity = this.bus.activity + this.cpu.userEntries;
    if (activity !== this.activity) {
      this.activity = activity;
      this.slack.active(this.clock.nowNs());
    }
  }

  /**
   * How long a halted guest sleeps at most: until its next timer interrupt,
   * except that a one-shot timer may wait for the slack (TimerSlack) to
   * pass since the guest last ran. A running guest gets every timer on
   * time, and input wakes a halted one at once.
   */
  msUntilDeadline(): number {
    const now = this.clock.nowNs();
    const ns = this.platform.wakeDeadlineNs(this.resumedNs + this.slack.ns(now)) - now;
    return ns === Infinity ? Infinity : Math.max(0, Math.ceil(ns / 1e6));
  }

  private stop(status: number): void {
    if (this.exitCode === null) this.exitCode = status;
  }
}
