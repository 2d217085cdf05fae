/* pattern.h — the PRNG and byte pattern the self-test and the randomized suites share: blocks filled, then checked. */
/* SPDX-License-Identifier: MIT */
/* Freestanding, header-only: the QEMU examples include it as the host suites do. */
#ifndef PATTERN_H
#define PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* xorshift64 (Marsaglia 2003): *state must not be 0. */
static inline uint64_t pattern_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A number in [0, n); 0 when n is 0. */
static inline size_t pattern_below(uint64_t *state, size_t n)
{
	return n ? (size_t)(pattern_next(state) % n) : 0;
}

/* Byte i of the pattern of a block seeded with `seed`: position-dependent, so a
 * shifted or swapped copy does not pass for the original. */
static inline unsigned char pattern_byte(unsigned seed, size_t i)
{
	return (unsigned char)(seed + i * 31 + (i >> 9));
}

static inline void pattern_fill(void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		((unsigned char *)p)[i] = pattern_byte(seed, i);
}

/* The first byte of [p, p + n) that differs from the pattern, or n if none. */
static inline size_t pattern_check(const void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)p)[i] != pattern_byte(seed, i))
			return i;
	return n;
}

/* A live block of n bytes and the seed of its pattern. */
struct pattern_block {
	unsigned char *p;
	size_t n;
	unsigned char seed;
};

static inline void pattern_block_fill(struct pattern_block *b) { pattern_fill(b->p, b->n, b->seed); }

/* Do the first n bytes of b still hold its pattern? */
static inline bool pattern_block_intact(const struct pattern_block *b, size_t n)
{
	return pattern_check(b->p, n, b->seed) == n;
}

#endif
