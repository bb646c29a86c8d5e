/**
 * The CPU state a loader hands to the core: where the guest starts and what
 * the registers hold, as the boot protocol in use requires (Linux 32-bit boot
 * protocol: %esi = boot_params, flat __BOOT_CS/__BOOT_DS; multiboot: %eax =
 * magic, %ebx = info). Segment registers are loaded from the GDT the loader
 * wrote into guest memory, so the CPU sees exactly the descriptors a guest
 * could read back.
 */
export interface BootState {
  eip: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
  ebp: number;
  esp: number;
  eflags: number;
  cr0: number;
  cr3: number;
  cr4: number;
  /** GDT location (guest physical; linear = physical at entry). */
  gdtBase: number;
  gdtLimit: number;
  /** Selector loaded into CS. */
  cs: number;
  /** Selector loaded into DS, ES, SS, FS and GS. */
  ds: number;
}
