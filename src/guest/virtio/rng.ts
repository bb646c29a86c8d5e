import { VIRTIO_ID_RNG } from './abi';
import { VirtioDevice } from './device';
import { Virtqueue } from './virtqueue';

const QUEUE_SIZE = 64;
/** The most we hand out per buffer: enough for any driver, and bounds the work one kick can cause. */
const MAX_PER_BUFFER = 65536;

/** Fills a buffer with random bytes from the host. */
export type EntropySource = (buf: Uint8Array) => void;

/**
 * virtio-rng: the guest posts writable buffers on its one queue; we fill
 * each from the host's entropy source and give it straight back.
 */
export class VirtioRng implements VirtioDevice {
  readonly name = 'virtio-rng';
  readonly deviceType = VIRTIO_ID_RNG;
  /** No better class exists than "unassigned". */
  readonly classCode = 0xff0000;
  readonly features = 0n;
  readonly queueSizes = [QUEUE_SIZE];
  readonly config = new Uint8Array(0);
  private queue: Virtqueue | null = null;

  constructor(private readonly entropy: EntropySource) {}

  activate(queues: readonly Virtqueue[]): void {
    this.queue = queues[0];
  }

  reset(): void {
    this.queue = null;
  }

  notify(): void {
    const q = this.queue;
    if (!q) return;
    for (let c = q.pop(); c; c = q.pop()) {
      let written = 0;
      for (const v of c.writableViews(0, Math.min(c.writableLength, MAX_PER_BUFFER))) {
        this.entropy(v);
        written += v.length;
      }
      q.push(c.head, written);
    }
    q.signal();
  }
}
