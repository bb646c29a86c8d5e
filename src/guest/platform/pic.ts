import { AccessSize, BusDevice, IoBus } from '../io-bus';
import { InterruptLine } from '../interrupts';

/** The master's input the slave is wired to. */
const CASCADE = 2;

/**
 * One 8259A: eight request lines, the IRR/ISR/IMR registers and the
 * ICW/OCW programming model. Two of them, the slave cascaded into the
 * master's IR2, make up the PC's interrupt controller (see `Pic` below).
 *
 * Linux drives it in a narrow way (i8259.c): ICW1-4 once, then only IMR
 * writes, specific EOIs (0x60+n) and the odd ISR peek through OCW3. The rest
 * of the programming model is here too because it costs little and old
 * code (and test kernels) use it: rotation, special mask, poll, auto-EOI.
 */
class Chip8259 {
  /** Current level of each request input, as the devices drive it. */
  private lines = 0;
  /** Latched requests: set on a rising edge (edge mode) or while high (level mode). */
  irr = 0;
  isr = 0;
  imr = 0xff;
  /** This chip's ELCR byte: a 1 makes that input level triggered. */
  elcr = 0;
  private ltim = false;
  vectorBase = 0;
  /** IR with the lowest priority is `lowestPriority`; rotation moves it. */
  private lowestPriority = 7;
  private autoEoi = false;
  private rotateOnAutoEoi = false;
  private specialMask = false;
  private specialFullyNested = false;
  private readIsr = false;
  private poll = false;
  /** Which initialisation word the next data-port write is (0 = none). */
  private initStep = 0;
  private needIcw4 = false;
  private single = false;

  constructor(
    private readonly isMaster: boolean,
    /** Called whenever the chip's INT output may have changed. */
    private readonly changed: () => void,
  ) {}

  /**
   * Level-mode inputs: those the ELCR or ICW1.LTIM select, and on the
   * master the cascade input, which follows the slave's INT output so that
   * a slave request that goes away is gone from the master too.
   */
  private get levelMask(): number {
    return this.ltim ? 0xff : this.elcr | (this.isMaster ? 1 << CASCADE : 0);
  }

  private levelMode(mask: number): boolean {
    return (this.levelMask & mask) !== 0;
  }

  /** Level-mode requests follow their line at once, whatever they latched before. */
  setElcr(value: number): void {
    this.elcr = value;
    const level = this.levelMask;
    this.irr = (this.irr & ~level) | (this.lines & level);
    this.changed();
  }

  setLine(irq: number, level: boolean): void {
    const mask = 1 << irq;
    const wasHigh = (this.lines & mask) !== 0;
    if (level) {
      this.lines |= mask;
      // Edge mode latches the rising edge; level mode follows the line.
      if (!wasHigh || this.levelMode(mask)) this.irr |= mask;
    } else {
      this.lines &= ~mask;
      if (this.levelMode(mask)) this.irr &= ~mask;
    }
    this.changed();
  }

  /** Priority rank of an IR (0 = highest) under the current rotation. */
  private rank(irq: number): number {
    return (irq - this.lowestPriority - 1) & 7;
  }

  /** The highest priority IR among `bits`, or -1. */
  private highest(bits: number): number {
    if (bits === 0) return -1;
    for (let r = 0; r < 8; r++) {
      const irq = (this.lowestPriority + 1 + r) & 7;
      if (bits & (1 << irq)) return irq;
    }
    return -1;
  }

  /** The IR this chip would present to the CPU now, or -1. */
  requested(): number {
    const irq = this.highest(this.irr & ~this.imr);
    if (irq < 0) return -1;
    // In-service interrupts of equal or higher priority block it, except
    // those masked in special mask mode and, in special fully nested mode,
    // the cascade input (so a higher slave IRQ can nest in a lower one).
    let blocking = this.isr;
    if (this.specialMask) blocking &= ~this.imr;
    if (this.specialFullyNested && this.isMaster) blocking &= ~(1 << CASCADE);
    const inService = this.highest(blocking);
    if (inService >= 0 && this.rank(inService) <= this.rank(irq)) return -1;
    return irq;
  }

  /** The INTA cycle for `irq`: move it from IRR to ISR. */
  acknowledge(irq: number): void {
    const mask = 1 << irq;
    if (!this.levelMode(mask)) this.irr &= ~mask;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowestPriority = irq;
    } else {
      this.isr |= mask;
    }
    this.changed();
  }

  private eoi(irq: number, rotate: boolean): void {
    if (irq < 0) return;
    this.isr &= ~(1 << irq);
    if (rotate) this.lowestPriority = irq;
  }

  /** Poll command: the next read returns 0x80|irq and acknowledges it. */
  private pollRead(): number {
    this.poll = false;
    const irq = this.requested();
    if (irq < 0) return 0;
    this.acknowledge(irq);
    return 0x80 | irq;
  }

  readCommand(): number {
    if (this.poll) return this.pollRead();
    return this.readIsr ? this.isr : this.irr;
  }

  readData(): number {
    if (this.poll) return this.pollRead();
    return this.imr;
  }

  writeCommand(value: number): void {
    if (value & 0x10) {
      // ICW1: start initialisation. The mask and the in-service state are
      // cleared, edge detection restarts, reads select the IRR again.
      this.initStep = 2;
      this.needIcw4 = (value & 0x01) !== 0;
      this.single = (value & 0x02) !== 0;
      this.ltim = (value & 0x08) !== 0;
      this.imr = 0;
      this.isr = 0;
      this.irr &= this.levelMask & this.lines;
      this.lowestPriority = 7;
      this.specialMask = false;
      this.readIsr = false;
      this.poll = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      this.specialFullyNested = false;
    } else if (value & 0x08) {
      // OCW3
      if (value & 0x04) this.poll = true;
      if (value & 0x02) this.readIsr = (value & 0x01) !== 0;
      if (value & 0x40) this.specialMask = (value & 0x20) !== 0;
    } else {
      // OCW2: the three high bits select the EOI/rotation command.
      const level = value & 7;
      switch (value >> 5) {
        case 0: this.rotateOnAutoEoi = false; break;
        case 1: this.eoi(this.highest(this.isr), false); break;
        case 3: this.eoi(level, false); break;
        case 4: this.rotateOnAutoEoi = true; break;
        case 5: this.eoi(this.highest(this.isr), true); break;
        case 6: this.lowestPriority = level; break;
        case 7: this.eoi(level, true); break;
      }
    }
    this.changed();
  }

  writeData(value: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = value & 0xf8;
        this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
        break;
      case 3:
        // ICW3: the cascade wiring is fixed on a PC (slave on IR2).
        this.initStep = this.needIcw4 ? 4 : 0;
        break;
      case 4:
        this.autoEoi = (value & 0x02) !== 0;
        this.specialFullyNested = (value & 0x10) !== 0;
        this.initStep = 0;
        break;
      default:
        this.imr = value & 0xff;
    }
    this.changed();
  }
}

/**
 * The PC's interrupt controller: master at 0x20/0x21 (IRQ 0-7), slave at
 * 0xA0/0xA1 (IRQ 8-15) cascaded into the master's IR2, and the ELCR at
 * 0x4D0/0x4D1 that makes single lines level triggered (the PCI ones).
 *
 * It is the CPU's INTR line: `pending()` is a cached flag so the CPU can
 * sample it at every block boundary for free.
 */
export class Pic implements InterruptLine {
  private readonly master = new Chip8259(true, () => this.recompute());
  private readonly slave = new Chip8259(false, () => this.recompute());
  private output = false;
  private recomputing = false;

  constructor(bus: IoBus) {
    bus.registerPorts(0x20, 2, this.portsOf(this.master), true);
    bus.registerPorts(0xa0, 2, this.portsOf(this.slave), true);
    bus.registerPorts(
      0x4d0,
      2,
      {
        read: (offset) => (offset === 0 ? this.master : this.slave).elcr,
        write: (offset, _size, value) => {
          // IRQ 0, 1, 2, 8 and 13 are always edge triggered on a PC.
          if (offset === 0) this.master.setElcr(value & 0xf8);
          else this.slave.setElcr(value & 0xde);
        },
      },
      true,
    );
  }

  private portsOf(chip: Chip8259): BusDevice {
    return {
      read: (offset: number, _size: AccessSize) => (offset === 0 ? chip.readCommand() : chip.readData()),
      write: (offset: number, _size: AccessSize, value: number) => {
        if (offset === 0) chip.writeCommand(value & 0xff);
        else chip.writeData(value & 0xff);
      },
    };
  }

  /** Drive ISA/PCI request line `irq` (0-15) to `level`. */
  setIrq(irq: number, level: boolean): void {
    if (irq >= 8) this.slave.setLine(irq - 8, level);
    else this.master.setLine(irq, level);
  }

  /** A short high-then-low pulse: an edge-triggered event such as a timer tick. */
  pulseIrq(irq: number): void {
    this.setIrq(irq, true);
    this.setIrq(irq, false);
  }

  /** Make `irq` level triggered, as a BIOS does for the IRQs it routes PCI to. */
  setLevelTriggered(irq: number): void {
    if (irq >= 8) this.slave.setElcr(this.slave.elcr | ((1 << (irq - 8)) & 0xde));
    else this.master.setElcr(this.master.elcr | ((1 << irq) & 0xf8));
  }

  /**
   * Keeps the slave's INT output on the master's IR2 and caches the
   * master's INT output for `pending()`.
   */
  private recompute(): void {
    if (this.recomputing) return;
    this.recomputing = true;
    this.master.setLine(CASCADE, this.slave.requested() >= 0);
    this.recomputing = false;
    this.output = this.master.requested() >= 0;
  }

  pending(): boolean {
    return this.output;
  }

  /**
   * The INTA cycle. Asked with nothing to deliver, the 8259A answers IR7
   * without setting its ISR bit: the "spurious IRQ7" Linux checks for. (A
   * spurious IRQ15 needs a slave request to vanish in the middle of the
   * INTA cycle; here that cycle is a single call, and the master's cascade
   * input follows the slave, so the slave always has a request to give.)
   */
  acknowledge(): number {
    const irq = this.master.requested();
    if (irq < 0) return this.master.vectorBase + 7;
    this.master.acknowledge(irq);
    if (irq !== CASCADE) return this.master.vectorBase + irq;
    const slaveIrq = this.slave.requested();
    this.slave.acknowledge(slaveIrq);
    return this.slave.vectorBase + slaveIrq;
  }
}
