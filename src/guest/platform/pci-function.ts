import { AccessSize, BusDevice, IoBus } from '../io-bus';
import { PciBar, PciDeviceSpec } from './pci-device';

const PCI_COMMAND = 0x04;
const PCI_STATUS = 0x06;
const PCI_BAR0 = 0x10;
const PCI_BAR_END = 0x28;
const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_INTERRUPT_LINE = 0x3c;
const PCI_INTERRUPT_PIN = 0x3d;
const FIRST_CAPABILITY = 0x40;

const CMD_IO = 0x0001;
const CMD_MEMORY = 0x0002;
const CMD_MASTER = 0x0004;
const CMD_PARITY = 0x0040;
const CMD_SERR = 0x0100;
const CMD_INTX_DISABLE = 0x0400;
const STATUS_INTERRUPT = 0x08;
const STATUS_CAP_LIST = 0x10;

const IO_LIMIT = 0x10000;
const MEM_LIMIT = 0x1_0000_0000;

interface Mapping {
  base: number;
  /** A fresh object per mapping, so unregistering it cannot hit another range. */
  window: BusDevice;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * One PCI function's configuration space: the standard type 0 header built
 * from a `PciDeviceSpec`, write masks that make read-only fields read-only
 * and BARs answer sizing (all ones written, the size mask read back), the
 * capability list, and the BARs' windows on the I/O bus, which follow the
 * BAR values and the command register's I/O and memory enables.
 */
export class PciFunction {
  private readonly config = new Uint8Array(256);
  private readonly writable = new Uint8Array(256);
  private readonly bars: (PciBar | undefined)[];
  private readonly mappings: (Mapping | null)[] = [null, null, null, null, null, null];
  private intxLevel = false;
  private intxAsserted = false;

  constructor(
    private readonly bus: IoBus,
    spec: PciDeviceSpec,
    /** The IRQ INTA# is wired to, or null for a function without an interrupt pin. */
    irq: number | null,
    /** Called when this function's contribution to its INTx line changes. */
    private readonly intxChanged: (asserted: boolean) => void,
  ) {
    if (spec.bars.length > 6) throw new Error('a PCI function has at most six BARs');
    this.bars = spec.bars;
    this.set16(0x00, spec.vendorId);
    this.set16(0x02, spec.deviceId);
    this.config[0x08] = spec.revision;
    this.config[0x09] = spec.classCode & 0xff;
    this.set16(0x0a, spec.classCode >> 8);
    this.set16(PCI_SUBSYSTEM_VENDOR_ID, spec.subsystemVendorId);
    this.set16(PCI_SUBSYSTEM_VENDOR_ID + 2, spec.subsystemId);
    this.writable[PCI_COMMAND] = CMD_IO | CMD_MEMORY | CMD_MASTER | CMD_PARITY;
    this.writable[PCI_COMMAND + 1] = (CMD_SERR | CMD_INTX_DISABLE) >> 8;
    this.writable[0x0c] = 0xff; // cache line size
    this.writable[0x0d] = 0xff; // latency timer
    spec.bars.forEach((bar, i) => bar && this.defineBar(i, bar));
    if (irq !== null) {
      this.config[PCI_INTERRUPT_LINE] = irq;
      this.config[PCI_INTERRUPT_PIN] = 1; // INTA#
    }
    this.writable[PCI_INTERRUPT_LINE] = 0xff;
    this.buildCapabilities(spec);
  }

  private set16(offset: number, value: number): void {
    this.config[offset] = value & 0xff;
    this.config[offset + 1] = (value >> 8) & 0xff;
  }

  private get32(offset: number): number {
    return (
      (this.config[offset] | (this.config[offset + 1] << 8) | (this.config[offset + 2] << 16) | (this.config[offset + 3] << 24)) >>> 0
    );
  }

  private set32(offset: number, value: number): void {
    for (let i = 0; i < 4; i++) this.config[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  private defineBar(i: number, bar: PciBar): void {
    const min = bar.kind === 'io' ? 4 : 16;
    if (!isPowerOfTwo(bar.size) || bar.size < min || bar.size > (bar.kind === 'io' ? 256 : 0x8000_0000)) {
      throw new Error(`PCI BAR ${i}: bad ${bar.kind} size ${bar.size}`);
    }
    const offset = PCI_BAR0 + 4 * i;
    const mask = (~(bar.size - 1) & (bar.kind === 'io' ? 0xfffffffc : 0xfffffff0)) >>> 0;
    for (let b = 0; b < 4; b++) this.writable[offset + b] = (mask >>> (8 * b)) & 0xff;
    // Bit 0 marks an I/O BAR; a memory BAR is 32-bit, not prefetchable.
    this.set32(offset, bar.kind === 'io' ? 1 : 0);
    this.config[PCI_COMMAND] |= bar.kind === 'io' ? CMD_IO : CMD_MEMORY;
  }

  private buildCapabilities(spec: PciDeviceSpec): void {
    let offset = FIRST_CAPABILITY;
    let link = PCI_CAPABILITY_LIST;
    for (const cap of spec.capabilities) {
      const length = 2 + cap.body.length;
      if (offset + length > 0x100) throw new Error('PCI capabilities do not fit in configuration space');
      this.config[link] = offset;
      this.config[offset] = cap.id;
      this.config.set(cap.body, offset + 2);
      link = offset + 1;
      offset = (offset + length + 3) & ~3;
    }
    this.config[link] = 0;
    if (spec.capabilities.length > 0) this.config[PCI_STATUS] |= STATUS_CAP_LIST;
  }

  /** The BIOS's job: put BAR `i` at `base` (the host bridge then remaps). */
  assignBar(i: number, base: number): void {
    const offset = PCI_BAR0 + 4 * i;
    this.set32(offset, ((this.get32(offset) & 0xf) | base) >>> 0);
  }

  read(offset: number, size: AccessSize): number {
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = (value << 8) | this.config[(offset + i) & 0xff];
    return value >>> 0;
  }

  /** Returns true when the write touched the command register or a BAR. */
  write(offset: number, size: AccessSize, value: number): boolean {
    let layout = false;
    for (let i = 0; i < size; i++) {
      const at = (offset + i) & 0xff;
      const mask = this.writable[at];
      this.config[at] = (this.config[at] & ~mask) | ((value >>> (8 * i)) & mask);
      if (at === PCI_COMMAND || at === PCI_COMMAND + 1 || (at >= PCI_BAR0 && at < PCI_BAR_END)) layout = true;
    }
    if (layout) this.updateIntx();
    return layout;
  }

  private get command(): number {
    return this.config[PCI_COMMAND] | (this.config[PCI_COMMAND + 1] << 8);
  }

  /** Where BAR `i` should be decoded now, or null. */
  private wantedBase(i: number): number | null {
    const bar = this.bars[i];
    if (!bar) return null;
    const io = bar.kind === 'io';
    if (!(this.command & (io ? CMD_IO : CMD_MEMORY))) return null;
    const base = (this.get32(PCI_BAR0 + 4 * i) & (io ? 0xfffffffc : 0xfffffff0)) >>> 0;
    // Base 0, or a window running off the end of its space (as while the
    // guest sizes a BAR with decoding left on), decodes nothing.
    if (base === 0 || base + bar.size > (io ? IO_LIMIT : MEM_LIMIT)) return null;
    return base;
  }

  /** First half of a remap: drop windows whose BAR moved or was disabled. */
  unmapStale(): void {
    this.mappings.forEach((m, i) => {
      if (!m || m.base === this.wantedBase(i)) return;
      if (this.bars[i]!.kind === 'io') this.bus.unregisterPorts(m.window);
      else this.bus.unregisterMmio(m.window);
      this.mappings[i] = null;
    });
  }

  /**
   * Second half: claim the windows now wanted. A window that collides with
   * another claim (a guest moving BARs across each other, or onto a legacy
   * port) stays undecoded until a later remap finds the space free.
   */
  mapWanted(): void {
    this.bars.forEach((bar, i) => {
      const base = this.wantedBase(i);
      if (!bar || base === null || this.mappings[i]) return;
      const window: BusDevice = {
        read: (offset, size) => bar.device.read(offset, size),
        write: (offset, size, value) => bar.device.write(offset, size, value),
      };
      try {
        if (bar.kind === 'io') this.bus.registerPorts(base, bar.size, window);
        else this.bus.registerMmio(base, bar.size, window);
      } catch {
        return;
      }
      this.mappings[i] = { base, window };
    });
  }

  /** The device drives its INTA# pin. */
  setIntx(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  /** Status bit 3 shows the pin; the command's INTx disable keeps it off the line. */
  private updateIntx(): void {
    if (this.intxLevel) this.config[PCI_STATUS] |= STATUS_INTERRUPT;
    else this.config[PCI_STATUS] &= ~STATUS_INTERRUPT;
    const asserted = this.intxLevel && !(this.command & CMD_INTX_DISABLE);
    if (asserted !== this.intxAsserted) {
      this.intxAsserted = asserted;
      this.intxChanged(asserted);
    }
  }
}
