/**
 * A tiny protected-mode "kernel" for the system tests, in nasm syntax: its
 * own GDT (ring 0 and ring 3 code/data, a TSS, a spare TSS for task-gate
 * tests, a call gate slot), an IDT whose every vector records what arrived
 * and halts, identity paging for the first 16 MiB (user-accessible), and
 * helpers to install gates and enter ring 3.
 *
 * A test guest is `PRELUDE + its own code` starting at label `test_main`
 * (reached in ring 0 with paging off; call `enable_paging` to turn it on).
 *
 * Results: the default handler stores at RESULTS: +0 vector, +4 error code
 * (or 0xdead when none), +8 CR2, +12 saved EIP, +16 saved CS, +20 ESP at
 * handler entry, and halts. Tests read them from guest memory.
 */

export const RESULTS = 0x80000;
export const PAGE_DIR = 0x200000;
export const PAGE_TABLES = 0x201000;
export const KSTACK_TOP = 0x7f000;
export const USTACK_TOP = 0x7e000;
export const DF_STACK_TOP = 0x7c000;

export const PRELUDE = `
bits 32
org 0x100000

%define KCODE 0x08
%define KDATA 0x10
%define UCODE 0x1b
%define UDATA 0x23
%define TSS_SEL 0x28
%define TSS2_SEL 0x30
%define GATE_SEL 0x38
%define KCODE16 0x40
%define RESULTS 0x${RESULTS.toString(16)}
%define PAGE_DIR 0x${PAGE_DIR.toString(16)}
%define PAGE_TABLES 0x${PAGE_TABLES.toString(16)}
%define KSTACK_TOP 0x${KSTACK_TOP.toString(16)}
%define USTACK_TOP 0x${USTACK_TOP.toString(16)}
%define DF_STACK_TOP 0x${DF_STACK_TOP.toString(16)}

; SET_GATE vector, handler, attributes (0x8E int gate, 0x8F trap gate, +0x60 for DPL 3)
%macro SET_GATE 3
  push eax
  push ebx
  mov eax, %2
  mov ebx, %1
  mov [idt + ebx*8], ax
  mov word [idt + ebx*8 + 2], KCODE
  mov byte [idt + ebx*8 + 4], 0
  mov byte [idt + ebx*8 + 5], %3
  shr eax, 16
  mov [idt + ebx*8 + 6], ax
  pop ebx
  pop eax
%endmacro

start:
  lgdt [gdt_desc]
  jmp KCODE:.reload
.reload:
  mov ax, KDATA
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov fs, ax
  mov gs, ax
  mov esp, KSTACK_TOP
  ; TSS descriptors get their base at run time (nasm cannot split a label into fields).
  mov eax, tss
  mov edi, gdt + TSS_SEL
  call set_tss_base
  mov eax, tss2
  mov edi, gdt + TSS2_SEL
  call set_tss_base
  mov dword [tss + 4], KSTACK_TOP
  mov dword [tss + 8], KDATA
  mov word [tss + 0x66], 0x68 + 0x100  ; I/O bitmap past the limit: no port allowed
  mov ax, TSS_SEL
  ltr ax
  ; every vector: record and halt
  xor ecx, ecx
.fill:
  mov eax, [default_stubs_table + ecx*4]
  mov [idt + ecx*8], ax
  mov word [idt + ecx*8 + 2], KCODE
  mov word [idt + ecx*8 + 4], 0x8E00
  shr eax, 16
  mov [idt + ecx*8 + 6], ax
  inc ecx
  cmp ecx, 32
  jb .fill
  lidt [idt_desc]
  jmp test_main

; eax = base, edi = descriptor address
set_tss_base:
  mov [edi + 2], ax
  shr eax, 16
  mov [edi + 4], al
  mov [edi + 7], ah
  ret

; Identity-map 0-16 MiB with 4 KiB user-writable pages and turn paging on (WP set).
enable_paging:
  pushad
  mov edi, PAGE_DIR
  mov ecx, 1024
  xor eax, eax
  rep stosd
  mov edi, PAGE_TABLES
  mov eax, 0x7
  mov ecx, 4096
.pt:
  stosd
  add eax, 0x1000
  loop .pt
  mov dword [PAGE_DIR + 0], PAGE_TABLES + 0x0007
  mov dword [PAGE_DIR + 4], PAGE_TABLES + 0x1007
  mov dword [PAGE_DIR + 8], PAGE_TABLES + 0x2007
  mov dword [PAGE_DIR + 12], PAGE_TABLES + 0x3007
  mov eax, PAGE_DIR
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80010000
  mov cr0, eax
  popad
  ret

; Enter ring 3 at eax with the user stack.
to_user:
  push dword UDATA
  push dword USTACK_TOP
  pushfd
  push dword UCODE
  push eax
  mov bx, UDATA
  mov ds, bx
  mov es, bx
  iretd

; Default handlers: vectors with an error code have it on the stack.
record:
  ; [esp] = vector, [esp+4] = error code, [esp+8] = eip, [esp+12] = cs
  mov ax, KDATA
  mov ds, ax
  pop eax
  mov [RESULTS], eax
  pop eax
  mov [RESULTS + 4], eax
  mov eax, cr2
  mov [RESULTS + 8], eax
  mov eax, [esp]
  mov [RESULTS + 12], eax
  mov eax, [esp + 4]
  mov [RESULTS + 16], eax
  lea eax, [esp + 8]
  mov [RESULTS + 20], eax
  hlt

%assign v 0
%rep 32
stub_ %+ v:
  %if v = 8 || (v >= 10 && v <= 14) || v = 17
  %else
    push dword 0xdead
  %endif
  push dword v
  jmp record
%assign v v+1
%endrep

default_stubs_table:
%assign v 0
%rep 32
  dd stub_ %+ v
%assign v v+1
%endrep

align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff   ; 0x08 ring 0 code
  dq 0x00cf92000000ffff   ; 0x10 ring 0 data
  dq 0x00cffa000000ffff   ; 0x18 ring 3 code
  dq 0x00cff2000000ffff   ; 0x20 ring 3 data
  dq 0x0000890000000067   ; 0x28 TSS (base filled in)
  dq 0x0000890000000067   ; 0x30 second TSS (base filled in)
  dq 0                    ; 0x38 call gate slot
  dq 0x00009a000000ffff   ; 0x40 16-bit ring 0 code
gdt_end:
gdt_desc:
  dw gdt_end - gdt - 1
  dd gdt

align 8
idt:
  times 256 dq 0
idt_desc:
  dw 256 * 8 - 1
  dd idt

align 16
tss:
  times 0x68 + 0x200 db 0
align 16
tss2:
  times 0x68 db 0
`;
