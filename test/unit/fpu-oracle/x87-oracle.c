/*
 * x87 oracle: runs single x87 instructions on the host FPU and prints the
 * resulting state, for comparison with the TypeScript FPU.
 *
 * Build: gcc -m32 -O1 -o x87-oracle x87-oracle.c
 *
 * Each input line is one case, fields separated by spaces, all in hex:
 *   <108-byte fnsave image to load> <memory length> <memory bytes> <insn bytes> <eflags>
 * An empty byte field is written "-". <insn bytes> is an optional 66 prefix, the opcode and ModRM (D8-DF, or
 * 0F AE for fxsave/fxrstor). For a memory form the ModRM must be mod=00,
 * rm=101, and the oracle appends the address of its memory buffer as disp32.
 * The state is loaded with frstor, EAX is set to 12345678 and EFLAGS to the
 * given value; after the instruction the oracle saves the state with fnsave.
 * Output line per case:
 *   <108-byte fnsave image> <memory bytes> <eax> <eflags>
 * or "UD" (SIGILL), "FPE" (#MF delivered), "SEGV".
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint8_t state_in[108], state_out[108];
static uint8_t mem[512] __attribute__((aligned(64)));
static uint32_t ax_out, fl_out;
static sigjmp_buf jump;
static volatile int signal_seen;

static void on_signal(int sig) { signal_seen = sig; siglongjmp(jump, 1); }

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parse hex bytes from *p up to the next space; returns the count. */
static int parse_bytes(char **p, uint8_t *out, int max) {
  int n = 0;
  while (**p == ' ') (*p)++;
  if (**p == '-') { (*p)++; return 0; }   /* an empty field */
  while (hexval((*p)[0]) >= 0 && hexval((*p)[1]) >= 0) {
    if (n < max) out[n] = (uint8_t)(hexval((*p)[0]) << 4 | hexval((*p)[1]));
    n++;
    *p += 2;
  }
  return n;
}

static uint32_t parse_word(char **p) {
  while (**p == ' ') (*p)++;
  return (uint32_t)strtoul(*p, p, 16);
}

static void emit32(uint8_t **c, uint32_t v) { memcpy(*c, &v, 4); *c += 4; }

static void print_hex(const uint8_t *b, int n) {
  for (int i = 0; i < n; i++) printf("%02x", b[i]);
}

int main(void) {
  static char line[8192];
  uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) { perror("mmap"); return 1; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGSEGV, &sa, NULL);

  while (fgets(line, sizeof line, stdin)) {
    char *p = line;
    uint8_t insn[8];
    if (parse_bytes(&p, state_in, 108) != 108) { fprintf(stderr, "bad state\n"); return 1; }
    int mem_len = (int)parse_word(&p);
    if (mem_len > 512) { fprintf(stderr, "bad memory length\n"); return 1; }
    memset(mem, 0, sizeof mem);
    parse_bytes(&p, mem, mem_len);
    int n = parse_bytes(&p, insn, sizeof insn);
    uint32_t fl_in = parse_word(&p);

    uint8_t *c = code;
    *c++ = 0xB8; emit32(&c, 0x12345678);                  /* mov eax, 12345678 */
    *c++ = 0x68; emit32(&c, fl_in); *c++ = 0x9D;          /* push imm; popfd */
    *c++ = 0xDD; *c++ = 0x25; emit32(&c, (uint32_t)(uintptr_t)state_in);   /* frstor */
    memcpy(c, insn, n); c += n;
    uint8_t modrm = insn[n - 1];
    if (modrm < 0xC0) emit32(&c, (uint32_t)(uintptr_t)mem);
    *c++ = 0xA3; emit32(&c, (uint32_t)(uintptr_t)&ax_out); /* mov [ax_out], eax */
    *c++ = 0x9C;                                            /* pushfd */
    *c++ = 0x8F; *c++ = 0x05; emit32(&c, (uint32_t)(uintptr_t)&fl_out);    /* pop [fl_out] */
    *c++ = 0xDD; *c++ = 0x35; emit32(&c, (uint32_t)(uintptr_t)state_out);  /* fnsave */
    *c++ = 0xC3;

    signal_seen = 0;
    if (sigsetjmp(jump, 1) == 0) {
      ((void (*)(void))code)();
    }
    if (signal_seen) {
      /* Leave the host FPU clean for the next case. */
      __asm__ volatile("fninit");
      puts(signal_seen == SIGILL ? "UD" : signal_seen == SIGFPE ? "FPE" : "SEGV");
      continue;
    }
    print_hex(state_out, 108); putchar(' ');
    print_hex(mem, mem_len); putchar(' ');
    printf("%08x %08x\n", ax_out, fl_out);
  }
  return 0;
}
