import { randomFillSync } from 'node:crypto';
import { EntropySource } from '../../guest/virtio/rng';

/** The host's CSPRNG (seeded by getrandom(2)), the entropy behind virtio-rng. */
export const hostEntropy: EntropySource = (buf) => {
  randomFillSync(buf);
};
