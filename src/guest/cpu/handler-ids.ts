/**
 * Dense handler numbers: what the executor's one big switch dispatches on.
 *
 * Every opcode-table entry names one of these (opcodes.ts). A handler covers
 * all operand sizes and both register and memory forms of its operation; the
 * decoded instruction carries the size, the ModRM fields and a `kind` (ALU
 * operation, shift operation, condition code, segment register...) that the
 * handler reads. Keeping them a const enum means the switch cases compile to
 * small integer literals, which V8 turns into a jump table.
 */
export const enum H {
  // Decoder-generated, not in the opcode table.
  UD = 0, // invalid opcode: raises #UD when reached
  GP0, // instruction longer than 15 bytes: #GP(0)
  EXIT, // planted after an instruction whose write invalidated its own block

  // Integer ALU, `kind` = add or adc sbb and sub xor cmp (0..7).
  ALU_EbGb, ALU_EvGv, ALU_GbEb, ALU_GvEv, ALU_EbI, ALU_EvI,
  TEST_EbGb, TEST_EvGv, TEST_EbI, TEST_EvI,
  INC_Eb, INC_Ev, DEC_Eb, DEC_Ev,
  NOT_Eb, NOT_Ev, NEG_Eb, NEG_Ev,
  MUL_Eb, MUL_Ev, IMUL_Eb, IMUL_Ev, DIV_Eb, DIV_Ev, IDIV_Eb, IDIV_Ev,
  IMUL_GvEv, IMUL_GvEvI,
  // Shifts and rotates, `kind` = rol ror rcl rcr shl shr sal sar (0..7).
  SHIFT_EbI, SHIFT_EvI, SHIFT_EbCL, SHIFT_EvCL,
  SHLD_I, SHLD_CL, SHRD_I, SHRD_CL,
  // Bit tests, `kind` = bt bts btr btc (0..3).
  BT_EvGv, BT_EvI,
  BSF, BSR, BSWAP,
  CMPXCHG_Eb, CMPXCHG_Ev, CMPXCHG8B, XADD_Eb, XADD_Ev,
  DAA, DAS, AAA, AAS, AAM, AAD,
  CBW, CWD, LAHF, SAHF, CLC, STC, CMC, CLD, STD,

  // Data movement.
  MOV_EbGb, MOV_EvGv, MOV_GbEb, MOV_GvEv, MOV_EbI, MOV_EvI,
  MOV_EvSw, MOV_SwEw, LEA, XCHG_EbGb, XCHG_EvGv, XCHG_AX, NOP,
  MOVZX_Eb, MOVZX_Ew, MOVSX_Eb, MOVSX_Ew,
  CMOV, SETCC, XLAT, BOUND, LXS, // LXS: les lds lss lfs lgs, `kind` = segment register

  // Stack.
  PUSH_R, POP_R, PUSH_I, PUSH_Ev, POP_Ev, PUSH_SEG, POP_SEG,
  PUSHA, POPA, PUSHF, POPF, ENTER, LEAVE,

  // Control transfer. `kind` = condition code for JCC.
  JCC, JMP_J, CALL_J, RET, RET_I, JMP_Ev, CALL_Ev,
  JMPF_A, CALLF_A, JMPF_Ep, CALLF_Ep, RETF, RETF_I,
  LOOP, LOOPE, LOOPNE, JCXZ, INT3, INT_I, INTO, IRET,

  // Strings.
  MOVSB, MOVSV, CMPSB, CMPSV, STOSB, STOSV, LODSB, LODSV, SCASB, SCASV,
  INSB, INSV, OUTSB, OUTSV,

  // Port I/O.
  IN_B_I, IN_V_I, OUT_B_I, OUT_V_I, IN_B_DX, IN_V_DX, OUT_B_DX, OUT_V_DX,

  // x87 glue.
  X87, FWAIT, FXSAVE, FXRSTOR,

  // System.
  HLT, CLI, STI, ARPL, LAR, LSL, VERR, VERW,
  SLDT, STR, LLDT, LTR, SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG,
  CLTS, INVD, WBINVD, UD2, MOV_RdCd, MOV_RdDd, MOV_CdRd, MOV_DdRd,
  WRMSR, RDTSC, RDMSR, SYSENTER, SYSEXIT, CPUID,

  COUNT,
}
