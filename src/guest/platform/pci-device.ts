import { BusDevice } from '../io-bus';

/**
 * What a PCI device (a virtio device, in practice) tells the platform's host
 * bridge about itself. The bridge owns configuration space: it answers BAR
 * sizing, places the BARs as a BIOS would before the kernel starts, moves
 * them when the guest reprograms them, and gates them on the command
 * register, so a device only has to describe itself and serve its registers.
 */
export interface PciBar {
  kind: 'io' | 'mem';
  /** A power of two: at least 16 for I/O, 4096 for memory. */
  size: number;
  /** Serves accesses at offsets relative to the BAR's current base. */
  device: BusDevice;
}

export interface PciCapability {
  /** Capability ID (0x09 = vendor specific, which virtio 1.x uses). */
  id: number;
  /** The bytes after the ID and next-pointer fields. */
  body: Uint8Array;
}

export interface PciDeviceSpec {
  vendorId: number;
  deviceId: number;
  revision: number;
  /** Class code, programming interface in the low byte: 0xBBSSPP. */
  classCode: number;
  subsystemVendorId: number;
  subsystemId: number;
  /** Up to six BARs; undefined entries are unimplemented. */
  bars: (PciBar | undefined)[];
  capabilities: PciCapability[];
}

/** The device's side of its slot: its INTA# line, level triggered. */
export interface PciSlot {
  setIrq(level: boolean): void;
  /** The legacy IRQ (0-15) the platform routed INTA# to. */
  readonly irq: number;
}
