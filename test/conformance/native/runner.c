/*
 * The oracle: runs instruction test cases on the host CPU, as a 32-bit Linux
 * process, and reports the machine state each one ends in.
 *
 * Every case is a few instruction bytes placed in a code area (two pages)
 * filled with int3 (0xCC). Whatever the instruction does (falls through,
 * branches inside the area, faults), the case ends with a signal: SIGTRAP from the int3 it
 * reaches, or the signal of the fault. The kernel hands the handler the full
 * user context (registers, EFLAGS, segment selectors, the trap number and
 * error code, and the x87 state in fnsave layout), which is exactly the state
 * the TypeScript core must reproduce. The handler copies it out and
 * siglongjmps back to the case loop, so one process runs any number of cases.
 *
 * Layout constants (CODE_ADDR, CODE_SIZE, SCRATCH_ADDR, SCRATCH_SIZE, LDT_SEL,
 * USER_DS, PATTERN_SEED) come from the TypeScript side (test/conformance/layout.ts) as -D flags, so both sides
 * share one definition. Wire format: see test/conformance/wire.ts.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_CODE 32
#define FPU_IMAGE 108

enum { CASE_FPU = 1, CASE_LDT = 2 };

/* What the trampoline (enter.S) loads before jumping to the instruction. */
struct conf_ctx {
    uint32_t regs[8];   /* EAX ECX EDX EBX ESP EBP ESI EDI */
    uint32_t eflags;
    uint32_t entry;
    uint32_t sel;       /* DS ES FS GS SS */
    uint32_t use_fpu;
    uint8_t fpu[FPU_IMAGE];
};
struct conf_ctx conf_cur;
void conf_enter(void) __attribute__((noreturn));

struct result {
    int32_t sig, trapno, err;
    uint32_t regs[8], eip, eflags;
    uint32_t cs, ss, ds, es, fs, gs;
    uint32_t cr2;
    uint8_t fpu[FPU_IMAGE];
};

static sigjmp_buf back;
static struct result res;
static uint16_t host_fs, host_gs;
static uint8_t *code = (uint8_t *)CODE_ADDR;
static uint8_t *scratch = (uint8_t *)SCRATCH_ADDR;
/* The scratch area's pattern (every case starts from it plus its patches),
 * and the state a case starts from; both are restored after each case. */
static uint8_t pristine[SCRATCH_SIZE], initial[SCRATCH_SIZE];

static void die(const char *what) {
    perror(what);
    exit(2);
}

/* Same pattern as fillScratch() in layout.ts: xorshift32 words. */
static void fill_pattern(void) {
    uint32_t x = PATTERN_SEED;
    for (int i = 0; i < SCRATCH_SIZE; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(pristine + i, &x, 4);
    }
    memcpy(scratch, pristine, SCRATCH_SIZE);
    memcpy(initial, pristine, SCRATCH_SIZE);
}

/* Runs on the alternate stack. FS/GS still hold the test's selectors, and
 * glibc reaches its thread data (errno, the pointer guard siglongjmp uses)
 * through GS, so they are restored before any library call. */
static void on_signal(int sig, siginfo_t *si, void *ctxp) {
    (void)si;
    /* A case may leave EFLAGS.AC set (popf, iret), and the kernel keeps it
     * for the handler: with CR0.AM on, glibc's unaligned accesses would trap. */
    __asm__ volatile("pushfl\n\tandl $~0x40000, (%%esp)\n\tpopfl" ::: "cc", "memory");
    __asm__ volatile("mov %0, %%fs\n\tmov %1, %%gs" ::"r"(host_fs), "r"(host_gs));
    ucontext_t *uc = ctxp;
    greg_t *g = uc->uc_mcontext.gregs;
    res.sig = sig;
    res.trapno = sig == SIGALRM ? -2 : g[REG_TRAPNO];
    res.err = g[REG_ERR];
    res.regs[0] = g[REG_EAX];
    res.regs[1] = g[REG_ECX];
    res.regs[2] = g[REG_EDX];
    res.regs[3] = g[REG_EBX];
    res.regs[4] = g[REG_UESP];
    res.regs[5] = g[REG_EBP];
    res.regs[6] = g[REG_ESI];
    res.regs[7] = g[REG_EDI];
    res.eip = g[REG_EIP];
    res.eflags = g[REG_EFL];
    res.cs = g[REG_CS] & 0xffff;
    res.ss = g[REG_SS] & 0xffff;
    res.ds = g[REG_DS] & 0xffff;
    res.es = g[REG_ES] & 0xffff;
    res.fs = g[REG_FS] & 0xffff;
    res.gs = g[REG_GS] & 0xffff;
    res.cr2 = uc->uc_mcontext.cr2;
    if (uc->uc_mcontext.fpregs) memcpy(res.fpu, uc->uc_mcontext.fpregs, FPU_IMAGE);
    siglongjmp(back, 1);
}

static void *map_fixed(void *addr, size_t len) {
    void *p = mmap(addr, len, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != addr) die("mmap");
    return p;
}

/* LDT entry 0: a writable 32-bit data segment based at the scratch area, so
 * that 16-bit effective addresses (which never leave the first 64 KiB of the
 * segment) land in mapped memory, and segment bases get exercised. */
static void set_ldt(void) {
    struct user_desc d;
    memset(&d, 0, sizeof d);
    d.entry_number = 0;
    d.base_addr = SCRATCH_ADDR;
    d.limit = 0xfffff;
    d.seg_32bit = 1;
    d.limit_in_pages = 1;
    if (syscall(SYS_modify_ldt, 1, &d, sizeof d) != 0) die("modify_ldt");
}

static int read_full(void *buf, size_t n) {
    size_t got = fread(buf, 1, n, stdin);
    if (got == 0 && n > 0 && feof(stdin)) return 0;
    if (got != n) {
        fprintf(stderr, "runner: truncated case record\n");
        exit(2);
    }
    return 1;
}

static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void put32(uint32_t v) { fwrite(&v, 4, 1, stdout); }

int main(void) {
    map_fixed(code, CODE_SIZE);
    map_fixed(scratch, SCRATCH_SIZE);
    fill_pattern();
    set_ldt();
    __asm__ volatile("mov %%fs, %0\n\tmov %%gs, %1" : "=r"(host_fs), "=r"(host_gs));

    stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) die("sigaltstack");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGALRM};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");

    static uint8_t rec[1 << 16];
    static uint32_t diffs[SCRATCH_SIZE];
    uint32_t len;
    while (read_full(&len, 4)) {
        if (len < 8 || len > sizeof rec) {
            fprintf(stderr, "runner: bad record length %u\n", len);
            return 2;
        }
        read_full(rec + 4, len - 4);
        const uint8_t *p = rec + 4;
        uint32_t id = rd32(p), flags = rd32(p + 4), off = rd32(p + 8), clen = rd32(p + 12);
        p += 16;
        if (clen > MAX_CODE || off + clen > CODE_SIZE) {
            fprintf(stderr, "runner: case %u: bad code placement\n", id);
            return 2;
        }
        memset(code, 0xcc, CODE_SIZE);
        memcpy(code + off, p, clen);
        p += MAX_CODE;
        memcpy(conf_cur.regs, p, 32);
        conf_cur.eflags = rd32(p + 32);
        uint32_t npatch = rd32(p + 36);
        p += 40;
        const uint8_t *patches = p;
        for (uint32_t i = 0; i < npatch; i++) {
            uint32_t po = rd32(p), pl = rd32(p + 4);
            if (po > SCRATCH_SIZE || pl > SCRATCH_SIZE - po) {
                fprintf(stderr, "runner: case %u: patch outside scratch\n", id);
                return 2;
            }
            memcpy(scratch + po, p + 8, pl);
            memcpy(initial + po, p + 8, pl);
            p += 8 + ((pl + 3) & ~3u);
        }
        conf_cur.use_fpu = flags & CASE_FPU;
        if (conf_cur.use_fpu) memcpy(conf_cur.fpu, p, FPU_IMAGE);
        conf_cur.entry = CODE_ADDR + off;
        conf_cur.sel = (flags & CASE_LDT) ? LDT_SEL : USER_DS;

        memset(&res, 0, sizeof res);
        alarm(2);
        if (sigsetjmp(back, 1) == 0) conf_enter();
        alarm(0);

        /* Report what changed, then put the pattern back for the next case
         * (the changed bytes and the patched ones are all that differ from it). */
        uint32_t ndiff = 0;
        for (uint32_t blk = 0; blk < SCRATCH_SIZE; blk += 64) {
            if (memcmp(scratch + blk, initial + blk, 64) == 0) continue;
            for (uint32_t i = blk; i < blk + 64; i++) {
                if (scratch[i] == initial[i]) continue;
                diffs[ndiff++] = i | (uint32_t)scratch[i] << 16;
                scratch[i] = pristine[i];
            }
        }
        for (uint32_t i = 0; i < npatch; i++) {
            uint32_t po = rd32(patches), pl = rd32(patches + 4);
            memcpy(scratch + po, pristine + po, pl);
            memcpy(initial + po, pristine + po, pl);
            patches += 8 + ((pl + 3) & ~3u);
        }
        uint32_t outlen = 4 * (2 + 20 + 1 + ndiff) + (conf_cur.use_fpu ? FPU_IMAGE : 0);
        put32(outlen);
        put32(id);
        fwrite(&res, 4, 20, stdout);
        put32(ndiff);
        fwrite(diffs, 4, ndiff, stdout);
        if (conf_cur.use_fpu) fwrite(res.fpu, 1, FPU_IMAGE, stdout);
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
