import { GuestMemory } from '../../guest/memory';
import { hex } from './image';
import { PAGE } from './layout';

/**
 * Initial page tables for images that start with paging on, in the manner
 * of the original's setup_pagetables(): all of RAM mapped linearly from
 * `virtualBase` (the page offset, or a Xeno image's load address), the page
 * directory on the top page of the block and the page-table pages below it,
 * one run of them so that physical page i's entry is simply the i-th.
 *
 * Unlike the original we also map RAM at its own address where that does
 * not collide with the linear map, as Linux's own early page tables do: the
 * boot GDT and boot parameters live at low physical addresses, and the CPU
 * must find them at the same linear addresses once paging is on.
 */

export const PTE_PRESENT = 0x1;
export const PTE_RW = 0x2;
export const PTE_USER = 0x4;
export const PTE_ACCESSED = 0x20;
export const PTE_DIRTY = 0x40;

export interface LinearMapping {
  virtualBase: number;
  pdeFlags: number;
  pteFlags: number;
  /** Map the page-table pages themselves read-only in the linear map. */
  readOnlyTables?: boolean;
}

export interface PageTablePlan {
  /** Bytes the tables need; the caller finds a place for them. */
  bytes: number;
  mappedPages: number;
  linearPtePages: number;
  identityPtePages: number;
}

const ENTRIES = 1024;
const SLOT = ENTRIES * PAGE; // 4 MiB per page directory entry

function slotsOf(base: number, pages: number): { first: number; last: number } {
  return { first: Math.floor(base / SLOT), last: Math.floor((base + pages * PAGE - 1) / SLOT) };
}

export function planPageTables(memSize: number, m: LinearMapping): PageTablePlan {
  // Like the original: if RAM reaches past 4 GiB from the base (a 3 GiB
  // guest at 0xC0000000), map only what fits.
  const memPages = Math.floor(memSize / PAGE);
  const mappedPages = Math.min(memPages, Math.floor((2 ** 32 - m.virtualBase) / PAGE));
  const lin = slotsOf(m.virtualBase, mappedPages);
  const ident = slotsOf(0, memPages);
  let identityPtePages = 0;
  for (let s = ident.first; s <= ident.last; s++) if (s < lin.first || s > lin.last) identityPtePages++;
  const linearPtePages = lin.last - lin.first + 1;
  return { bytes: (1 + linearPtePages + identityPtePages) * PAGE, mappedPages, linearPtePages, identityPtePages };
}

/** Fill the block at `start`, plan.bytes long; returns the page directory. */
export function writePageTables(
  memory: GuestMemory,
  m: LinearMapping,
  plan: PageTablePlan,
  start: number,
  verbose: (msg: string) => void,
): number {
  const v = memory.view;
  memory.u8.fill(0, start, start + plan.bytes);
  const pgdir = start + plan.bytes - PAGE;
  const linear = pgdir - plan.linearPtePages * PAGE;
  const identity = start;
  const tablesStart = start / PAGE;
  const tablesEnd = (start + plan.bytes) / PAGE;

  const lin = slotsOf(m.virtualBase, plan.mappedPages);
  const firstVPage = m.virtualBase / PAGE;
  for (let i = 0; i < plan.mappedPages; i++) {
    const isTable = m.readOnlyTables && i >= tablesStart && i < tablesEnd;
    const flags = isTable ? m.pteFlags & ~PTE_RW : m.pteFlags;
    v.setUint32(linear + (firstVPage + i - lin.first * ENTRIES) * 4, (i * PAGE) | flags, true);
  }
  for (let s = lin.first; s <= lin.last; s++) {
    v.setUint32(pgdir + s * 4, (linear + (s - lin.first) * PAGE) | m.pdeFlags, true);
  }

  const memPages = Math.floor(memory.size / PAGE);
  let table = identity;
  for (let s = 0; s * ENTRIES < memPages; s++) {
    if (s >= lin.first && s <= lin.last) continue;
    for (let e = 0; e < ENTRIES && s * ENTRIES + e < memPages; e++) {
      v.setUint32(table + e * 4, ((s * ENTRIES + e) * PAGE) | m.pteFlags, true);
    }
    v.setUint32(pgdir + s * 4, table | m.pdeFlags, true);
    table += PAGE;
  }

  verbose(
    `Linear mapping of ${plan.mappedPages} pages at 0x${hex(m.virtualBase)} in ${plan.linearPtePages} pte pages at 0x${hex(linear)}` +
      `, identity map in ${plan.identityPtePages} more, page directory at 0x${hex(pgdir)}`,
  );
  return pgdir;
}

/** Walk the tables as the CPU would: the physical address of a linear one, or null. */
export function translate(memory: GuestMemory, pgdir: number, linear: number): number | null {
  const pde = memory.view.getUint32(pgdir + Math.floor(linear / SLOT) * 4, true);
  if (!(pde & PTE_PRESENT)) return null;
  const table = (pde & ~0xfff) >>> 0;
  const pte = memory.view.getUint32(table + (Math.floor(linear / PAGE) % ENTRIES) * 4, true);
  if (!(pte & PTE_PRESENT)) return null;
  return ((pte & ~0xfff) >>> 0) + (linear % PAGE);
}
