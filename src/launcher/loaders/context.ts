import { BootState } from '../../guest/boot-state';
import { GuestMemory } from '../../guest/memory';
import { UserError } from '../user-error';
import { InitrdFile, KernelImage } from './image';
import { GuestLayout } from './layout';
import type { LoadOptions, LoadTarget } from './index';

/** Everything a format's load step works with. */
export interface LoadContext {
  target: LoadTarget;
  memory: GuestMemory;
  layout: GuestLayout;
  opts: LoadOptions;
  kernel: KernelImage;
  initrd?: InitrdFile;
  /** "kernel 'path': reason" as a UserError. */
  fail: (reason: string) => UserError;
}

/**
 * One kernel format, in the style of Xen's xc_dom loaders: `probe` says
 * whether the image is this format (cheaply where it can), `parse` checks it
 * and works out what to load where, and the plan's `load` puts it in guest
 * memory and returns the CPU state to start in.
 */
export interface KernelFormat {
  name: string;
  probe(image: KernelImage, opts: LoadOptions): boolean;
  parse(image: KernelImage, opts: LoadOptions): LoadPlan;
}

export interface LoadPlan {
  load(ctx: LoadContext): BootState;
}
