import { GuestError } from '../guest-error';
import { AccessSize, BusDevice } from '../io-bus';
import { GuestMemory } from '../memory';
import { PciCapability, PciDeviceSpec, PciSlot } from '../platform/pci-device';
import {
  ISR_CONFIG,
  ISR_QUEUE,
  PCI_CAP_COMMON_CFG,
  PCI_CAP_DEVICE_CFG,
  PCI_CAP_ID_VNDR,
  PCI_CAP_ISR_CFG,
  PCI_CAP_NOTIFY_CFG,
  PCI_VENDOR_ID_REDHAT_QUMRANET,
  STATUS_ACKNOWLEDGE,
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  STATUS_FEATURES_OK,
  VIRTIO_F_VERSION_1,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  feature,
} from './abi';
import { VirtioDevice } from './device';
import { Virtqueue } from './virtqueue';

/*
 * The memory BAR: four structures, each on its own page so a driver may map
 * them separately. The capability list tells the driver where each one is.
 */
const COMMON_OFFSET = 0x0000;
const ISR_OFFSET = 0x1000;
const DEVICE_OFFSET = 0x2000;
const NOTIFY_OFFSET = 0x3000;
const BAR_SIZE = 0x4000;
/** sizeof(struct virtio_pci_common_cfg): we offer no feature that needs the fields after it. */
const COMMON_LENGTH = 0x38;
/** Queue i is notified at NOTIFY_OFFSET + i * NOTIFY_MULTIPLIER. */
const NOTIFY_MULTIPLIER = 4;
const BAR_INDEX = 0;

/** Offsets in struct virtio_pci_common_cfg. */
const DFSELECT = 0x00;
const DF = 0x04;
const GFSELECT = 0x08;
const GF = 0x0c;
const MSIX_CONFIG = 0x10;
const NUM_QUEUES = 0x12;
const DEVICE_STATUS = 0x14;
const CONFIG_GENERATION = 0x15;
const Q_SELECT = 0x16;
const Q_SIZE = 0x18;
const Q_MSIX = 0x1a;
const Q_ENABLE = 0x1c;
const Q_NOTIFY_OFF = 0x1e;
const Q_DESC_LO = 0x20;
const Q_DESC_HI = 0x24;
const Q_AVAIL_LO = 0x28;
const Q_AVAIL_HI = 0x2c;
const Q_USED_LO = 0x30;
const Q_USED_HI = 0x34;

/** The natural width of each common configuration field; only these accesses are valid. */
const FIELD_SIZE = new Map<number, AccessSize>([
  [DFSELECT, 4], [DF, 4], [GFSELECT, 4], [GF, 4], [MSIX_CONFIG, 2], [NUM_QUEUES, 2],
  [DEVICE_STATUS, 1], [CONFIG_GENERATION, 1], [Q_SELECT, 2], [Q_SIZE, 2], [Q_MSIX, 2],
  [Q_ENABLE, 2], [Q_NOTIFY_OFF, 2], [Q_DESC_LO, 4], [Q_DESC_HI, 4], [Q_AVAIL_LO, 4],
  [Q_AVAIL_HI, 4], [Q_USED_LO, 4], [Q_USED_HI, 4],
]);

const DRIVER_STATUS_BITS =
  STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK | STATUS_FEATURES_OK | STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED;

/** Features the transport and our virtqueues provide on top of the device's own. */
const TRANSPORT_FEATURES =
  feature(VIRTIO_F_VERSION_1) | feature(VIRTIO_RING_F_INDIRECT_DESC) | feature(VIRTIO_RING_F_EVENT_IDX);

const UNPLUGGED: PciSlot = {
  irq: -1,
  setIrq(): void {
    throw new Error('virtio device raised an interrupt before it was plugged into a PCI slot');
  },
};

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * A virtio 1.x ("modern") PCI function: vendor 0x1AF4, device 0x1040 + type,
 * revision 1. Linux's virtio_pci binds it with its modern code; no legacy
 * I/O BAR is offered, because the legacy driver only takes devices whose ID
 * is in the transitional range (0x1000-0x103f) or that lack a common-config
 * capability, and the stock kernel never needs it.
 *
 * Interrupts are INTx only: without an MSI-X capability Linux falls back to
 * one shared line, reads the ISR to learn why it fired (bit 0 a queue, bit 1
 * the configuration), and the read both clears the ISR and lowers the line.
 *
 * Notifications are handled synchronously, inside the guest's MMIO write:
 * the device model walks the queue there and then. That keeps devices simple
 * and matches what drivers like virtio_console expect (it spins on its
 * transmit queue until the buffer comes back).
 */
export class VirtioPciFunction implements BusDevice {
  readonly spec: PciDeviceSpec;
  private slot: PciSlot = UNPLUGGED;
  private readonly queues: Virtqueue[];
  private readonly deviceFeatures: bigint;
  private driverFeatures = 0n;
  /** The driver wrote a feature word past the 64 bits we know: it asked for something we never offered. */
  private unknownFeatures = false;
  private dfSelect = 0;
  private gfSelect = 0;
  private status = 0;
  private generation = 0;
  private queueSelect = 0;
  private isr = 0;

  constructor(mem: GuestMemory, readonly device: VirtioDevice) {
    this.deviceFeatures = device.features | TRANSPORT_FEATURES;
    this.queues = device.queueSizes.map(
      (size, i) => new Virtqueue(mem, `${device.name} queue ${i}`, size, () => this.raise(ISR_QUEUE)),
    );
    const caps: PciCapability[] = [
      virtioCap(PCI_CAP_COMMON_CFG, COMMON_OFFSET, COMMON_LENGTH),
      virtioCap(PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET, NOTIFY_MULTIPLIER * this.queues.length, NOTIFY_MULTIPLIER),
      virtioCap(PCI_CAP_ISR_CFG, ISR_OFFSET, 1),
    ];
    // The device capability is only for devices that have a configuration space.
    if (device.config.length > 0) caps.push(virtioCap(PCI_CAP_DEVICE_CFG, DEVICE_OFFSET, device.config.length));
    const bars: PciDeviceSpec['bars'] = [];
    bars[BAR_INDEX] = { kind: 'mem', size: BAR_SIZE, device: this };
    this.spec = {
      vendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
      deviceId: 0x1040 + device.deviceType,
      revision: 1,
      classCode: device.classCode,
      subsystemVendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
      subsystemId: device.deviceType,
      bars,
      capabilities: caps,
    };
  }

  /** Connects the function to the slot the platform's host bridge gave it. */
  attach(slot: PciSlot): void {
    this.slot = slot;
  }

  /**
   * The device changed its configuration space: bump the generation (so a
   * driver reading a multi-field value retries) and interrupt the driver.
   */
  configChanged(): void {
    this.generation = (this.generation + 1) & 0xff;
    if (this.status & STATUS_DRIVER_OK) this.raise(ISR_CONFIG);
  }

  /** An access to the memory BAR, `offset` from its base. */
  read(offset: number, size: AccessSize): number {
    if (offset < ISR_OFFSET) return this.readCommon(offset - COMMON_OFFSET, size);
    if (offset < DEVICE_OFFSET) return offset === ISR_OFFSET ? this.readIsr() : 0;
    if (offset < NOTIFY_OFFSET) return this.readDeviceConfig(offset - DEVICE_OFFSET, size);
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset < ISR_OFFSET) this.writeCommon(offset - COMMON_OFFSET, size, value);
    else if (offset < DEVICE_OFFSET) this.bad('write to the read-only ISR', offset, size, value);
    else if (offset < NOTIFY_OFFSET) this.bad('write to the read-only device configuration', offset, size, value);
    else this.writeNotify(offset - NOTIFY_OFFSET, size, value);
  }

  private raise(bit: number): void {
    this.isr |= bit;
    this.slot.setIrq(true);
  }

  private readIsr(): number {
    const v = this.isr;
    this.isr = 0;
    this.slot.setIrq(false);
    return v;
  }

  private readDeviceConfig(offset: number, size: AccessSize): number {
    const cfg = this.device.config;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (offset + i < cfg.length ? cfg[offset + i] : 0);
    return v;
  }

  private selected(): Virtqueue | undefined {
    return this.queues[this.queueSelect];
  }

  private readCommon(offset: number, size: AccessSize): number {
    if (FIELD_SIZE.get(offset) !== size) return 0;
    const q = this.selected();
    switch (offset) {
      case DFSELECT: return this.dfSelect;
      case DF: return this.dfSelect < 2 ? featureWord(this.deviceFeatures, this.dfSelect) : 0;
      case GFSELECT: return this.gfSelect;
      case GF: return this.gfSelect < 2 ? featureWord(this.driverFeatures, this.gfSelect) : 0;
      case MSIX_CONFIG: return VIRTIO_MSI_NO_VECTOR;
      case NUM_QUEUES: return this.queues.length;
      case DEVICE_STATUS: return this.status;
      case CONFIG_GENERATION: return this.generation;
      case Q_SELECT: return this.queueSelect;
      case Q_SIZE: return q ? q.size : 0;
      case Q_MSIX: return VIRTIO_MSI_NO_VECTOR;
      case Q_ENABLE: return q?.enabled ? 1 : 0;
      case Q_NOTIFY_OFF: return q ? this.queueSelect : 0;
      case Q_DESC_LO: return q ? q.descLo : 0;
      case Q_DESC_HI: return q ? q.descHi : 0;
      case Q_AVAIL_LO: return q ? q.availLo : 0;
      case Q_AVAIL_HI: return q ? q.availHi : 0;
      case Q_USED_LO: return q ? q.usedLo : 0;
      case Q_USED_HI: return q ? q.usedHi : 0;
    }
    return 0;
  }

  private writeCommon(offset: number, size: AccessSize, value: number): void {
    if (FIELD_SIZE.get(offset) !== size) this.bad('write to no common configuration field', offset, size, value);
    switch (offset) {
      case DFSELECT: this.dfSelect = value >>> 0; return;
      case GFSELECT: this.gfSelect = value >>> 0; return;
      case GF: this.writeDriverFeatures(value >>> 0); return;
      // Without MSI-X no vector can be assigned; the register keeps reading NO_VECTOR.
      case MSIX_CONFIG: return;
      case DEVICE_STATUS: this.writeStatus(value); return;
      case Q_SELECT: this.queueSelect = value; return;
      case Q_MSIX: this.queueToConfigure(offset, size, value); return;
      case Q_SIZE: {
        const q = this.queueToConfigure(offset, size, value);
        if (value === 0 || value > q.maxSize || (value & (value - 1)) !== 0) {
          throw new GuestError(`${q.label}: bad queue size ${value} (a power of two up to ${q.maxSize})`);
        }
        q.size = value;
        return;
      }
      case Q_ENABLE: {
        const q = this.queueToConfigure(offset, size, value);
        if (value !== 1) throw new GuestError(`${q.label}: wrote ${value} to queue_enable (only 1 is valid)`);
        // Features are final at FEATURES_OK, and the ring layout depends on them.
        if (!(this.status & STATUS_FEATURES_OK)) throw new GuestError(`${q.label}: enabled before FEATURES_OK`);
        q.eventIdx = (this.driverFeatures & feature(VIRTIO_RING_F_EVENT_IDX)) !== 0n;
        q.enable();
        return;
      }
      case Q_DESC_LO: this.queueToConfigure(offset, size, value).descLo = value >>> 0; return;
      case Q_DESC_HI: this.queueToConfigure(offset, size, value).descHi = value >>> 0; return;
      case Q_AVAIL_LO: this.queueToConfigure(offset, size, value).availLo = value >>> 0; return;
      case Q_AVAIL_HI: this.queueToConfigure(offset, size, value).availHi = value >>> 0; return;
      case Q_USED_LO: this.queueToConfigure(offset, size, value).usedLo = value >>> 0; return;
      case Q_USED_HI: this.queueToConfigure(offset, size, value).usedHi = value >>> 0; return;
    }
    this.bad('write to a read-only common configuration field', offset, size, value);
  }

  /** The selected queue, which the driver may only configure while it is disabled. */
  private queueToConfigure(offset: number, size: AccessSize, value: number): Virtqueue {
    const q = this.selected();
    if (!q) this.bad(`queue register write for queue ${this.queueSelect}, which does not exist`, offset, size, value);
    if (q.enabled) this.bad(`queue ${this.queueSelect} register write while the queue is enabled`, offset, size, value);
    return q;
  }

  private writeDriverFeatures(word: number): void {
    if (this.status & STATUS_FEATURES_OK) {
      throw new GuestError(`${this.device.name}: driver features changed after FEATURES_OK`);
    }
    if (this.gfSelect >= 2) {
      if (word !== 0) this.unknownFeatures = true;
      return;
    }
    const shift = BigInt(32 * this.gfSelect);
    this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(word) << shift);
  }

  /**
   * The status state machine. 0 resets; otherwise the driver only ever adds
   * bits. FEATURES_OK sticks only if the driver asked for nothing we did not
   * offer and accepted VERSION_1 (the driver reads it back to find out);
   * DRIVER_OK starts the device.
   */
  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const name = this.device.name;
    if (value & ~DRIVER_STATUS_BITS) throw new GuestError(`${name}: bad device status ${hex(value)}`);
    if (this.status & ~value) throw new GuestError(`${name}: device status ${hex(this.status)} -> ${hex(value)} clears bits`);
    let next = value;
    if (value & STATUS_FEATURES_OK && !(this.status & STATUS_FEATURES_OK) && !this.featuresAcceptable()) {
      next &= ~STATUS_FEATURES_OK;
    }
    const starting = (next & STATUS_DRIVER_OK) !== 0 && (this.status & STATUS_DRIVER_OK) === 0;
    if (starting && !(next & STATUS_FEATURES_OK)) throw new GuestError(`${name}: DRIVER_OK without FEATURES_OK`);
    this.status = next;
    if (starting) {
      this.device.activate(this.queues, this.driverFeatures);
      // Kicks that came before DRIVER_OK were ignored: look at every queue now.
      this.queues.forEach((q, i) => {
        if (q.enabled) this.device.notify(i);
      });
    }
  }

  private featuresAcceptable(): boolean {
    return (
      !this.unknownFeatures &&
      (this.driverFeatures & ~this.deviceFeatures) === 0n &&
      (this.driverFeatures & feature(VIRTIO_F_VERSION_1)) !== 0n
    );
  }

  private reset(): void {
    this.status = 0;
    this.driverFeatures = 0n;
    this.unknownFeatures = false;
    this.dfSelect = this.gfSelect = this.queueSelect = 0;
    for (const q of this.queues) q.reset();
    this.device.reset();
    this.isr = 0;
    this.slot.setIrq(false);
  }

  /**
   * A queue notification. The value written is the queue index, but the
   * address already says which queue, as the notify capability promised.
   */
  private writeNotify(offset: number, size: AccessSize, value: number): void {
    const index = offset / NOTIFY_MULTIPLIER;
    const q = this.queues[index];
    if (!q) this.bad('notification for no queue', NOTIFY_OFFSET + offset, size, value);
    if (q.enabled && this.status & STATUS_DRIVER_OK) this.device.notify(index);
  }

  private bad(what: string, offset: number, size: AccessSize, value: number): never {
    throw new GuestError(
      `${this.device.name}: ${what} (BAR offset ${hex(offset)}, ${size} bytes, value ${hex(value >>> 0)})`,
    );
  }
}

function featureWord(features: bigint, word: number): number {
  return Number((features >> BigInt(32 * word)) & 0xffffffffn);
}

/** struct virtio_pci_cap (and virtio_pci_notify_cap), after the ID and next fields. */
function virtioCap(type: number, offset: number, length: number, notifyMultiplier?: number): PciCapability {
  const body = new Uint8Array(notifyMultiplier === undefined ? 14 : 18);
  const v = new DataView(body.buffer);
  v.setUint8(0, body.length + 2); // cap_len counts the ID and next bytes too
  v.setUint8(1, type);
  v.setUint8(2, BAR_INDEX);
  v.setUint32(6, offset, true);
  v.setUint32(10, length, true);
  if (notifyMultiplier !== undefined) v.setUint32(14, notifyMultiplier, true);
  return { id: PCI_CAP_ID_VNDR, body };
}
