import type { Cpu } from './cpu';
import { FAULT } from './fault';
import { SEG_NAMES } from './segments';

const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

function hex(v: number, digits = 8): string {
  return (v >>> 0).toString(16).padStart(digits, '0');
}

/**
 * Up to `n` instruction bytes at CS:EIP, read without faulting (a byte that
 * cannot be translated ends the list). Used in dumps and #UD logging.
 */
export function peekCode(cpu: Cpu, n = 16): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const lin = (cpu.segBase[1] + cpu.eip + i) | 0;
    try {
      out.push(hex(cpu.mmu.physRd8(cpu.mmu.translate(lin, false, false)), 2));
    } catch (e) {
      if (e !== FAULT) throw e;
      out.push('??');
      break;
    }
  }
  return out.join(' ');
}

/** A register dump in the style of a kernel oops, for the triple-fault message. */
export function dumpState(cpu: Cpu): string {
  const cr2 = cpu.cr2;
  const lines: string[] = [];
  lines.push(REG_NAMES.slice(0, 4).map((n, i) => `${n}=${hex(cpu.regs[i])}`).join(' '));
  lines.push(REG_NAMES.slice(4).map((n, i) => `${n}=${hex(cpu.regs[i + 4])}`).join(' '));
  lines.push(`eip=${hex(cpu.eip)} eflags=${hex(cpu.getEflags())} cpl=${cpu.cpl}`);
  lines.push(
    SEG_NAMES.map(
      (n, i) => `${n}=${hex(cpu.segSel[i], 4)}(base ${hex(cpu.segBase[i])} limit ${hex(cpu.segLimit[i])} flags ${hex(cpu.segFlags[i], 6)})`,
    ).join('\n'),
  );
  lines.push(`cr0=${hex(cpu.cr0)} cr2=${hex(cr2)} cr3=${hex(cpu.cr3)} cr4=${hex(cpu.cr4)}`);
  lines.push(
    `gdt=${hex(cpu.gdtBase)}/${hex(cpu.gdtLimit, 4)} idt=${hex(cpu.idtBase)}/${hex(cpu.idtLimit, 4)} ` +
      `ldtr=${hex(cpu.ldtSel, 4)} tr=${hex(cpu.trSel, 4)}`,
  );
  lines.push(`code at cs:eip: ${peekCode(cpu)}`);
  cpu.cr2 = cr2;
  return lines.join('\n');
}
