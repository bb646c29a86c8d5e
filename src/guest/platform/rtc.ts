import { IoBus } from '../io-bus';
import { VirtualClock } from '../clock';

const SECONDS = 0x00;
const SECONDS_ALARM = 0x01;
const MINUTES = 0x02;
const MINUTES_ALARM = 0x03;
const HOURS = 0x04;
const HOURS_ALARM = 0x05;
const DAY_OF_WEEK = 0x06;
const DAY_OF_MONTH = 0x07;
const MONTH = 0x08;
const YEAR = 0x09;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
/** Where PC BIOSes keep the century (the FADT's default CENTURY register). */
const CENTURY = 0x32;
/** The registers that hold the time of day, in BCD or binary as register B says. */
const TIME_REGISTERS = new Uint8Array(0x80);
for (const r of [SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY]) TIME_REGISTERS[r] = 1;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_BINARY = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const D_VRT = 0x80;

const NS_PER_S = 1e9;
/** UIP rises this long before each update (MC146818A datasheet). */
const UIP_LEAD_NS = 244_000;

/**
 * The MC146818-style CMOS clock and NVRAM behind ports 0x70 (index) and
 * 0x71 (data), IRQ8.
 *
 * Time is kept as whole epoch seconds on a timeline t = virtual ns + phase,
 * with an update (the seconds tick) at every multiple of 1e9 in t: the date
 * registers are computed from it when read, in the format register B asks
 * for, and writes move it. The periodic, alarm and update-ended flags of
 * register C are folded in lazily, from the last look to now, when the
 * guest reads register C or when a timer deadline passes. It starts at the
 * host's time of day (UTC, as Debian expects the hardware clock to be) and
 * then follows the virtual clock, so it never disagrees with the PIT.
 */
export class Rtc {
  private index = 0;
  private readonly ram = new Uint8Array(128);
  private regA = 0x26;
  private regB = B_24H;
  private regC = 0;
  private phaseNs = 0;
  /** Epoch seconds at t = 0. */
  private baseSec = 0;
  /** Time while updates are halted (SET, or the divider held in reset). */
  private frozenSec: number | null = null;
  private lastEvalNs: number;
  private deadline = Infinity;

  constructor(
    bus: IoBus,
    private readonly clock: VirtualClock,
    /** Drives IRQ8 (the IRQF bit of register C). */
    private readonly setIrq: (level: boolean) => void,
  ) {
    const now = clock.nowNs();
    this.lastEvalNs = now;
    this.startAt(Date.now() * 1e6, now);
    bus.registerPorts(
      0x70,
      2,
      {
        read: (offset) => (offset === 0 ? 0xff : this.readData()),
        write: (offset, _size, value) => {
          // Bit 7 of the index port masks NMIs on a real PC; we have none.
          if (offset === 0) this.index = value & 0x7f;
          else this.writeData(value & 0xff);
        },
      },
      true,
    );
  }

  /** Sets the clock so that virtual time `now` is `epochNs`. */
  private startAt(epochNs: number, now: number): void {
    const sub = epochNs % NS_PER_S;
    this.phaseNs = (((sub - now) % NS_PER_S) + NS_PER_S) % NS_PER_S;
    this.baseSec = Math.floor(epochNs / NS_PER_S) - Math.floor((now + this.phaseNs) / NS_PER_S);
  }

  private t(now: number): number {
    return now + this.phaseNs;
  }

  private get halted(): boolean {
    return this.frozenSec !== null;
  }

  private dividerRunning(): boolean {
    return (this.regA & 0x60) !== 0x60;
  }

  private seconds(now: number): number {
    return this.frozenSec ?? this.baseSec + Math.floor(this.t(now) / NS_PER_S);
  }

  /** Moves the clock to `sec` without disturbing the divider phase. */
  private setSeconds(sec: number, now: number): void {
    if (this.halted) this.frozenSec = sec;
    else this.baseSec = sec - Math.floor(this.t(now) / NS_PER_S);
  }

  /** Periodic interrupt period from register A's rate select, or 0 for none. */
  private periodNs(): number {
    const rs = this.regA & 0x0f;
    if (rs === 0) return 0;
    // Rates 1 and 2 alias 8 and 9 with the 32.768 kHz time base.
    const shift = rs < 3 ? rs + 7 : rs;
    return (NS_PER_S * (1 << (shift - 1))) / 32768;
  }

  private encode(value: number): number {
    return this.regB & B_BINARY ? value : (Math.floor(value / 10) << 4) | (value % 10);
  }

  private decode(value: number): number {
    return this.regB & B_BINARY ? value : (value >> 4) * 10 + (value & 0x0f);
  }

  private encodeHours(hours: number): number {
    if (this.regB & B_24H) return this.encode(hours);
    const h12 = hours % 12 === 0 ? 12 : hours % 12;
    return this.encode(h12) | (hours >= 12 ? 0x80 : 0);
  }

  private decodeHours(value: number): number {
    if (this.regB & B_24H) return this.decode(value);
    const h = this.decode(value & 0x7f) % 12;
    return value & 0x80 ? h + 12 : h;
  }

  /** The time-of-day registers for epoch second `sec`, by index. */
  private timeRegister(reg: number, sec: number): number {
    const d = new Date(sec * 1000);
    switch (reg) {
      case SECONDS: return this.encode(d.getUTCSeconds());
      case MINUTES: return this.encode(d.getUTCMinutes());
      case HOURS: return this.encodeHours(d.getUTCHours());
      case DAY_OF_WEEK: return this.encode(d.getUTCDay() + 1);
      case DAY_OF_MONTH: return this.encode(d.getUTCDate());
      case MONTH: return this.encode(d.getUTCMonth() + 1);
      case YEAR: return this.encode(d.getUTCFullYear() % 100);
      default: return this.encode(Math.floor(d.getUTCFullYear() / 100));
    }
  }

  private writeTimeRegister(reg: number, value: number, now: number): void {
    const d = new Date(this.seconds(now) * 1000);
    let year = d.getUTCFullYear();
    let month = d.getUTCMonth();
    let day = d.getUTCDate();
    let hours = d.getUTCHours();
    let minutes = d.getUTCMinutes();
    let secs = d.getUTCSeconds();
    switch (reg) {
      case SECONDS: secs = this.decode(value); break;
      case MINUTES: minutes = this.decode(value); break;
      case HOURS: hours = this.decodeHours(value); break;
      case DAY_OF_MONTH: day = this.decode(value); break;
      case MONTH: month = this.decode(value) - 1; break;
      case YEAR: year = Math.floor(year / 100) * 100 + this.decode(value); break;
      case CENTURY: year = this.decode(value) * 100 + (year % 100); break;
      default: return; // the day of the week follows from the date
    }
    this.setSeconds(Date.UTC(year, month, day, hours, minutes, secs) / 1000, now);
  }

  /** Alarm registers with the two top bits set match any value. */
  private alarmMatches(sec: number): boolean {
    const match = (alarmReg: number, timeReg: number) => {
      const alarm = this.ram[alarmReg];
      return (alarm & 0xc0) === 0xc0 || alarm === this.timeRegister(timeReg, sec);
    };
    return match(SECONDS_ALARM, SECONDS) && match(MINUTES_ALARM, MINUTES) && match(HOURS_ALARM, HOURS);
  }

  /** Folds the events between the last look and `now` into register C. */
  private evaluate(now: number): void {
    const from = this.lastEvalNs;
    if (now <= from) return;
    this.lastEvalNs = now;
    if (!this.halted) {
      const before = Math.floor(this.t(from) / NS_PER_S);
      const after = Math.floor(this.t(now) / NS_PER_S);
      if (after > before) {
        this.regC |= C_UF;
        // A day of missed updates covers every possible alarm time.
        for (let s = Math.max(before + 1, after - 86400); s <= after; s++) {
          if (this.alarmMatches(this.baseSec + s)) {
            this.regC |= C_AF;
            break;
          }
        }
      }
    }
    const period = this.periodNs();
    if (period > 0 && this.dividerRunning()) {
      if (Math.floor(this.t(now) / period) > Math.floor(this.t(from) / period)) this.regC |= C_PF;
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const enabled = (this.regC & this.regB & (C_PF | C_AF | C_UF)) !== 0;
    if (enabled) this.regC |= C_IRQF;
    else this.regC &= ~C_IRQF;
    this.setIrq(enabled);
    this.updateDeadline();
  }

  private updateDeadline(): void {
    this.deadline = Infinity;
    // While IRQF is up, nothing that happens can raise IRQ8 again.
    if (this.regC & C_IRQF) return;
    const t = this.t(this.lastEvalNs);
    const period = this.periodNs();
    if (this.regB & B_PIE && period > 0 && this.dividerRunning()) {
      this.deadline = Math.min(this.deadline, (Math.floor(t / period) + 1) * period - this.phaseNs);
    }
    if (this.regB & (B_AIE | B_UIE) && !this.halted) {
      this.deadline = Math.min(this.deadline, (Math.floor(t / NS_PER_S) + 1) * NS_PER_S - this.phaseNs);
    }
  }

  private readData(): number {
    const now = this.clock.nowNs();
    if (TIME_REGISTERS[this.index]) return this.timeRegister(this.index, this.seconds(now));
    switch (this.index) {
      case REG_A: {
        const uip = !this.halted && this.t(now) % NS_PER_S >= NS_PER_S - UIP_LEAD_NS;
        return this.regA | (uip ? A_UIP : 0);
      }
      case REG_B:
        return this.regB;
      case REG_C: {
        this.evaluate(now);
        const value = this.regC;
        this.regC = 0;
        this.updateIrq();
        return value;
      }
      case REG_D:
        return D_VRT;
      default:
        return this.ram[this.index];
    }
  }

  private writeData(value: number): void {
    const now = this.clock.nowNs();
    if (TIME_REGISTERS[this.index]) {
      this.writeTimeRegister(this.index, value, now);
      return;
    }
    switch (this.index) {
      case REG_A: {
        this.evaluate(now);
        const wasRunning = this.dividerRunning();
        this.regA = value & 0x7f;
        if (wasRunning && !this.dividerRunning()) this.halt(now);
        // Out of divider reset, the first update comes half a second later.
        if (!wasRunning && this.dividerRunning()) this.resume(now, NS_PER_S / 2);
        this.updateIrq();
        return;
      }
      case REG_B: {
        this.evaluate(now);
        const wasSet = (this.regB & B_SET) !== 0;
        // Setting SET stops updates and clears UIE (MC146818A).
        this.regB = value & B_SET ? value & ~B_UIE : value;
        if (!wasSet && value & B_SET) this.halt(now);
        if (wasSet && !(value & B_SET)) this.resume(now, null);
        this.updateIrq();
        return;
      }
      case REG_C:
      case REG_D:
        return;
      default:
        this.ram[this.index] = value;
    }
  }

  private halt(now: number): void {
    if (!this.halted) this.frozenSec = this.seconds(now);
  }

  /**
   * Restarts updates once neither SET nor the divider reset holds them,
   * with the next update `firstUpdateNs` from now (null keeps the phase).
   */
  private resume(now: number, firstUpdateNs: number | null): void {
    if (this.frozenSec === null || this.regB & B_SET || !this.dividerRunning()) return;
    const sec = this.frozenSec;
    this.frozenSec = null;
    if (firstUpdateNs !== null) this.phaseNs = (((NS_PER_S - firstUpdateNs - now) % NS_PER_S) + NS_PER_S) % NS_PER_S;
    this.setSeconds(sec, now);
  }

  update(ns: number): void {
    if (ns >= this.deadline) this.evaluate(ns);
  }

  nextDeadlineNs(): number {
    return this.deadline;
  }
}
