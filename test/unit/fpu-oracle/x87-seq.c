/*
 * Runs short x87 instruction sequences on the host FPU, the way libm's
 * i386 functions use them: fninit, fld m64 y, fld m64 x, the sequence
 * (register forms only), fstp m64; prints the double stored and the status
 * word.
 *
 * Build: gcc -m32 -O1 -o x87-seq x87-seq.c
 * Input lines:  <sequence bytes, hex> <x as 16 hex digits> <y as 16 hex digits> <control word, hex>
 * Output lines: <result as 16 hex digits> <status word, hex>
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t in_x, in_y, out_r;
static uint16_t in_cw, out_sw;

static void emit32(uint8_t **c, uint32_t v) { memcpy(*c, &v, 4); *c += 4; }

int main(void) {
  static char line[4096], seq[2048];
  uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) { perror("mmap"); return 1; }
  while (fgets(line, sizeof line, stdin)) {
    unsigned long long x, y;
    unsigned cw;
    if (sscanf(line, "%2047s %llx %llx %x", seq, &x, &y, &cw) != 4) { fprintf(stderr, "bad line\n"); return 1; }
    in_x = x; in_y = y; in_cw = (uint16_t)cw;
    uint8_t *c = code;
    *c++ = 0xDB; *c++ = 0xE3;                                               /* fninit */
    *c++ = 0xD9; *c++ = 0x2D; emit32(&c, (uint32_t)(uintptr_t)&in_cw);     /* fldcw */
    *c++ = 0xDD; *c++ = 0x05; emit32(&c, (uint32_t)(uintptr_t)&in_y);      /* fld m64 y */
    *c++ = 0xDD; *c++ = 0x05; emit32(&c, (uint32_t)(uintptr_t)&in_x);      /* fld m64 x */
    for (char *p = seq; p[0] && p[1]; p += 2) {
      unsigned b;
      sscanf(p, "%2x", &b);
      *c++ = (uint8_t)b;
    }
    *c++ = 0xDD; *c++ = 0x1D; emit32(&c, (uint32_t)(uintptr_t)&out_r);     /* fstp m64 */
    *c++ = 0xDD; *c++ = 0x3D; emit32(&c, (uint32_t)(uintptr_t)&out_sw);    /* fnstsw */
    *c++ = 0xDB; *c++ = 0xE3;                                               /* fninit */
    *c++ = 0xC3;
    ((void (*)(void))code)();
    printf("%016llx %04x\n", (unsigned long long)out_r, out_sw);
  }
  return 0;
}
