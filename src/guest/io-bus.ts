/** Access sizes of port and MMIO accesses, in bytes. */
export type AccessSize = 1 | 2 | 4;

/** A device on the I/O port space or on an MMIO window. */
export interface BusDevice {
  /** `offset` is relative to the start of the range the device registered. */
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

interface Range {
  start: number;
  length: number;
  device: BusDevice;
  background: boolean;
}

/**
 * Routes accesses to whichever device claimed the address. Unclaimed reads
 * return all ones and unclaimed writes are dropped, as on a real PC bus, so
 * that Linux probing absent hardware sees "nothing there" rather than a crash.
 *
 * Port I/O uses a 64K lookup table (ports are hot during boot: the UART, the
 * PIT); MMIO windows are few, so a short list is enough.
 */
export class IoBus {
  private readonly portOwner = new Int16Array(0x10000).fill(-1);
  private readonly ports: (Range | undefined)[] = [];
  /** Indexes of unregistered ranges, reused so devices that move often (BARs) never exhaust them. */
  private readonly freePortSlots: number[] = [];
  private readonly mmio: Range[] = [];
  /**
   * Accesses to devices other than background ones, counted so the machine
   * can tell an idle guest (one that only keeps time) from a working one.
   */
  activity = 0;

  /**
   * `background`: hardware an idle guest keeps using on its own, to keep
   * time (timers, interrupt controllers, the I/O delay port).
   */
  registerPorts(start: number, length: number, device: BusDevice, background = false): void {
    for (let p = start; p < start + length; p++) {
      if (this.portOwner[p] !== -1) throw new Error(`port 0x${p.toString(16)} is already claimed`);
    }
    const range = { start, length, device, background };
    let index = this.freePortSlots.pop();
    if (index === undefined) index = this.ports.push(range) - 1;
    else this.ports[index] = range;
    this.portOwner.fill(index, start, start + length);
  }

  unregisterPorts(device: BusDevice): void {
    this.ports.forEach((r, index) => {
      if (r?.device !== device) return;
      this.portOwner.fill(-1, r.start, r.start + r.length);
      this.ports[index] = undefined;
      this.freePortSlots.push(index);
    });
  }

  registerMmio(start: number, length: number, device: BusDevice): void {
    for (const r of this.mmio) {
      if (start < r.start + r.length && r.start < start + length) {
        throw new Error(`MMIO 0x${start.toString(16)} overlaps a claimed window`);
      }
    }
    this.mmio.push({ start, length, device, background: false });
  }

  unregisterMmio(device: BusDevice): void {
    const i = this.mmio.findIndex((r) => r.device === device);
    if (i >= 0) this.mmio.splice(i, 1);
  }

  in(port: number, size: AccessSize): number {
    const i = this.portOwner[port & 0xffff];
    if (i < 0) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    const r = this.ports[i]!;
    if (!r.background) this.activity++;
    return r.device.read(port - r.start, size);
  }

  out(port: number, size: AccessSize, value: number): void {
    const i = this.portOwner[port & 0xffff];
    if (i < 0) return;
    const r = this.ports[i]!;
    if (!r.background) this.activity++;
    r.device.write(port - r.start, size, value);
  }

  mmioRead(addr: number, size: AccessSize): number {
    for (const r of this.mmio) {
      if (addr >= r.start && addr < r.start + r.length) {
        this.activity++;
        return r.device.read(addr - r.start, size);
      }
    }
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    for (const r of this.mmio) {
      if (addr >= r.start && addr < r.start + r.length) {
        this.activity++;
        r.device.write(addr - r.start, size, value);
        return;
      }
    }
  }
}
