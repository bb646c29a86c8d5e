import { NetBackend } from '../../guest/virtio/net';

/**
 * A network back end where every frame sent comes straight back to the
 * guest: a cable from the NIC to itself. For tests of the device model; a
 * test calls `send` itself to put a frame on the wire.
 */
export class LoopbackNet implements NetBackend {
  private readonly queue: Uint8Array[] = [];

  send(frame: Uint8Array): void {
    this.queue.push(new Uint8Array(frame));
  }

  poll(): Uint8Array | null {
    return this.queue.shift() ?? null;
  }

  /** Frames on the wire that the guest has not taken yet. */
  get waiting(): number {
    return this.queue.length;
  }
}
