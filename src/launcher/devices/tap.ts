import * as fs from 'node:fs';
import type { NetBackend } from '../../guest/virtio/net';
import { addToBridge, ifUp, openTap, setIpv4, setNonBlocking } from '../native';
import { UserError } from '../user-error';

/**
 * A network back end whose input arrives on a host descriptor, which the
 * launcher hands to its waker. Wiring, once the virtio-net device exists:
 *
 *   { fd: b.fd, readable: () => { b.onReadable(); net.receive(); return 'rearm'; } }
 */
export interface HostNetBackend extends NetBackend {
  /** Readable when frames may be waiting. */
  readonly fd: number;
  /**
   * The waker reported `fd`: consume what makes it readable, so that frames
   * the guest has no room for yet do not make the waker report it again and
   * again (they stay available to poll()). Call it before the device
   * receives: a wake-up consumed after the last poll() could be lost.
   */
  onReadable(): void;
  close(): void;
}

/** --tunnet=<ipaddr> or --tunnet=bridge:<bridge>. */
export type TunnetSpec = { ip: string } | { bridge: string };

/** The host end's netmask, as the original launcher had it: the guest is on the host's /24. */
const NETMASK = '255.255.255.0';
/** Frames the tap may hold for a guest with no receive buffers; more are dropped, as a NIC would. */
const QUEUE_LIMIT = 256;
/** Big enough for any frame the host can send with a 65535-byte MTU. */
const READ_SIZE = 65535 + 14 + 4;

/**
 * The guest's Ethernet wired to a tap device on the host: --tunnet. The tap
 * carries plain Ethernet frames (no IFF_VNET_HDR, no offloads), so the host
 * stack hands us frames with their checksums complete and expects the same,
 * which is what a virtio-net device without offload features produces.
 */
export class TapNet implements HostNetBackend {
  /** Frames lost: the guest had no room for them, or the host refused one. */
  dropped = 0;
  private readonly scratch = new Uint8Array(READ_SIZE);
  private readonly queue: Uint8Array[] = [];
  private closed = false;

  private constructor(
    readonly fd: number,
    /** The interface name the kernel chose ("tap0"). */
    readonly name: string,
  ) {}

  /**
   * A new tap device (tap%d), either with host address `ip`/24 and up, or
   * attached to the existing bridge and up. Every failure is a UserError
   * saying what could not be done; a half-made tap is closed (and so gone).
   */
  static open(spec: TunnetSpec): TapNet {
    const option = 'ip' in spec ? `--tunnet=${spec.ip}` : `--tunnet=bridge:${spec.bridge}`;
    const tap = hostCall(option, () => openTap({ name: 'tap%d' }));
    try {
      if ('ip' in spec) {
        hostCall(option, () => setIpv4(tap.name, spec.ip, NETMASK));
      } else {
        hostCall(option, () => attach(option, spec.bridge, tap.name));
      }
      hostCall(option, () => ifUp(tap.name));
      setNonBlocking(tap.fd, true);
    } catch (e) {
      fs.closeSync(tap.fd);
      throw e;
    }
    return new TapNet(tap.fd, tap.name);
  }

  send(frame: Uint8Array): void {
    try {
      fs.writeSync(this.fd, frame);
    } catch (e) {
      // The host refusing a frame (interface down, no buffer space) loses it, as a wire would.
      if (!isRefusal(e)) throw e;
      this.dropped++;
    }
  }

  /** The next frame from the host; a view valid until the next call. */
  poll(): Uint8Array | null {
    return this.queue.shift() ?? this.read();
  }

  /** Moves the frames waiting in the tap into our queue (bounded: beyond it they are dropped). */
  onReadable(): void {
    for (let frame = this.read(); frame; frame = this.read()) {
      if (this.queue.length < QUEUE_LIMIT) this.queue.push(frame.slice());
      else this.dropped++;
    }
  }

  /** Closing the descriptor deletes the tap device. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private read(): Uint8Array | null {
    let n: number;
    try {
      n = fs.readSync(this.fd, this.scratch);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return null;
      throw e;
    }
    return n > 0 ? this.scratch.subarray(0, n) : null;
  }
}

function attach(option: string, bridge: string, tap: string): void {
  try {
    addToBridge(bridge, tap);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENODEV') throw new UserError(`${option}: bridge ${bridge} does not exist`);
    if (code === 'EOPNOTSUPP') throw new UserError(`${option}: ${bridge} is not a bridge`);
    throw e;
  }
}

/** Failing system calls are the host's configuration, not our bug: one line for the user. */
function hostCall<T>(option: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw new UserError(`${option}: ${(e as Error).message}`);
    throw e;
  }
}

function isRefusal(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EIO' || code === 'EAGAIN' || code === 'ENOBUFS' || code === 'EINVAL' || code === 'ENOMEM';
}
