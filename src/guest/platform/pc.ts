import { IoBus } from '../io-bus';
import { VirtualClock } from '../clock';
import { InterruptLine } from '../interrupts';
import { PciDeviceSpec, PciSlot } from './pci-device';
import { Pic } from './pic';
import { Pit } from './pit';
import { SystemControl } from './system-control';
import { Rtc } from './rtc';
import { SerialBackend, Uart } from './uart';
import { I8042 } from './i8042';
import { FastResetPort, ResetControlRegister } from './reset-control';
import { PciHost } from './pci-host';

export interface PcPlatformOptions {
  /** Where COM1's output goes. */
  serial: SerialBackend;
  /** The guest asked for a reset (keyboard controller, port 0x92 or 0xCF9). */
  reset: () => void;
}

/**
 * The legacy kernel command-line options this platform needs: there are no
 * ACPI tables, no MP table and no (IO-)APIC, so Linux should not look for
 * them; the console is COM1; the TSC runs from the same clock as the PIT,
 * so it need not be watched (which lets Linux keep time by it, and run its
 * tick as a one-shot high-resolution timer that copes with coming late); the
 * crypto self-tests at boot (a 4096-bit DH among them) cost most of the
 * boot's instructions on an interpreted CPU and test the kernel, not us.
 */
export const PC_KERNEL_ARGS = 'console=ttyS0 acpi=off noapic nolapic tsc=reliable cryptomgr.notests';

/** COM1's I/O ports and IRQ. */
const COM1 = 0x3f8;
const COM1_IRQ = 4;
const RTC_IRQ = 8;

/**
 * The PC that Linux finds around the CPU: the 8259A pair, the 8254 PIT
 * with port 0x61, the CMOS RTC, a 16550A on COM1, the i8042 (for reset),
 * the POST port, and a PCI host bridge for the virtio devices. Ports
 * nobody claims read as all ones (COM2-4, the DMA controller, VGA, ...),
 * which is how Linux learns they are absent.
 *
 * The run loop calls `update()` between CPU slices to deliver timer
 * interrupts that have come due, and sleeps until `wakeDeadlineNs()` when
 * the guest halts; both are a couple of comparisons unless a timer fired.
 */
export class PcPlatform {
  readonly pic: Pic;
  readonly intr: InterruptLine;
  readonly pit: Pit;
  readonly rtc: Rtc;
  readonly uart: Uart;
  readonly pci: PciHost;

  constructor(bus: IoBus, private readonly clock: VirtualClock, opts: PcPlatformOptions) {
    const pic = new Pic(bus);
    this.pic = pic;
    this.intr = pic;
    this.pit = new Pit(bus, clock, () => pic.pulseIrq(0));
    new SystemControl(bus, clock, this.pit);
    this.rtc = new Rtc(bus, clock, (level) => pic.setIrq(RTC_IRQ, level));
    this.uart = new Uart(opts.serial, (level) => pic.setIrq(COM1_IRQ, level));
    bus.registerPorts(COM1, 8, this.uart);
    new I8042(bus, opts.reset, (irq, level) => pic.setIrq(irq, level));
    new FastResetPort(bus, opts.reset);
    this.pci = new PciHost(bus, pic, new ResetControlRegister(opts.reset));
    // POST codes: Linux also writes here for I/O delays. Claimed so nothing
    // else can take it; writes are dropped, reads float high.
    bus.registerPorts(0x80, 1, { read: () => 0xff, write: () => undefined }, true);
  }

  addPciDevice(spec: PciDeviceSpec): PciSlot {
    return this.pci.addPciDevice(spec);
  }

  /** Advances the timers to the virtual clock's now, raising the IRQs that came due. */
  update(): void {
    const now = this.clock.nowNs();
    this.pit.update(now);
    this.rtc.update(now);
  }

  /** Virtual time of the next timer interrupt, or Infinity if none is armed. */
  nextDeadlineNs(): number {
    return Math.min(this.pit.nextDeadlineNs(), this.rtc.nextDeadlineNs());
  }

  /**
   * When a halted guest must next be woken, if one-shot timers may fire as
   * late as `notBeforeNs`: a guest that programs a one-shot timer reads the
   * clock when it fires and catches up on what it missed (Linux counts the
   * ticks it missed from the clocksource), while every interrupt of a
   * periodic timer (the PIT in modes 2 and 3, the RTC) counts, so those stay
   * on time.
   */
  wakeDeadlineNs(notBeforeNs: number): number {
    const pit = this.pit.nextDeadlineNs();
    const rtc = this.rtc.nextDeadlineNs();
    return this.pit.periodic ? Math.min(pit, rtc) : Math.min(rtc, Math.max(pit, notBeforeNs));
  }
}
