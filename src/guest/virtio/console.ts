import { VIRTIO_ID_CONSOLE } from './abi';
import { VirtioDevice } from './device';
import { Virtqueue } from './virtqueue';

const RECEIVEQ = 0;
const TRANSMITQ = 1;
const QUEUE_SIZE = 64;
/** struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
const CONFIG_SIZE = 12;

/** Where the guest's console output goes. */
export interface ConsoleSink {
  write(bytes: Uint8Array): void;
}

/**
 * virtio-console with a single port, which Linux makes hvc0. Without
 * VIRTIO_CONSOLE_F_MULTIPORT there is no control queue: queue 0 carries
 * input to the guest, queue 1 output from it.
 *
 * Input is pushed in by the run loop (`receive`) and waits here until the
 * guest has posted buffers for it, so nothing typed before the driver loads
 * is lost.
 */
export class VirtioConsole implements VirtioDevice {
  readonly name = 'virtio-console';
  readonly deviceType = VIRTIO_ID_CONSOLE;
  /** Simple communication controller, other. */
  readonly classCode = 0x078000;
  readonly features = 0n;
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_SIZE);
  private queues: readonly Virtqueue[] | null = null;
  private readonly pending: Uint8Array[] = [];
  /** Bytes of pending[0] already delivered. */
  private pendingOffset = 0;

  constructor(private readonly sink: ConsoleSink) {}

  /** True once the guest's driver is running: input sent now reaches it as soon as it posts buffers. */
  get active(): boolean {
    return this.queues !== null;
  }

  /** Host input for the guest (a copy is kept, so the caller may reuse its buffer). */
  receive(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.pending.push(new Uint8Array(bytes));
    this.deliver();
  }

  activate(queues: readonly Virtqueue[]): void {
    this.queues = queues;
  }

  reset(): void {
    this.queues = null;
  }

  notify(index: number): void {
    if (index === RECEIVEQ) this.deliver();
    else if (index === TRANSMITQ) this.transmit();
  }

  private transmit(): void {
    const q = this.queues?.[TRANSMITQ];
    if (!q) return;
    for (let c = q.pop(); c; c = q.pop()) {
      for (const v of c.readableViews(0, c.readableLength)) this.sink.write(v);
      q.push(c.head, 0);
    }
    q.signal();
  }

  private deliver(): void {
    const q = this.queues?.[RECEIVEQ];
    if (!q) return;
    while (this.pending.length > 0 && q.hasAvailable()) {
      const c = q.pop();
      if (!c) break;
      let written = 0;
      while (this.pending.length > 0 && written < c.writableLength) {
        const chunk = this.pending[0].subarray(this.pendingOffset);
        const n = c.write(chunk, written);
        written += n;
        this.pendingOffset += n;
        if (this.pendingOffset === this.pending[0].length) {
          this.pending.shift();
          this.pendingOffset = 0;
        }
      }
      q.push(c.head, written);
    }
    q.signal();
  }
}
