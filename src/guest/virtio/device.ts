import { Virtqueue } from './virtqueue';

/**
 * What a device model (block, console, entropy, network) gives the PCI
 * transport. The transport handles everything common: registers, feature
 * negotiation, status, queue setup, interrupts. The model only knows its own
 * queues and its configuration space.
 */
export interface VirtioDevice {
  /** For messages, e.g. "virtio-blk disk.img". */
  readonly name: string;
  /** The virtio device type (VIRTIO_ID_*). */
  readonly deviceType: number;
  /** PCI class code, 0xBBSSPP. */
  readonly classCode: number;
  /** Device-specific feature bits; the transport adds the ring and version bits. */
  readonly features: bigint;
  /** Maximum size of each queue, a power of two. */
  readonly queueSizes: readonly number[];
  /** The device-specific configuration space, as the guest reads it. Empty if none. */
  readonly config: Uint8Array;
  /**
   * The driver set DRIVER_OK: the queues it enabled are live and the
   * negotiated features are final.
   */
  activate(queues: readonly Virtqueue[], features: bigint): void;
  /** The driver notified queue `index` (only after activate). */
  notify(index: number): void;
  /** The driver reset the device: forget the queues. */
  reset(): void;
}
