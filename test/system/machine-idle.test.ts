import assert from 'node:assert/strict';
import { GuestMemory } from '../../src/guest/memory';
import { Machine } from '../../src/guest/machine';
import { PIT_HZ } from '../../src/guest/platform/pit';
import { assemble, LOAD_ADDR, loaderBootState, writeLoaderGdt } from './harness';

/**
 * How long the launcher lets a halted guest sleep: the whole Machine (CPU,
 * PIC, PIT) on the host's clock, with a guest that programs PIT channel 0 as
 * Linux does (a one-shot tick in mode 4, or a periodic one in mode 2), then
 * halts with interrupts on.
 */
describe('machine: how long a halted guest sleeps', () => {
  const TICK_COUNT = Math.floor((PIT_HZ + 125) / 250);

  function haltedGuest(pitControl: number, timerSlackMs: number, more = ''): Machine {
    const image = assemble(`bits 32
org 0x${LOAD_ADDR.toString(16)}
  mov al, 0x${pitControl.toString(16)}
  out 0x43, al
  mov al, ${TICK_COUNT & 0xff}
  out 0x40, al
  mov al, ${TICK_COUNT >> 8}
  out 0x40, al
  out 0x80, al
  in al, 0x21
  ${more}
  sti
  hlt
`);
    const memory = GuestMemory.create(16 << 20);
    memory.u8.set(image, LOAD_ADDR);
    writeLoaderGdt(memory);
    const machine = new Machine(memory, loaderBootState(), { serial: { write: () => undefined }, timerSlackMs });
    assert.equal(machine.run(), 'halt');
    return machine;
  }

  it('sleeps until a one-shot tick (4 ms) with no slack', () => {
    assert.ok(haltedGuest(0x38, 0).msUntilDeadline() <= 4);
  });

  it('counts a guest that only keeps time (PIT, PIC, port 0x80) as idle', () => {
    assert.equal(haltedGuest(0x38, 200).slack.lastActiveNs, 0);
  });

  it('counts a guest that touches a device (the UART) as active', () => {
    assert.ok(haltedGuest(0x38, 200, 'mov dx, 0x3ff\n  out dx, al').slack.lastActiveNs > 0);
  });

  it('wakes for every tick of a periodic PIT, whatever the slack', () => {
    assert.ok(haltedGuest(0x34, 1000).msUntilDeadline() <= 4);
  });
});
