import { AccessSize, BusDevice, IoBus } from '../io-bus';
import { PciDeviceSpec, PciSlot } from './pci-device';
import { PciFunction } from './pci-function';
import { Pic } from './pic';

/** Where the BIOS would put I/O BARs: above the legacy ISA range. */
export const PCI_IO_START = 0xc000;
/**
 * Memory BARs go in a hole above RAM (which always ends below 0xC0000000)
 * and below 0xFEC00000, where the IO-APIC and local APIC would live.
 */
export const PCI_MEM_START = 0xe0000000;
const PCI_MEM_END = 0xfec00000;

/**
 * INTA# of the device in slot n goes to PCI_IRQS[(n - 1) % 4], as a BIOS
 * routes PIRQA-D; these IRQs are level triggered (ELCR) and shareable.
 */
const PCI_IRQS = [10, 11, 5, 9];

const CONFIG_ENABLE = 0x80000000;

/** An Intel 440FX-style host bridge, bus 0 device 0. */
const HOST_BRIDGE: PciDeviceSpec = {
  vendorId: 0x8086,
  deviceId: 0x1237,
  revision: 0x02,
  classCode: 0x060000,
  subsystemVendorId: 0,
  subsystemId: 0,
  bars: [],
  capabilities: [],
};

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * The PCI host bridge with configuration mechanism #1: 0xCF8 takes a dword
 * address (enable bit, bus, device, function, register), 0xCFC-0xCFF are
 * the data window for byte, word and dword accesses. Bus 0 only, one
 * function per slot. Devices get their BARs placed and their INTA#
 * routed before the guest starts, as a BIOS would leave them, because
 * without ACPI or a $PIR table Linux trusts PCI_INTERRUPT_LINE
 * (arch/x86/pci/irq.c: pirq_enable_irq keeps dev->irq read from it).
 *
 * 0xCF9 (a byte port inside this window) is the reset control register.
 */
export class PciHost {
  private address = 0;
  private readonly slots: (PciFunction | undefined)[] = [];
  private nextIo = PCI_IO_START;
  private nextMem = PCI_MEM_START;
  private readonly irqAsserted = new Array<number>(16).fill(0);

  constructor(
    private readonly bus: IoBus,
    private readonly pic: Pic,
    private readonly resetControl: BusDevice,
  ) {
    this.slots[0] = new PciFunction(bus, HOST_BRIDGE, null, () => undefined);
    bus.registerPorts(0xcf8, 8, {
      read: (offset, size) => this.read(offset, size),
      write: (offset, size, value) => this.write(offset, size, value),
    });
  }

  /** Plugs a device into the next free slot, BARs placed and INTA# routed. */
  addPciDevice(spec: PciDeviceSpec): PciSlot {
    const slot = this.slots.length;
    if (slot >= 32) throw new Error('no free PCI slot (bus 0 has 32)');
    const irq = PCI_IRQS[(slot - 1) % PCI_IRQS.length];
    const fn = new PciFunction(this.bus, spec, irq, (asserted) => {
      this.irqAsserted[irq] += asserted ? 1 : -1;
      this.pic.setIrq(irq, this.irqAsserted[irq] > 0);
    });
    spec.bars.forEach((bar, i) => {
      if (!bar) return;
      if (bar.kind === 'io') {
        const base = alignUp(this.nextIo, bar.size);
        if (base + bar.size > 0x10000) throw new Error('PCI I/O space exhausted');
        fn.assignBar(i, base);
        this.nextIo = base + bar.size;
      } else {
        const base = alignUp(this.nextMem, bar.size);
        if (base + bar.size > PCI_MEM_END) throw new Error('PCI memory hole exhausted');
        fn.assignBar(i, base);
        this.nextMem = base + bar.size;
      }
    });
    this.slots[slot] = fn;
    this.pic.setLevelTriggered(irq);
    this.remap();
    return {
      irq,
      setIrq: (level: boolean) => fn.setIntx(level),
    };
  }

  /** Moves every BAR window to where its function now says (two passes, so BARs can swap places). */
  private remap(): void {
    for (const fn of this.slots) fn?.unmapStale();
    for (const fn of this.slots) fn?.mapWanted();
  }

  /** The function the address register selects, or undefined (reads as all ones). */
  private selected(): PciFunction | undefined {
    const a = this.address;
    if (!(a & CONFIG_ENABLE)) return undefined;
    const busNumber = (a >>> 16) & 0xff;
    const device = (a >>> 11) & 0x1f;
    const fn = (a >>> 8) & 0x7;
    if (busNumber !== 0 || fn !== 0) return undefined;
    return this.slots[device];
  }

  private read(offset: number, size: AccessSize): number {
    const ones = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    if (offset === 0) return size === 4 ? this.address : ones;
    if (offset === 1 && size === 1) return this.resetControl.read(0, 1);
    if (offset < 4) return ones;
    const fn = this.selected();
    if (!fn) return ones;
    return fn.read((this.address & 0xfc) + (offset - 4), size);
  }

  private write(offset: number, size: AccessSize, value: number): void {
    if (offset === 0) {
      // Only a dword write latches the address; bytes at 0xCF8-0xCFB
      // belong to other chipset functions (Linux's probe pokes 0xCFB).
      if (size === 4) this.address = (value & 0xfffffffc) >>> 0;
      return;
    }
    if (offset === 1 && size === 1) {
      this.resetControl.write(0, 1, value);
      return;
    }
    if (offset < 4) return;
    const fn = this.selected();
    if (fn && fn.write((this.address & 0xfc) + (offset - 4), size, value)) this.remap();
  }
}
