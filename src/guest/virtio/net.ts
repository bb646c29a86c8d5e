import { GuestError } from '../guest-error';
import { VIRTIO_ID_NET, feature } from './abi';
import { VirtioDevice } from './device';
import { DescriptorChain, Virtqueue } from './virtqueue';

/** Feature bits (include/uapi/linux/virtio_net.h). */
const VIRTIO_NET_F_MAC = 5;
const VIRTIO_NET_F_STATUS = 16;
const VIRTIO_NET_F_CTRL_VQ = 17;
const VIRTIO_NET_F_CTRL_RX = 18;
const VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
const VIRTIO_NET_S_LINK_UP = 1;

/** Control commands: a class and a command byte, the command's data, then the ack byte we write. */
const VIRTIO_NET_CTRL_RX = 0;
const VIRTIO_NET_CTRL_RX_PROMISC = 0;
/** ALLMULTI (1), and ALLUNI, NOMULTI, NOUNI, NOBCAST (2 to 5), each an on/off byte like PROMISC. */
const VIRTIO_NET_CTRL_RX_LAST = 5;
const VIRTIO_NET_CTRL_MAC = 1;
const VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
const VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
const VIRTIO_NET_OK = 0;
const VIRTIO_NET_ERR = 1;
const CTRL_HDR_SIZE = 2;
const MAC_SIZE = 6;

const RECEIVEQ = 0;
const TRANSMITQ = 1;
/** With VIRTIO_NET_F_CTRL_VQ and no multiqueue, the control queue follows the one rx/tx pair. */
const CONTROLQ = 2;
const QUEUE_SIZE = 256;
/** The driver has at most one command in flight (it spins for the answer). */
const CONTROL_QUEUE_SIZE = 64;
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
  /**
   * The guest wants every frame on the network, whoever it is for (a bridge
   * or a packet sniffer in the guest). A back end without the method already
   * hands the guest everything it has (a tap: the host decides what reaches it).
   */
  setPromiscuous?(on: boolean): void;
  /**
   * The guest changed its MAC address (`mac`, 6 bytes, valid only during the
   * call). A back end that does not route by MAC has no need of the method.
   */
  setMac?(mac: Uint8Array): void;
}

/**
 * virtio-net with one receive and one transmit queue, a MAC address and a
 * link that is always up. No offloads are offered, so every header we read
 * is ignored and every header we write is zero but for num_buffers.
 *
 * A control queue lets the guest switch promiscuous mode and change its MAC
 * address, which the back end hears about: on a shared network file, frames
 * are routed to a slot by its MAC unless the slot is promiscuous, so a bridge
 * in a guest, or a guest with a new MAC, would otherwise see nothing meant
 * for it. The other receive-mode commands and the MAC filter table are
 * accepted and ignored: we never filter what the back end delivers, and every
 * back end delivers multicast to everyone already.
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
  readonly features =
    feature(VIRTIO_NET_F_MAC) |
    feature(VIRTIO_NET_F_STATUS) |
    feature(VIRTIO_NET_F_CTRL_VQ) |
    feature(VIRTIO_NET_F_CTRL_RX) |
    feature(VIRTIO_NET_F_CTRL_MAC_ADDR);
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE, CONTROL_QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_SIZE);
  /** Frames dropped: too big for the guest's receive buffer, or not a sendable Ethernet frame. */
  dropped = 0;
  private queues: readonly Virtqueue[] | null = null;
  private readonly rxHeader = new Uint8Array(NET_HDR_SIZE);
  private readonly txFrame = new Uint8Array(MAX_FRAME);
  /** The MAC the device was made with, which a reset brings back. */
  private readonly initialMac: Uint8Array;
  private promiscuous = false;
  /** A control command's header and fixed-size data: a MAC address is the longest. */
  private readonly command = new Uint8Array(CTRL_HDR_SIZE + MAC_SIZE);
  private readonly entries = new Uint8Array(4);
  private readonly entriesView = new DataView(this.entries.buffer);
  private readonly ack = new Uint8Array(1);

  constructor(readonly name: string, mac: Uint8Array, private readonly backend: NetBackend) {
    if (mac.length !== MAC_SIZE) throw new Error(`MAC address must be 6 bytes, not ${mac.length}`);
    this.initialMac = mac.slice();
    this.config.set(mac, 0);
    new DataView(this.config.buffer).setUint16(6, VIRTIO_NET_S_LINK_UP, true);
    // A single buffer per frame (no VIRTIO_NET_F_MRG_RXBUF): num_buffers is always 1.
    new DataView(this.rxHeader.buffer).setUint16(10, 1, true);
  }

  activate(queues: readonly Virtqueue[]): void {
    this.queues = queues;
  }

  /** The guest's MAC address as the driver last set it (the one it was made with, until then). */
  get mac(): Uint8Array {
    return this.config.slice(0, MAC_SIZE);
  }

  /**
   * Forgets the queues, and what the driver set through the control queue:
   * a driver starting afresh finds the device as it was made, and the back
   * end follows.
   */
  reset(): void {
    this.queues = null;
    if (this.promiscuous) this.setPromiscuous(false);
    if (!sameMac(this.config, this.initialMac)) this.setMac(this.initialMac);
  }

  notify(index: number): void {
    if (index === RECEIVEQ) this.receive();
    else if (index === TRANSMITQ) this.transmit();
    else if (index === CONTROLQ) this.control();
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

  /**
   * Serves the control queue. Each command is answered in its own ack byte,
   * VIRTIO_NET_ERR for anything we do not understand or cannot take, so a
   * confused driver gets an error, not a dead guest. Only a chain with no
   * byte for the answer (or one outside guest memory: the queue's walk) is a
   * GuestError, as for the other queues.
   */
  private control(): void {
    const q = this.queues?.[CONTROLQ];
    if (!q) return;
    for (let c = q.pop(); c; c = q.pop()) {
      if (c.writableLength < 1) {
        throw new GuestError(`${this.name}: control command ${c.head} has no byte for the answer`);
      }
      this.ack[0] = this.serveCommand(c);
      // The ack is the last device-writable byte: Linux gives it a descriptor of its own.
      c.write(this.ack, c.writableLength - 1);
      q.push(c.head, 1);
    }
    q.signal();
  }

  private serveCommand(c: DescriptorChain): number {
    if (c.readableLength < CTRL_HDR_SIZE) return VIRTIO_NET_ERR;
    const dataLength = c.readableLength - CTRL_HDR_SIZE;
    const cmd = this.command;
    c.read(cmd.subarray(0, CTRL_HDR_SIZE), 0);
    const cls = cmd[0];
    const code = cmd[1];
    if (cls === VIRTIO_NET_CTRL_RX && code <= VIRTIO_NET_CTRL_RX_LAST) {
      if (dataLength !== 1) return VIRTIO_NET_ERR;
      c.read(cmd.subarray(0, 1), CTRL_HDR_SIZE);
      if (cmd[0] > 1) return VIRTIO_NET_ERR;
      if (code === VIRTIO_NET_CTRL_RX_PROMISC) this.setPromiscuous(cmd[0] === 1);
      return VIRTIO_NET_OK;
    }
    if (cls === VIRTIO_NET_CTRL_MAC && code === VIRTIO_NET_CTRL_MAC_ADDR_SET) {
      if (dataLength !== MAC_SIZE) return VIRTIO_NET_ERR;
      const mac = cmd.subarray(0, MAC_SIZE);
      c.read(mac, CTRL_HDR_SIZE);
      // A group address cannot be a station's own.
      if (mac[0] & 1) return VIRTIO_NET_ERR;
      this.setMac(mac);
      return VIRTIO_NET_OK;
    }
    if (cls === VIRTIO_NET_CTRL_MAC && code === VIRTIO_NET_CTRL_MAC_TABLE_SET) {
      return this.macTableWellFormed(c, dataLength) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
    }
    return VIRTIO_NET_ERR;
  }

  /**
   * The filter table is two lists, unicast then multicast, each a le32 count
   * and that many MACs. We only check that the lengths add up: the table
   * would narrow what reaches the guest, and we hand it everything the back
   * end delivers (its own MAC, broadcast, multicast), which the guest's
   * stack filters again anyway.
   */
  private macTableWellFormed(c: DescriptorChain, dataLength: number): boolean {
    let offset = 0;
    for (let list = 0; list < 2; list++) {
      if (dataLength - offset < this.entries.length) return false;
      c.read(this.entries, CTRL_HDR_SIZE + offset);
      const count = this.entriesView.getUint32(0, true);
      offset += this.entries.length;
      if (count > (dataLength - offset) / MAC_SIZE) return false;
      offset += count * MAC_SIZE;
    }
    return offset === dataLength;
  }

  private setPromiscuous(on: boolean): void {
    this.promiscuous = on;
    this.backend.setPromiscuous?.(on);
  }

  /** The configuration space's mac field follows, as the specification asks of MAC_ADDR_SET. */
  private setMac(mac: Uint8Array): void {
    this.config.set(mac, 0);
    this.backend.setMac?.(mac);
  }
}

function sameMac(config: Uint8Array, mac: Uint8Array): boolean {
  for (let i = 0; i < MAC_SIZE; i++) if (config[i] !== mac[i]) return false;
  return true;
}
