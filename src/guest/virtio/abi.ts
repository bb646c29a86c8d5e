/**
 * Numbers fixed by the virtio 1.x specification (and mirrored in Linux's
 * include/uapi/linux/virtio_*.h). Everything a guest sees is little endian.
 */

/** Virtio device types: the PCI device ID is 0x1040 plus one of these. */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;

/** Feature bits every device of ours offers: they belong to the ring and transport. */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

/** device_status bits. */
export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_DEVICE_NEEDS_RESET = 0x40;
export const STATUS_FAILED = 0x80;

/** Split-ring descriptor flags. */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail->flags: the driver does not want an interrupt (ignored with EVENT_IDX). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

/** ISR status bits, read-to-clear. */
export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;

/** What a device returns in the MSI-X vector registers when it has no MSI-X. */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** virtio_pci_cap.cfg_type values. */
export const PCI_CAP_COMMON_CFG = 1;
export const PCI_CAP_NOTIFY_CFG = 2;
export const PCI_CAP_ISR_CFG = 3;
export const PCI_CAP_DEVICE_CFG = 4;

/** The PCI capability ID of a vendor-specific capability. */
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;

/** The bit for feature `n`, as the bigint the transport negotiates with. */
export function feature(n: number): bigint {
  return 1n << BigInt(n);
}

/** A 64-bit guest address given as two 32-bit halves, for messages. */
export function hex64(hi: number, lo: number): string {
  return hi === 0 ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
}
