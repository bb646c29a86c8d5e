import { MAX_FRAME } from '../../netfile/layout';
import { ShareNet } from '../../netfile/sharenet';
import type { HostNetBackend } from './tap';

/**
 * The guest's Ethernet wired to a shared network file: --sharenet. The MAC
 * address is the one the virtio-net device was given (a random locally
 * administered one) until the guest sets another; it is what other launchers
 * on the file route by.
 */
export class ShareNetBackend implements HostNetBackend {
  private readonly frame = new Uint8Array(MAX_FRAME);

  private constructor(readonly port: ShareNet) {}

  /**
   * Join the network in `file` (created if missing) as `mac`. `warn` hears,
   * once, that the file was truncated under us and the port is unplugged.
   */
  static open(file: string, mac: Uint8Array, warn: (msg: string) => void = () => {}): ShareNetBackend {
    return new ShareNetBackend(ShareNet.join(file, mac, { onLost: warn }));
  }

  get fd(): number {
    return this.port.wakeFd;
  }

  send(frame: Uint8Array): void {
    this.port.send(frame);
  }

  /** The next frame for the guest; a view valid until the next call. */
  poll(): Uint8Array | null {
    const length = this.port.receive(this.frame);
    return length > 0 ? this.frame.subarray(0, length) : null;
  }

  /** The slot's promiscuous flag: senders on the file then copy every frame to us too. */
  setPromiscuous(on: boolean): void {
    this.port.setPromiscuous(on);
  }

  /** The slot's MAC, which senders on the file route unicast frames by. */
  setMac(mac: Uint8Array): void {
    this.port.setMac(mac);
  }

  /** Frames wait in the file, not on the descriptor: only the wake-ups need consuming. */
  onReadable(): void {
    this.port.drain();
  }

  close(): void {
    this.port.leave();
  }
}
