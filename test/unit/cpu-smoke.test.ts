import { strict as assert } from 'node:assert';
import { runGuest } from '../system/harness';

describe('cpu smoke', () => {
  it('runs a loop and halts', () => {
    const m = runGuest(`
      mov ecx, 1000
      xor eax, eax
    l: add eax, ecx
      dec ecx
      jnz l
      hlt`);
    assert.equal(m.cpu.regs[0], 500500);
  });
});
