/* leaks.c — the x86 kernel's leak report over serial: live blocks of the kernel heap grouped by requester with liballoc_walk, as LIBALLOC_LEAKS does on Linux. */
/* SPDX-License-Identifier: MIT */
/*
 * A kernel has no symboliser: a requester that is a return address (kmalloc's
 * caller, recorded while liballoc_record_requesters is on) is printed as a hex
 * address for `addr2line -f -e kernel.elf ADDR` on the host; one that is a string
 * (liballoc_heap_malloc_at(NULL, n, LIBALLOC_HERE), "file.c:line") is printed as
 * the string. Which it is: a printable, NUL-terminated "...:<digits>" is taken for
 * a string.
 *
 * kernel_leak_selftest(), run at the end of the self-test, records requesters,
 * makes two leaks the report must find — 3 blocks of 100 bytes from leak_small()
 * (by return address) and 1 block of 5000 bytes named by LIBALLOC_HERE — prints
 * the report, frees them and prints it again (no leaks), then stops recording and
 * trims (the freed blocks wait in the quarantine until then).
 */
#include "kernel.h"
#include "liballoc.h"

#define SITES 32  /* requesters counted; the rest are summed apart */

struct site {
	const void *site;
	size_t blocks, bytes;
};

struct leaks {
	struct site s[SITES];
	size_t n;
	size_t other_blocks, other_bytes;  /* beyond SITES requesters */
	size_t anon_blocks, anon_bytes;    /* live blocks without a requester */
};

/* Runs under the heap lock: it only counts (console output waits for the walk's end). */
static int count(const struct liballoc_block *b, void *arg)
{
	struct leaks *l = arg;
	if (b->state != LIBALLOC_BLOCK_LIVE)
		return 0;
	if (!b->site) {
		l->anon_blocks++;
		l->anon_bytes += b->size;
		return 0;
	}
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].site == b->site) {
			l->s[i].blocks++;
			l->s[i].bytes += b->size;
			return 0;
		}
	if (l->n == SITES) {
		l->other_blocks++;
		l->other_bytes += b->size;
		return 0;
	}
	l->s[l->n++] = (struct site){b->site, 1, b->size};
	return 0;
}

/* "file.c:123": printable up to a NUL, with a colon followed by digits only. */
static bool is_text(const char *p)
{
	size_t n = 0, colon = 0;
	while (n < 200 && p[n] >= 0x20 && p[n] < 0x7f) {
		if (p[n] == ':')
			colon = n;
		n++;
	}
	if (p[n] != 0 || !colon || colon + 1 == n)
		return false;
	for (size_t i = colon + 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static void plural(size_t n, const char *one, const char *many)
{
	console_dec(n);
	console_write(n == 1 ? one : many);
}

/* Walk the kernel heap and print its live blocks by requester, largest first.
 * Fills *out (the sites sorted) and returns the walk's result. */
static int leak_report(struct leaks *out)
{
	struct leaks *l = out;
	*l = (struct leaks){0};
	int r = liballoc_walk(NULL, count, l);
	for (size_t i = 1; i < l->n; i++)  /* insertion sort: by bytes, then blocks */
		for (size_t j = i; j > 0 && (l->s[j].bytes > l->s[j - 1].bytes ||
					     (l->s[j].bytes == l->s[j - 1].bytes && l->s[j].blocks > l->s[j - 1].blocks)); j--) {
			struct site t = l->s[j];
			l->s[j] = l->s[j - 1];
			l->s[j - 1] = t;
		}
	size_t blocks = l->other_blocks, bytes = l->other_bytes;
	for (size_t i = 0; i < l->n; i++)
		blocks += l->s[i].blocks, bytes += l->s[i].bytes;
	console_write("x86: leak report: ");
	if (r) {
		console_write("(the walk stopped: ");
		console_write(liballoc_strerror(r));
		console_write(") ");
	}
	if (!blocks) {
		console_write("no leaks");
	} else {
		plural(blocks, " block, ", " blocks, ");
		plural(bytes, " byte", " bytes");
		console_write(" still live, from ");
		plural(l->n + (l->other_blocks != 0), " site", " sites");
		console_write(", largest first:");
	}
	console_write(" (");
	plural(l->anon_blocks, " block", " blocks");
	console_write(" without a requester not listed)\n");
	for (size_t i = 0; i < l->n; i++) {
		console_write("x86:   ");
		plural(l->s[i].bytes, " byte in ", " bytes in ");
		plural(l->s[i].blocks, " block", " blocks");
		console_write(" allocated by ");
		if (is_text(l->s[i].site)) {
			console_write("\"");
			console_write((const char *)l->s[i].site);
			console_write("\"\n");
		} else {
			console_hex((uintptr_t)l->s[i].site, 8);
			console_write(" (addr2line -f -e kernel.elf)\n");
		}
	}
	if (l->other_blocks) {
		console_write("x86:   ");
		plural(l->other_bytes, " byte in ", " bytes in ");
		plural(l->other_blocks, " block", " blocks");
		console_write(" from more sites\n");
	}
	return r;
}

static void *volatile kept[4];

__attribute__((noinline)) static void leak_small(int i)
{
	kept[i] = kmalloc(100);
	__asm__ volatile("" ::: "memory");  /* kmalloc's caller is this function: no tail call */
}

bool kernel_leak_selftest(void)
{
	static struct leaks l;
	int was = liballoc_record_requesters(1);
	const char *big_site = LIBALLOC_HERE;
	for (int i = 0; i < 3; i++)
		leak_small(i);
	kept[3] = liballoc_heap_malloc_at(NULL, 5000, big_site);
	bool ok = kept[0] && kept[1] && kept[2] && kept[3];
	ok = ok && leak_report(&l) == 0 && l.n == 2 && !l.other_blocks;
	/* Largest first: the named 5000-byte block, then leak_small's three. */
	ok = ok && l.s[0].site == big_site && l.s[0].blocks == 1 && l.s[0].bytes == 5000;
	ok = ok && l.s[1].blocks == 3 && l.s[1].bytes == 300 &&
	     (uintptr_t)l.s[1].site - (uintptr_t)leak_small < 256;  /* a return address inside leak_small */
	for (int i = 0; i < 4; i++)
		kfree(kept[i]);
	ok = ok && leak_report(&l) == 0 && l.n == 0;
	liballoc_record_requesters(was);
	liballoc_trim();
	return ok;
}
