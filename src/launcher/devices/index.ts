import { randomBytes } from 'node:crypto';
import { GuestMemory } from '../../guest/memory';
import { PciDeviceSpec, PciSlot } from '../../guest/platform/pci-device';
import { VirtioBlock } from '../../guest/virtio/blk';
import { ConsoleSink, VirtioConsole } from '../../guest/virtio/console';
import { VirtioDevice } from '../../guest/virtio/device';
import { NetBackend, VirtioNet } from '../../guest/virtio/net';
import { VirtioRng } from '../../guest/virtio/rng';
import { VirtioPciFunction } from '../../guest/virtio/transport';
import { BlockFile } from './block-file';
import { hostEntropy } from './rng';

/** A network device the CLI asked for; its other fields are the network back end's business. */
export interface NetRequest {
  kind: 'tunnet' | 'sharenet';
}

/** One device option from the command line, in command-line order. */
export type DeviceRequest<N extends NetRequest = NetRequest> = { kind: 'block'; path: string; readOnly?: boolean } | { kind: 'rng' } | N;

export interface DeviceContext<N extends NetRequest = NetRequest> {
  memory: GuestMemory;
  /** The platform's PCI host bridge: takes the next free slot. */
  addPciDevice(spec: PciDeviceSpec): PciSlot;
  /** The console back end the UART shares. */
  console: ConsoleSink;
  /** Opens the back end for a --tunnet or --sharenet device whose guest MAC is `mac`. */
  openNet(request: N, mac: Uint8Array): NetBackend;
}

export interface Devices {
  console: VirtioConsole;
  blocks: VirtioBlock[];
  nets: VirtioNet[];
  /** Every PCI function, in slot order. */
  functions: VirtioPciFunction[];
  /** Closes the block files. */
  close(): void;
}

/** A random locally administered unicast MAC address. */
export function randomMac(): Uint8Array {
  const mac = randomBytes(6);
  mac[0] = (mac[0] & 0xfe) | 0x02;
  return mac;
}

/**
 * Builds the virtio devices and plugs them into PCI: the console first (a
 * guest always has one, as in the original), then the command line's devices
 * in its order, so the first --block is vda and the first network device
 * eth0. A file that cannot be used is a UserError naming it; files already
 * opened are closed again.
 */
export function createDevices<N extends NetRequest>(list: readonly DeviceRequest<N>[], ctx: DeviceContext<N>): Devices {
  const files: BlockFile[] = [];
  const close = (): void => files.forEach((f) => f.close());
  const plug = (device: VirtioDevice): VirtioPciFunction => {
    const fn = new VirtioPciFunction(ctx.memory, device);
    fn.attach(ctx.addPciDevice(fn.spec));
    return fn;
  };
  try {
    const hvc = new VirtioConsole(ctx.console);
    const devices: Devices = { console: hvc, blocks: [], nets: [], functions: [plug(hvc)], close };
    for (const req of list) {
      if (req.kind === 'block') {
        const file = BlockFile.open(req.path, req.readOnly ?? false);
        files.push(file);
        const blk = new VirtioBlock(`virtio-blk ${req.path}${file.readOnly ? ' (read-only)' : ''}`, file);
        devices.blocks.push(blk);
        devices.functions.push(plug(blk));
      } else if (req.kind === 'rng') {
        devices.functions.push(plug(new VirtioRng(hostEntropy)));
      } else {
        const mac = randomMac();
        const net = new VirtioNet(`virtio-net ${devices.nets.length}`, mac, ctx.openNet(req as N, mac));
        devices.nets.push(net);
        devices.functions.push(plug(net));
      }
    }
    return devices;
  } catch (e) {
    close();
    throw e;
  }
}
