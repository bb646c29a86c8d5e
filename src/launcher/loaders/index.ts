import { BootState } from '../../guest/boot-state';
import { GuestMemory } from '../../guest/memory';
import { UserError } from '../user-error';
import { KernelFormat, LoadContext } from './context';
import { bzImageFormat } from './formats/bzimage';
import { legacyBzImageFormat } from './formats/legacy-bzimage';
import { multibootFormat } from './formats/multiboot';
import { vmlinuxFormat } from './formats/vmlinux';
import { xenoFormat } from './formats/xeno';
import { InitrdFile, KernelImage } from './image';
import { GuestLayout, mib } from './layout';

/**
 * What the loaders write guest memory through. In the launcher it is the
 * GuestRam, which can also map a file copy-on-write at a guest address; in
 * unit tests a plain GuestMemory, and bytes are copied instead.
 */
export interface LoadTarget {
  memory: GuestMemory;
  mapFilePrivate?(fd: number, fileOffset: number, guestPhys: number, length: number): void;
}

export interface LoadOptions {
  kernelPath: string;
  initrdPath?: string;
  /** The kernel command line (the arguments after the kernel, joined). */
  cmdline: string;
  /** Decompress a bzImage in the launcher (true) or let it do so itself (--no-direct). */
  direct: boolean;
  verbose: (m: string) => void;
}

/**
 * The kernel formats, most specific first; the first whose probe accepts
 * the image loads it. Xeno images have an exact signature; a bzImage is a
 * Linux kernel whatever else it may contain; a multiboot header is a
 * deliberate statement, so it beats a mere boot sector (what the legacy
 * bzImage loader settles for) and plain ELF (an ELF with a multiboot header
 * boots as multiboot, as under QEMU).
 */
const FORMATS: KernelFormat[] = [xenoFormat, bzImageFormat, multibootFormat, legacyBzImageFormat, vmlinuxFormat];

/**
 * Load the kernel (and initrd) named in `opts` into guest memory and return
 * the CPU state to start the guest in. Every problem with the files is a
 * UserError naming the file and what is wrong.
 */
export function loadGuest(target: LoadTarget, opts: LoadOptions): BootState {
  const kernel = KernelImage.open(opts.kernelPath);
  let initrd: InitrdFile | undefined;
  try {
    if (opts.initrdPath !== undefined) initrd = InitrdFile.open(opts.initrdPath);
    const memory = target.memory;
    if (kernel.size > memory.size) {
      throw kernel.error(`${kernel.size} bytes is larger than the guest's ${mib(memory.size)} of memory`);
    }
    if (initrd && initrd.size > memory.size) {
      throw initrd.error(`${initrd.size} bytes is larger than the guest's ${mib(memory.size)} of memory`);
    }
    kernel.unpackLimit = memory.size;
    const format = FORMATS.find((f) => f.probe(kernel, opts));
    if (!format) throw kernel.error('not a kernel lguest knows (ELF vmlinux, bzImage, Xeno image or multiboot)');
    opts.verbose(`Kernel ${kernel.path}: ${format.name}`);
    const plan = format.parse(kernel, opts);
    const ctx: LoadContext = {
      target,
      memory,
      layout: new GuestLayout(memory),
      opts,
      kernel,
      initrd,
      fail: (r: string): UserError => kernel.error(r),
    };
    return plan.load(ctx);
  } finally {
    kernel.close();
    initrd?.close();
  }
}
