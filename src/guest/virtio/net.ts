import { GuestError } from '../guest-error';
import { VIRTIO_ID_NET, feature } from './abi';
import { VirtioDevice } from './device';
import { Virtqueue } from './virtqueue';

/** Feature bits (include/uapi/linux/virtio_net.h). */
const VIRTIO_NET_F_MAC = 5;
const VIRTIO_NET_F_STATUS = 16;
const VIRTIO_NET_S_LINK_UP = 1;

const RECEIVEQ = 0;
const TRANSMITQ = 1;
const QUEUE_SIZE = 256;
/** struct virtio_net_config (mac, status, max_virtqueue_pairs, mtu, speed, duplex, rss fields). */
const CONFIG_SIZE = 24;
/** struct virtio_net_hdr_v1, which VERSION_1 puts before every frame both ways. */
export const NET_HDR_SIZE = 12;
const ETH_HLEN = 14;
/** The largest frame a guest can send without offloads: a 65535-byte MTU plus Ethernet and VLAN headers. */
const MAX_FRAME = 65535 + ETH_HLEN + 4;

/**
 * Where frames go and come from: a tap device, the shared network file, or a
 * loopback in tests. Frames are plain Ethernet frames, no virtio header.
 */
export interface NetBackend {
  /**
   * Sends one frame. `frame` may be a view of guest memory, valid only
   * during the call: a back end that keeps it must copy it.
   */
  send(frame: Uint8Array): void;
  /** The next frame for the guest, or null if none is waiting. */
  poll(): Uint8Array | null;
}

/**
 * virtio-net with one receive and one transmit queue, a MAC address and a
 * link that is always up. No offloads are offered, so every header we read
 * is ignored and every header we write is zero but for num_buffers.
 *
 * Frames are taken from the back end only when the guest has a receive
 * buffer for them; until then they wait in the back end (the tap's kernel
 * queue, the shared file), which is where a real NIC's full ring would leave
 * them too.
 */
export class VirtioNet implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_NET;
  /** Network controller, Ethernet. */
  readonly classCode = 0x020000;
  readonly features = feature(VIRTIO_NET_F_MAC) | feature(VIRTIO_NET_F_STATUS);
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_SIZE);
  /** Frames dropped: too big for the guest's receive buffer, or not a sendable Ethernet frame. */
  dropped = 0;
  private queues: readonly Virtqueue[] | null = null;
  private readonly rxHeader = new Uint8Array(NET_HDR_SIZE);
  private readonly txFrame = new Uint8Array(MAX_FRAME);

  constructor(readonly name: string, readonly mac: Uint8Array, private readonly backend: NetBackend) {
    if (mac.length !== 6) throw new Error(`MAC address must be 6 bytes, not ${mac.length}`);
    this.config.set(mac, 0);
    new DataView(this.config.buffer).setUint16(6, VIRTIO_NET_S_LINK_UP, true);
    // A single buffer per frame (no VIRTIO_NET_F_MRG_RXBUF): num_buffers is always 1.
    new DataView(this.rxHeader.buffer).setUint16(10, 1, true);
  }

  activate(queues: readonly Virtqueue[]): void {
    this.queues = queues;
  }

  reset(): void {
    this.queues = null;
  }

  notify(index: number): void {
    if (index === RECEIVEQ) this.receive();
    else if (index === TRANSMITQ) this.transmit();
  }

  /**
   * True when the guest has a receive buffer posted. While it is false,
   * frames stay in the back end, so the run loop need not watch it.
   */
  get canReceive(): boolean {
    return this.queues?.[RECEIVEQ].hasAvailable() ?? false;
  }

  /**
   * Moves frames from the back end into the guest's receive buffers, for as
   * long as there are both. The run loop calls this when the back end has
   * input; the guest's receive kicks call it too.
   */
  receive(): void {
    const q = this.queues?.[RECEIVEQ];
    if (!q) return;
    while (q.hasAvailable()) {
      const frame = this.backend.poll();
      if (!frame) break;
      const c = q.pop();
      if (!c) break;
      if (c.writableLength < NET_HDR_SIZE + frame.length) {
        // The buffer stays with the guest for the next frame; this one is lost.
        q.unpop();
        this.dropped++;
        continue;
      }
      c.write(this.rxHeader, 0);
      c.write(frame, NET_HDR_SIZE);
      q.push(c.head, NET_HDR_SIZE + frame.length);
    }
    q.signal();
  }

  private transmit(): void {
    const q = this.queues?.[TRANSMITQ];
    if (!q) return;
    for (let c = q.pop(); c; c = q.pop()) {
      if (c.readableLength < NET_HDR_SIZE) {
        throw new GuestError(`${this.name}: transmit buffer ${c.head} of ${c.readableLength} bytes has no virtio-net header`);
      }
      const length = c.readableLength - NET_HDR_SIZE;
      if (length < ETH_HLEN || length > MAX_FRAME) {
        this.dropped++;
      } else {
        // One segment goes out as a view of guest memory; a scattered frame is gathered first.
        const views = c.readableViews(NET_HDR_SIZE, length);
        if (views.length === 1) {
          this.backend.send(views[0]);
        } else {
          c.read(this.txFrame.subarray(0, length), NET_HDR_SIZE);
          this.backend.send(this.txFrame.subarray(0, length));
        }
      }
      q.push(c.head, 0);
    }
    q.signal();
  }
}
