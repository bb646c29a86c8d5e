import { LoadContext } from './context';
import { hex } from './image';
import { pageUp } from './layout';
import { placeFile } from './place';

export interface PlacedInitrd {
  addr: number;
  size: number;
}

/**
 * Put the initrd in guest memory, page aligned: by default as high as it goes below `limit` (the top of RAM, as the
 * original did, or lower if the kernel says initrd_addr_max), or at `at`
 * (a Xeno image puts it right after the kernel).
 */
export function placeInitrd(ctx: LoadContext, where: { limit?: number; at?: number }): PlacedInitrd | undefined {
  const initrd = ctx.initrd;
  if (!initrd) return undefined;
  const len = pageUp(Math.max(initrd.size, 1));
  const fail = (reason: string) => initrd.error(reason);
  const addr =
    where.at !== undefined
      ? (ctx.layout.claim(where.at, len, 'the initrd', fail), where.at)
      : ctx.layout.highest(len, where.limit ?? ctx.memory.size, 'the initrd', fail);
  // Copied, never mapped: build scripts rewrite initrds in place (`> initrd.gz`),
  // and a mapping would then read another file's bytes or raise SIGBUS in
  // the middle of the guest's boot. Reading it costs milliseconds.
  placeFile({ memory: ctx.memory }, { fd: initrd.fd, fail }, 0, addr, initrd.size);
  ctx.opts.verbose(`Initrd ${initrd.path}: ${initrd.size} bytes at 0x${hex(addr)} (copied)`);
  return { addr, size: initrd.size };
}
