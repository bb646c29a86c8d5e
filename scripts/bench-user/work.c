/*
 * The guest-side helper of scripts/bench-user.ts, built with
 * `gcc -m32 -static -O2` by scripts/bench-user-image.sh and run from the
 * workload initramfs:
 *
 *   work gen-text BYTES   deterministic English-like text (the gzip input)
 *   work gen-lines N      N deterministic pseudo-random lines (the sort input)
 *   work crunch ROUNDS    the C workload: a sieve and a CRC-32 over 4 MiB per
 *                         round; prints a checksum so a wrong answer shows
 *
 * Inputs are generated in the guest, not shipped in the initramfs, so the
 * image (and with it the boot being timed) stays the size of the default one.
 * The hot loops call no libc: static glibc picks memset/memcpy variants by
 * CPUID, which differs between the emulators, and the work must not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift32: tiny, deterministic, the same on every host and guest. */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

static const char *const words[] = {
	"the", "of", "and", "a", "to", "in", "is", "you", "that", "it",
	"he", "was", "for", "on", "are", "as", "with", "his", "they", "at",
	"be", "this", "have", "from", "or", "one", "had", "by", "word", "but",
	"not", "what", "all", "were", "we", "when", "your", "can", "said", "there",
	"guest", "kernel", "launcher", "interrupt", "page", "table", "virtual", "memory",
	"register", "instruction", "console", "device", "queue", "buffer", "timer", "clock",
	"process", "thread", "signal", "pipe", "file", "block", "network", "packet",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* Lines of 60-80 characters of words, with the odd sentence end, as prose has. */
static void gen_text(long bytes)
{
	long written = 0;
	while (written < bytes) {
		int col = 0;
		while (col < 60) {
			const char *w = words[rng() % NWORDS];
			col += printf("%s%s", col ? " " : "", w);
			if (rng() % 11 == 0)
				col += printf(".");
		}
		putchar('\n');
		written += col + 1;
	}
}

/* 6-20 lowercase letters and a number: mostly distinct keys, as sort meets in logs. */
static void gen_lines(long n)
{
	for (long i = 0; i < n; i++) {
		char line[32];
		int len = 6 + (int)(rng() % 15);
		for (int j = 0; j < len; j++)
			line[j] = (char)('a' + rng() % 26);
		line[len] = 0;
		printf("%s %u\n", line, rng() % 100000);
	}
}

#define SIEVE_N (4u << 20)
static unsigned char flags[SIEVE_N];
static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* Byte-at-a-time CRC-32: a load, a table load and a few ALU ops per byte. */
static uint32_t crc32(const unsigned char *p, uint32_t n, uint32_t crc)
{
	crc = ~crc;
	for (uint32_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/*
 * Sieve of Eratosthenes over odd numbers below SIEVE_N. Starting from
 * flags[i] = i & 1 (not a constant fill) keeps gcc from turning the
 * initialisation into a memset call.
 */
static uint32_t sieve(void)
{
	for (uint32_t i = 0; i < SIEVE_N; i++)
		flags[i] = (unsigned char)(i & 1);
	flags[1] = 0;
	flags[2] = 1;
	for (uint32_t p = 3; p * p < SIEVE_N; p += 2)
		if (flags[p])
			for (uint32_t j = p * p; j < SIEVE_N; j += 2 * p)
				flags[j] = 0;
	uint32_t count = 0;
	for (uint32_t i = 0; i < SIEVE_N; i++)
		count += flags[i];
	return count;
}

static void crunch(long rounds)
{
	uint32_t primes = 0, crc = 0;
	crc_init();
	for (long r = 0; r < rounds; r++) {
		primes = sieve();
		crc = crc32(flags, SIEVE_N, crc);
	}
	printf("primes %u crc %08x\n", primes, crc);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: work gen-text BYTES | gen-lines N | crunch ROUNDS\n");
		return 2;
	}
	long n = atol(argv[2]);
	if (!strcmp(argv[1], "gen-text"))
		gen_text(n);
	else if (!strcmp(argv[1], "gen-lines"))
		gen_lines(n);
	else if (!strcmp(argv[1], "crunch"))
		crunch(n);
	else {
		fprintf(stderr, "work: unknown command %s\n", argv[1]);
		return 2;
	}
	return 0;
}
