/* map_prog.c — draws heaps with liballoc_map_svg(): a region heap holding a known pattern of blocks, and the default heap; for tests/linux/check_map.py. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: map_prog REGION_SVG DEFAULT_SVG
 *        map_prog --demo SVG   (the picture in README.md)
 * Prints on stdout what the region heap holds, counted with liballoc_walk:
 *   region free_blocks=N free_bytes=N largest=N live_blocks=N
 * and "badfd ok" when liballoc_map_svg on a closed descriptor fails with EBADF.
 * Exits 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "liballoc_linux.h"

static _Alignas(16) unsigned char region[1 << 20];

struct count {
	size_t free_blocks, free_bytes, largest, live;
};

static int visit(const struct liballoc_block *b, void *arg)
{
	struct count *c = arg;
	if (b->state == LIBALLOC_BLOCK_FREE) {
		c->free_blocks++;
		c->free_bytes += b->usable;
		if (b->usable > c->largest)
			c->largest = b->usable;
	} else if (b->state == LIBALLOC_BLOCK_LIVE) {
		c->live++;
	}
	return 0;
}

static int draw(liballoc_heap *h, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || liballoc_map_svg(h, fd) != 0) {
		fprintf(stderr, "map_prog: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return close(fd) != 0;
}

/* --demo: the picture in README.md. Phases of blocks of one size range each (as the
 * benchmark's fragphase), 9 in 10 freed at random after each phase, drawn after the
 * fourth phase, when the heap holds the survivors of all four. */
static int demo(const char *path)
{
	static const size_t mix[][2] = {{16, 64}, {1024, 4096}, {64, 256}, {4096, 32768}};
	static void *live[100000];
	size_t n = 0;
	uint64_t x = 88172645463325252ull;
	for (size_t m = 0; m < 4; m++) {
		size_t first = n;
		for (size_t got = 0; got < (1u << 20) && n < 100000; n++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t size = mix[m][0] + x % (mix[m][1] - mix[m][0] + 1);
			live[n] = malloc(size);
			memset(live[n], 1, size);
			got += size;
		}
		for (size_t i = first; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (x % 10) {
				free(live[i]);
				live[i] = NULL;
			}
		}
	}
	int r = draw(NULL, path);
	for (size_t i = 0; i < n; i++)
		free(live[i]);
	return r;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--demo") == 0)
		return demo(argv[2]);
	static const size_t sizes[] = {24, 200, 3000, 20000, 64};
	void *p[240];
	if (argc != 3) {
		fprintf(stderr, "usage: %s REGION_SVG DEFAULT_SVG\n", argv[0]);
		return 2;
	}
	liballoc_heap *h = liballoc_heap_create_in(region, sizeof region);
	if (!h)
		return 1;
	for (int i = 0; i < 240; i++)
		p[i] = liballoc_heap_malloc(h, sizes[i % 5]);
	for (int i = 0; i < 240; i += 2)  /* every other block: a fragmented heap */
		liballoc_heap_free(h, p[i]);
	struct count c = {0, 0, 0, 0};
	liballoc_walk(h, visit, &c);
	printf("region free_blocks=%zu free_bytes=%zu largest=%zu live_blocks=%zu\n", c.free_blocks, c.free_bytes,
	       c.largest, c.live);
	if (draw(h, argv[1]))
		return 1;

	void *q[100];
	for (int i = 0; i < 100; i++)
		q[i] = malloc((size_t)(i * 97 % 5000) + 1);
	void *volatile big = malloc(1 << 20);  /* volatile: or the compiler drops the pair */
	for (int i = 0; i < 100; i += 3)
		free(q[i]);
	if (draw(NULL, argv[2]))
		return 1;
	free(big);

	int fd = open("/dev/null", O_WRONLY);
	close(fd);
	errno = 0;
	if (liballoc_map_svg(NULL, fd) == -1 && errno == EBADF)
		printf("badfd ok\n");
	return 0;
}
