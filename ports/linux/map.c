/* map.c — liballoc_map_svg(): an SVG picture of a heap, one row per page run, blocks coloured by state and size class, with the fragmentation figures. */
/* SPDX-License-Identifier: MIT */
/*
 * The contract is in liballoc_linux.h. How it is drawn:
 *
 *   1. A first liballoc_walk counts the runs; pages from mmap hold one row per run
 *      (never the heap being drawn: the walk holds its lock).
 *   2. A second walk fills the rows. A row is COLS pixels; pixel c of a run of B
 *      bytes covers bytes [c*B/COLS, (c+1)*B/COLS). Each block adds its usable bytes
 *      to the pixels it covers, per class (free, cached, quarantined, live by size
 *      class); a pixel shows the class with the most bytes in it, and a pixel no
 *      block reaches (headers, run headers, a chunk's end) shows as overhead. So
 *      O(blocks + COLS) per run.
 *   3. After the walk, with the lock released, the rows are written as SVG, each
 *      row as runs of equal pixels (one <rect> per run of pixels), with write(2)
 *      through a buffer on the stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "diag_internal.h"
#include "liballoc_linux.h"

#define COLS 800u       /* pixels per row */
#define MAX_ROWS 4000u  /* runs drawn at most */
#define ROW_H 14u
#define BAR_H 11u
#define LABEL_W 300u
#define LEFT 10u
#define TOP 96u
#define WIDTH (LEFT + LABEL_W + COLS + LEFT)

enum { K_NONE, K_FREE, K_CACHED, K_QUAR, K_LIVE0, K_COUNT = K_LIVE0 + 6 };

static const char *const colour[K_COUNT] = {
	"#868e96",  /* headers, run headers, chunk ends */
	"#e9ecef",  /* free */
	"#ffc078",  /* in a thread cache */
	"#e03131",  /* quarantined */
	"#fde725", "#7ad151", "#22a884", "#2a788e", "#414487", "#440154",  /* live, by size */
};
static const char *const label[K_COUNT] = {
	"headers, run ends", "free", "thread cache", "quarantine",
	"live <= 64 B", "<= 512 B", "<= 4 KiB", "<= 32 KiB", "<= 256 KiB", "> 256 KiB",
};
static const size_t live_limit[6] = {64, 512, 4096, 32768, 262144, (size_t)-1};

struct row {
	uintptr_t run;
	uint64_t bytes;
	uint64_t live;           /* usable bytes of live blocks */
	int huge;
	uint8_t col[COLS];
};

struct collect {
	struct row *rows;
	size_t cap, n;           /* rows held, used */
	size_t runs, chunks, huges;
	const void *run;         /* the run being walked */
	struct row *cur;         /* its row, or NULL if beyond cap */
	uint64_t acc[K_COUNT];   /* bytes per class in the current pixel */
	int64_t cell;            /* the current pixel, -1: none */
	uint64_t free_u, largest, live_u, blocks[K_COUNT];
};

static int count_runs(const struct liballoc_block *b, void *arg)
{
	struct collect *c = arg;
	if (b->run != c->run) {
		c->run = b->run;
		c->runs++;
	}
	return 0;
}

static void end_cell(struct collect *c)
{
	if (c->cell >= 0 && c->cur) {
		unsigned best = K_NONE;
		for (unsigned k = 1; k < K_COUNT; k++)
			if (c->acc[k] > c->acc[best])
				best = k;
		c->cur->col[c->cell] = (uint8_t)best;
	}
	memset(c->acc, 0, sizeof c->acc);
	c->cell = -1;
}

static unsigned class_of(const struct liballoc_block *b)
{
	switch (b->state) {
	case LIBALLOC_BLOCK_FREE:
		return K_FREE;
	case LIBALLOC_BLOCK_CACHED:
		return K_CACHED;
	case LIBALLOC_BLOCK_QUARANTINED:
		return K_QUAR;
	default:
		for (unsigned i = 0;; i++)
			if (b->size <= live_limit[i])
				return K_LIVE0 + i;
	}
}

static int draw_block(const struct liballoc_block *b, void *arg)
{
	struct collect *c = arg;
	unsigned k = class_of(b);
	if (b->run != c->run) {
		end_cell(c);
		c->run = b->run;
		c->cur = c->n < c->cap ? &c->rows[c->n++] : NULL;
		if (b->huge)
			c->huges++;
		else
			c->chunks++;
		if (c->cur) {
			c->cur->run = (uintptr_t)b->run;
			c->cur->bytes = b->run_bytes;
			c->cur->huge = b->huge;
		}
	}
	c->blocks[k]++;
	if (k == K_FREE) {
		c->free_u += b->usable;
		if (b->usable > c->largest)
			c->largest = b->usable;
	} else if (k >= K_LIVE0) {
		c->live_u += b->usable;
		if (c->cur)
			c->cur->live += b->usable;
	}
	if (!c->cur || !b->run_bytes)
		return 0;
	uint64_t a = (uint64_t)((uintptr_t)b->ptr - (uintptr_t)b->run), e = a + b->usable, bytes = c->cur->bytes;
	if (e > bytes)
		e = bytes;
	while (a < e) {
		int64_t cell = (int64_t)(a * COLS / bytes);
		uint64_t cell_end = ((uint64_t)(cell + 1) * bytes + COLS - 1) / COLS;
		if (cell != c->cell) {
			end_cell(c);
			c->cell = cell;
		}
		uint64_t take = (e < cell_end ? e : cell_end) - a;
		c->acc[k] += take;
		a += take;
		if (a >= cell_end)
			end_cell(c);
	}
	return 0;
}

/* Text for SVG: &, <, >, " escaped. */
static void put_xml(struct diag_out *o, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': diag_put(o, "&amp;"); break;
		case '<': diag_put(o, "&lt;"); break;
		case '>': diag_put(o, "&gt;"); break;
		case '"': diag_put(o, "&quot;"); break;
		default: diag_char(o, *s);
		}
}

static void text_at(struct diag_out *o, unsigned x, unsigned y, const char *attrs)
{
	diag_put(o, "<text x=\"");
	diag_dec(o, x);
	diag_put(o, "\" y=\"");
	diag_dec(o, y);
	diag_put(o, "\"");
	diag_put(o, attrs);
	diag_put(o, ">");
}

static void rect(struct diag_out *o, unsigned x, unsigned w, unsigned k)
{
	diag_put(o, "<rect x=\"");
	diag_dec(o, x);
	diag_put(o, "\" width=\"");
	diag_dec(o, w);
	diag_put(o, "\" height=\"");
	diag_dec(o, BAR_H);
	diag_put(o, "\" fill=\"");
	diag_put(o, colour[k]);
	diag_put(o, "\"/>");
}

/* v / total as a percentage with one decimal. */
static void percent(struct diag_out *o, uint64_t v, uint64_t total)
{
	diag_fixed(o, total ? (v * 1000 + total / 2) / total : 0, 1);
	diag_put(o, " %");
}

int liballoc_map_svg(liballoc_heap *heap, int fd)
{
	struct collect c;
	struct liballoc_stats s;
	memset(&c, 0, sizeof c);
	c.cell = -1;
	if (liballoc_walk(heap, count_runs, &c) == LIBALLOC_E_LOCK) {
		errno = EAGAIN;
		return -1;
	}
	c.cap = c.runs + 16 < MAX_ROWS ? c.runs + 16 : MAX_ROWS;  /* room for runs made meanwhile */
	size_t mem = c.cap * sizeof(struct row);
	c.rows = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c.rows == MAP_FAILED) {
		errno = ENOMEM;
		return -1;
	}
	c.run = NULL;
	int walk = liballoc_walk(heap, draw_block, &c);
	end_cell(&c);
	liballoc_heap_stats(heap, &s);
	if (walk == LIBALLOC_E_LOCK) {
		munmap(c.rows, mem);
		errno = EAGAIN;
		return -1;
	}

	char buf[16384];
	struct diag_out o;
	unsigned height = TOP + (unsigned)c.n * ROW_H + (c.chunks + c.huges > c.n || walk ? 2 * ROW_H : ROW_H);
	diag_init(&o, fd, buf, sizeof buf);
	diag_put(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"");
	diag_dec(&o, WIDTH);
	diag_put(&o, "\" height=\"");
	diag_dec(&o, height);
	diag_put(&o, "\" viewBox=\"0 0 ");
	diag_dec(&o, WIDTH);
	diag_char(&o, ' ');
	diag_dec(&o, height);
	diag_put(&o, "\" font-family=\"DejaVu Sans Mono, monospace\" font-size=\"11\">\n<title>liballoc heap map</title>\n"
		     "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
	text_at(&o, LEFT, 18, " font-size=\"14\" font-weight=\"bold\"");
	diag_put(&o, "liballoc heap map: ");
	if (heap) {
		diag_put(&o, "heap ");
		diag_hex(&o, (uintptr_t)heap);
	} else {
		diag_put(&o, "the default heap");
	}
	diag_put(&o, " of pid ");
	diag_dec(&o, (uintmax_t)getpid());
	diag_put(&o, " (");
	put_xml(&o, program_invocation_short_name);
	diag_put(&o, "), liballoc ");
	diag_put(&o, liballoc_version());
	diag_put(&o, "</text>\n");

	/* The figures. */
	text_at(&o, LEFT, 38, " id=\"figures\"");
	diag_put(&o, "obtained ");
	diag_bytes(&o, s.obtained);
	diag_put(&o, " | in use ");
	diag_bytes(&o, s.in_use);
	diag_put(&o, " in ");
	diag_dec(&o, s.live_blocks);
	diag_put(&o, " live blocks | free ");
	diag_bytes(&o, c.free_u);
	diag_put(&o, " in ");
	diag_dec(&o, c.blocks[K_FREE]);
	diag_put(&o, " blocks, largest ");
	diag_bytes(&o, c.largest);
	diag_put(&o, " | external fragmentation ");
	percent(&o, c.free_u - c.largest, c.free_u);
	diag_put(&o, "</text>\n");
	text_at(&o, LEFT, 54, " fill=\"#555555\"");
	diag_dec(&o, c.chunks);
	diag_put(&o, c.chunks == 1 ? " chunk, " : " chunks, ");
	diag_dec(&o, c.huges);
	diag_put(&o, c.huges == 1 ? " huge block" : " huge blocks");
	diag_put(&o, "; cached ");
	diag_dec(&o, c.blocks[K_CACHED]);
	diag_put(&o, ", quarantined ");
	diag_dec(&o, c.blocks[K_QUAR]);
	diag_put(&o, ". Each row is one page run drawn ");
	diag_dec(&o, COLS);
	diag_put(&o, " px wide whatever its size; a pixel shows what holds most of its bytes.</text>\n");

	/* The legend. */
	diag_put(&o, "<g id=\"legend\">");
	unsigned x = LEFT;
	for (unsigned k = 0; k < K_COUNT; k++) {
		diag_put(&o, "<rect x=\"");
		diag_dec(&o, x);
		diag_put(&o, "\" y=\"64\" width=\"12\" height=\"12\" stroke=\"#666666\" stroke-width=\"0.5\" fill=\"");
		diag_put(&o, colour[k]);
		diag_put(&o, "\"/>");
		text_at(&o, x + 16, 74, "");
		put_xml(&o, label[k]);
		diag_put(&o, "</text>");
		x += 16 + 7 * (unsigned)strlen(label[k]) + 14;
	}
	diag_put(&o, "</g>\n");

	/* The rows. */
	for (size_t r = 0; r < c.n; r++) {
		const struct row *row = &c.rows[r];
		unsigned y = TOP + (unsigned)r * ROW_H;
		diag_put(&o, "<g class=\"run\">");
		text_at(&o, LEFT, y + BAR_H - 1, "");
		diag_put(&o, row->huge ? "huge  " : "chunk ");
		diag_hex(&o, row->run);
		diag_char(&o, ' ');
		diag_bytes(&o, row->bytes);
		diag_put(&o, ", ");
		percent(&o, row->live, row->bytes);
		diag_put(&o, " live</text>");
		diag_put(&o, "<g transform=\"translate(");
		diag_dec(&o, LEFT + LABEL_W);
		diag_char(&o, ',');
		diag_dec(&o, y);
		diag_put(&o, ")\">");
		rect(&o, 0, COLS, K_NONE);
		for (unsigned i = 0; i < COLS;) {
			unsigned j = i + 1;
			while (j < COLS && row->col[j] == row->col[i])
				j++;
			if (row->col[i] != K_NONE)
				rect(&o, i, j - i, row->col[i]);
			i = j;
		}
		diag_put(&o, "<rect width=\"");
		diag_dec(&o, COLS);
		diag_put(&o, "\" height=\"");
		diag_dec(&o, BAR_H);
		diag_put(&o, "\" fill=\"none\" stroke=\"#495057\" stroke-width=\"0.6\"/></g></g>\n");
	}
	unsigned y = TOP + (unsigned)c.n * ROW_H + BAR_H;
	if (c.chunks + c.huges > c.n) {
		text_at(&o, LEFT, y, " fill=\"#555555\"");
		diag_dec(&o, c.chunks + c.huges - c.n);
		diag_put(&o, " more runs not drawn</text>\n");
		y += ROW_H;
	}
	if (walk) {
		text_at(&o, LEFT, y, " fill=\"#e03131\"");
		diag_put(&o, "the walk stopped early: ");
		put_xml(&o, liballoc_strerror(walk));
		diag_put(&o, "</text>\n");
	}
	diag_put(&o, "</svg>\n");
	diag_flush(&o);
	munmap(c.rows, mem);
	if (o.failed) {
		errno = o.failed;
		return -1;
	}
	return 0;
}
