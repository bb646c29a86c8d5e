/*
 * conf_enter: load the case's machine state and jump to the instruction.
 * Never returns: the case ends with a signal (see runner.c).
 *
 * Order matters: the FPU image and EFLAGS are loaded while DS and SS are
 * still the flat host selectors; after the data segments switch (possibly to
 * the LDT segment based at the scratch area) every load goes through CS,
 * which stays flat. Nothing after popf changes flags.
 */
	.intel_syntax noprefix
	.text
	.globl conf_enter
conf_enter:
	cmp dword ptr [conf_cur + 44], 0
	je 1f
	frstor [conf_cur + 48]
1:
	push dword ptr [conf_cur + 32]
	popfd
	mov eax, [conf_cur + 40]
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	mov ss, ax
	mov eax, cs:[conf_cur + 0]
	mov ecx, cs:[conf_cur + 4]
	mov edx, cs:[conf_cur + 8]
	mov ebx, cs:[conf_cur + 12]
	mov ebp, cs:[conf_cur + 20]
	mov esi, cs:[conf_cur + 24]
	mov edi, cs:[conf_cur + 28]
	mov esp, cs:[conf_cur + 16]
	jmp dword ptr cs:[conf_cur + 36]
	.section .note.GNU-stack,"",@progbits
