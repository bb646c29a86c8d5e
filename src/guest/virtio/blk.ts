import { GuestError } from '../guest-error';
import { VIRTIO_ID_BLOCK, feature } from './abi';
import { VirtioDevice } from './device';
import { DescriptorChain, Virtqueue } from './virtqueue';

/** Feature bits (include/uapi/linux/virtio_blk.h). */
const VIRTIO_BLK_F_SEG_MAX = 2;
const VIRTIO_BLK_F_RO = 5;
const VIRTIO_BLK_F_FLUSH = 9;

/** Request types. */
const VIRTIO_BLK_T_IN = 0;
const VIRTIO_BLK_T_OUT = 1;
const VIRTIO_BLK_T_FLUSH = 4;
const VIRTIO_BLK_T_GET_ID = 8;

/** Status byte values. */
const VIRTIO_BLK_S_OK = 0;
const VIRTIO_BLK_S_IOERR = 1;
const VIRTIO_BLK_S_UNSUPP = 2;

const SECTOR = 512;
const HEADER = 16;
const ID_BYTES = 20;
const QUEUE_SIZE = 256;
/** struct virtio_blk_config as far as Linux 6.1 knows it, rounded up. */
const CONFIG_SIZE = 0x40;

/**
 * Where the blocks live: a file or a block device on the host. Offsets and
 * lengths are always inside `size`; the device model checks that first, so a
 * back end never grows its file.
 */
export interface BlockBackend {
  /** Bytes; the guest sees floor(size / 512) sectors. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Up to 20 bytes of serial number (VIRTIO_BLK_T_GET_ID). */
  readonly id: Uint8Array;
  /** Fills `buffers` from `position`; returns the bytes read (short only at end of file). */
  read(buffers: Uint8Array[], position: number): number;
  /** Writes all of `buffers` at `position` before returning. */
  write(buffers: Uint8Array[], position: number): void;
  /** Makes every completed write durable (fdatasync). */
  flush(): void;
}

/**
 * virtio-blk: one request queue. Each request is a 16-byte header (type,
 * reserved, sector), the data, and a status byte the device writes last.
 * Requests are served synchronously, and a write is acknowledged only after
 * the back end wrote it, so a guest never hears "done" for data we do not
 * hold. Host I/O errors and requests past the end become VIRTIO_BLK_S_IOERR
 * for the guest; only malformed requests kill it.
 */
export class VirtioBlock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  /** Mass storage controller, other. */
  readonly classCode = 0x018000;
  readonly queueSizes = [QUEUE_SIZE];
  readonly features: bigint;
  readonly config = new Uint8Array(CONFIG_SIZE);
  private readonly capacityBytes: number;
  private queue: Virtqueue | null = null;
  private readonly header = new Uint8Array(HEADER);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly status = new Uint8Array(1);
  private readonly idBuffer = new Uint8Array(ID_BYTES);

  constructor(readonly name: string, private readonly backend: BlockBackend) {
    const sectors = Math.floor(backend.size / SECTOR);
    this.capacityBytes = sectors * SECTOR;
    let features = feature(VIRTIO_BLK_F_SEG_MAX) | feature(VIRTIO_BLK_F_FLUSH);
    if (backend.readOnly) features |= feature(VIRTIO_BLK_F_RO);
    this.features = features;
    const cfg = new DataView(this.config.buffer);
    cfg.setUint32(0, sectors % 0x100000000, true);
    cfg.setUint32(4, Math.floor(sectors / 0x100000000), true);
    // seg_max: Linux adds a header and a status descriptor to the data
    // segments, and a chain may not be longer than the queue.
    cfg.setUint32(12, QUEUE_SIZE - 2, true);
    this.idBuffer.set(backend.id.subarray(0, ID_BYTES));
  }

  activate(queues: readonly Virtqueue[]): void {
    this.queue = queues[0];
  }

  reset(): void {
    this.queue = null;
  }

  notify(): void {
    const q = this.queue;
    if (!q) return;
    for (let c = q.pop(); c; c = q.pop()) q.push(c.head, this.serve(c));
    q.signal();
  }

  /** Serves one request; returns the number of bytes written into the chain. */
  private serve(c: DescriptorChain): number {
    if (c.readableLength < HEADER || c.writableLength < 1) {
      throw new GuestError(
        `${this.name}: request ${c.head} has ${c.readableLength} readable and ${c.writableLength} writable bytes (needs a 16-byte header and a status byte)`,
      );
    }
    c.read(this.header, 0);
    const h = this.headerView;
    const type = h.getUint32(0, true);
    const sector = h.getUint32(12, true) * 0x100000000 + h.getUint32(8, true);
    const dataIn = c.writableLength - 1; // writable bytes before the status byte
    const dataOut = c.readableLength - HEADER;
    let status = VIRTIO_BLK_S_OK;
    let written = 0;
    try {
      switch (type) {
        case VIRTIO_BLK_T_IN:
          if (!this.inside(sector, dataIn)) status = VIRTIO_BLK_S_IOERR;
          else if (this.backend.read(c.writableViews(0, dataIn), sector * SECTOR) !== dataIn) status = VIRTIO_BLK_S_IOERR;
          else written = dataIn;
          break;
        case VIRTIO_BLK_T_OUT:
          if (this.backend.readOnly || !this.inside(sector, dataOut)) status = VIRTIO_BLK_S_IOERR;
          else this.backend.write(c.readableViews(HEADER, dataOut), sector * SECTOR);
          break;
        case VIRTIO_BLK_T_FLUSH:
          this.backend.flush();
          break;
        case VIRTIO_BLK_T_GET_ID:
          written = c.write(this.idBuffer.subarray(0, Math.min(ID_BYTES, dataIn)), 0);
          break;
        default:
          status = VIRTIO_BLK_S_UNSUPP;
      }
    } catch (e) {
      // An OS error (a failing disk, a full file system) is the guest's I/O error.
      if (!isSystemError(e)) throw e;
      status = VIRTIO_BLK_S_IOERR;
      written = 0;
    }
    this.status[0] = status;
    c.write(this.status, dataIn);
    return written + 1;
  }

  /** Whole sectors, all inside the disk. */
  private inside(sector: number, length: number): boolean {
    return length % SECTOR === 0 && sector * SECTOR + length <= this.capacityBytes;
  }
}

function isSystemError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}
