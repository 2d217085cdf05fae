/* diag.c — the Linux port's diagnostics: run-time knobs from the environment, misuse reports, and the stats, check, leak report and heap map at exit. */
/* SPDX-License-Identifier: MIT */
/*
 * The knobs (README.md, "Run-time knobs", lists them all) are read once, by the
 * constructor below, with getenv: nothing is allocated.
 *
 * Misuse reports run inside free() or realloc(), after the core has released the
 * heap lock, with a heap that may be broken. So nothing here allocates: text is
 * formatted into buffers on the stack or in static storage and written with
 * write(2). The first line is written before anything else is tried; then come the
 * block's description (liballoc_describe, which takes the lock), where it was
 * allocated and freed (when requesters are recorded), and last a backtrace. glibc's
 * backtrace() loads libgcc_s, allocating, on first use: when requesters are
 * recorded (or LIBALLOC_VERBOSE=2) the constructor has called it already, so the
 * whole report allocates nothing; otherwise only the backtrace, after the rest of
 * the report is written, may allocate.
 *
 * At exit (a destructor, so it runs after the program's atexit handlers and static
 * destructors, which free what they own): LIBALLOC_CHECK, LIBALLOC_LEAKS,
 * LIBALLOC_MAP and LIBALLOC_STATS, in that order. Each walks the heap with
 * liballoc_walk into memory from mmap, never from the heap, and formats and
 * symbolises only after the walk, outside the heap lock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "diag_internal.h"
#include "liballoc_linux.h"

/* ---- text output -------------------------------------------------------------- */

void diag_init(struct diag_out *o, int fd, char *buf, size_t cap)
{
	o->fd = fd;
	o->failed = 0;
	o->len = 0;
	o->cap = cap;
	o->buf = buf;
}

void diag_flush(struct diag_out *o)
{
	size_t done = 0;
	if (o->fd < 0)
		return;
	int saved = errno;
	while (done < o->len) {
		ssize_t k = write(o->fd, o->buf + done, o->len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (!o->failed)
				o->failed = k < 0 ? errno : EIO;
			break;
		}
		done += (size_t)k;
	}
	o->len = 0;
	errno = saved;
}

void diag_putn(struct diag_out *o, const char *s, size_t n)
{
	while (n) {
		if (o->len == o->cap) {
			if (o->fd < 0)
				return;
			diag_flush(o);
		}
		size_t k = o->cap - o->len < n ? o->cap - o->len : n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

void diag_put(struct diag_out *o, const char *s) { diag_putn(o, s, strlen(s)); }
void diag_char(struct diag_out *o, char c) { diag_putn(o, &c, 1); }

static void number(struct diag_out *o, uintmax_t v, unsigned base)
{
	char tmp[48];
	size_t i = sizeof tmp;
	do
		tmp[--i] = "0123456789abcdef"[v % base];
	while ((v /= base) != 0);
	diag_putn(o, tmp + i, sizeof tmp - i);
}

void diag_dec(struct diag_out *o, uintmax_t v) { number(o, v, 10); }

void diag_hex(struct diag_out *o, uintmax_t v)
{
	diag_put(o, "0x");
	number(o, v, 16);
}

void diag_fixed(struct diag_out *o, uintmax_t v, unsigned decimals)
{
	uintmax_t scale = 1;
	for (unsigned i = 0; i < decimals; i++)
		scale *= 10;
	diag_dec(o, v / scale);
	if (decimals) {
		char tmp[24];
		uintmax_t frac = v % scale;
		for (unsigned i = decimals; i-- > 0; frac /= 10)
			tmp[i] = (char)('0' + frac % 10);
		diag_char(o, '.');
		diag_putn(o, tmp, decimals);
	}
}

void diag_bytes(struct diag_out *o, uintmax_t v)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	if (v < 1024) {
		diag_dec(o, v);
		diag_put(o, " B");
		return;
	}
	uintmax_t unit = 1024;
	unsigned u = 0;
	while (u + 1 < sizeof units / sizeof *units && v / unit >= 1024)
		unit *= 1024, u++;
	/* tenths, rounded to nearest, without overflowing for huge v */
	uintmax_t tenths = v / unit * 10 + (v % unit * 10 + unit / 2) / unit;
	diag_fixed(o, tenths, 1);
	diag_char(o, ' ');
	diag_put(o, units[u]);
}

void diag_pad(struct diag_out *o, size_t from, size_t width)
{
	while (o->len - from < width && o->len < o->cap)
		diag_char(o, ' ');
}

/* "liballoc: " */
static void prefix(struct diag_out *o) { diag_put(o, "liballoc: "); }

/* "pid 1234, name" */
static void who(struct diag_out *o)
{
	diag_put(o, "pid ");
	diag_dec(o, (uintmax_t)getpid());
	diag_put(o, ", ");
	diag_put(o, program_invocation_short_name);
}

/* ---- knobs -------------------------------------------------------------------- */

struct diag_knobs diag_knobs = {.verbose = 1, .selected = 1};

static int same_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		if (x != *b)
			return 0;
	}
	return *a == *b;
}

static void warn(const char *name, const char *value, const char *what)
{
	char buf[512];
	struct diag_out o;
	diag_init(&o, 2, buf, sizeof buf);
	prefix(&o);
	diag_put(&o, name);
	diag_char(&o, '=');
	diag_put(&o, value);
	diag_put(&o, ": ");
	diag_put(&o, what);
	diag_char(&o, '\n');
	diag_flush(&o);
}

/* A boolean knob: 1/0, true/false, on/off, yes/no (any case); unset or empty gives
 * `def`; anything else is reported and gives `def`. */
static int knob_bool(const char *name, int def)
{
	static const char *const yes[] = {"1", "true", "on", "yes"}, *const no[] = {"0", "false", "off", "no"};
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	for (size_t i = 0; i < 4; i++) {
		if (same_nocase(v, yes[i]))
			return 1;
		if (same_nocase(v, no[i]))
			return 0;
	}
	warn(name, v, def ? "not a boolean (1/0, true/false, on/off, yes/no): ignored, on"
			  : "not a boolean (1/0, true/false, on/off, yes/no): ignored, off");
	return def;
}

static const char *knob_text(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* LIBALLOC_ONLY: a comma-separated list of program names (as in ps: the base name
 * of argv[0]) and process ids; empty or unset selects every process. */
static int selected(const char *list)
{
	if (!list)
		return 1;
	const char *me = program_invocation_short_name;
	char pid[24];
	struct diag_out o;
	diag_init(&o, -1, pid, sizeof pid - 1);
	diag_dec(&o, (uintmax_t)getpid());
	pid[o.len] = 0;
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		if (n && ((strlen(me) == n && memcmp(me, list, n) == 0) || (strlen(pid) == n && memcmp(pid, list, n) == 0)))
			return 1;
		list += n + (end != NULL);
	}
	return 0;
}

int diag_expand_path(const char *pattern, char *buf, size_t cap)
{
	struct diag_out o;
	diag_init(&o, -1, buf, cap);
	for (const char *p = pattern; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			diag_dec(&o, (uintmax_t)getpid());
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			diag_char(&o, '%');
			p++;
		} else {
			diag_char(&o, *p);
		}
	}
	if (o.len >= cap)
		return -1;
	buf[o.len] = 0;
	return 0;
}

__attribute__((constructor)) static void read_knobs(void)
{
	struct diag_knobs *k = &diag_knobs;
	const char *v = getenv("LIBALLOC_VERBOSE");
	if (v && *v) {
		if (v[1] == 0 && v[0] >= '0' && v[0] <= '2')
			k->verbose = v[0] - '0';
		else
			warn("LIBALLOC_VERBOSE", v, "not 0, 1 or 2: ignored, 1");
	}
	k->selected = selected(knob_text("LIBALLOC_ONLY"));
	if (k->selected) {
		k->stats_file = knob_text("LIBALLOC_STATS_FILE");
		k->stats = knob_bool("LIBALLOC_STATS", k->stats_file != NULL);
		k->check = knob_bool("LIBALLOC_CHECK", 0);
		k->leaks = knob_bool("LIBALLOC_LEAKS", 0);
		k->map = knob_text("LIBALLOC_MAP");
		k->requesters = knob_bool("LIBALLOC_REQUESTERS", LIBALLOC_HARDENED) || k->leaks;
	} else {
		k->requesters = LIBALLOC_HARDENED;
	}
	if (k->verbose >= 1 && (k->requesters || k->verbose >= 2)) {
		/* glibc's backtrace loads libgcc_s (dlopen: it allocates) on first use: when
		 * diagnostics are asked for, do that now, so a misuse report's backtrace
		 * allocates nothing, and before recording starts, so the loader's blocks
		 * are not counted as leaks. Otherwise a report loads it only after all its
		 * other lines are written (it costs every process 0.3 ms and 100 KiB). */
		void *frame[2];
		backtrace(frame, 2);
	}
	/* Blocks cut before recording began have no room for a requester, and the
	 * thread cache would hand them out again: give them back first. */
	if (k->requesters && !liballoc_record_requesters(1))
		liballoc_trim();
	liballoc_record_requesters(k->requesters);
	if (k->verbose >= 2) {
		char buf[1024];
		struct diag_out o;
		diag_init(&o, 2, buf, sizeof buf);
		prefix(&o);
		diag_put(&o, "liballoc ");
		diag_put(&o, liballoc_version());
		diag_put(&o, LIBALLOC_HARDENED ? " (hardened), " : ", ");
		who(&o);
		if (!k->selected) {
			diag_put(&o, ": not named by LIBALLOC_ONLY, no knob applies\n");
		} else {
			diag_put(&o, ":");
			if (k->stats)
				diag_put(&o, " stats");
			if (k->stats_file) {
				diag_put(&o, " (to ");
				diag_put(&o, k->stats_file);
				diag_put(&o, ")");
			}
			if (k->check)
				diag_put(&o, " check");
			if (k->leaks)
				diag_put(&o, " leaks");
			if (k->requesters)
				diag_put(&o, " requesters");
			if (k->map) {
				diag_put(&o, " map=");
				diag_put(&o, k->map);
			}
			diag_put(&o, " verbose=2\n");
		}
		diag_flush(&o);
	}
}

/* ---- misuse reports ----------------------------------------------------------- */

static struct diag_sym report_syms[48];

/* "allocated by f+0x1a (file.c:12) in /path/prog" */
static void site_line(struct diag_out *o, const char *what, const void *site)
{
	struct diag_sym *s = &report_syms[0];
	s->addr = site;
	diag_symbolize(s, 1, diag_knobs.verbose >= 1, 1);
	prefix(o);
	diag_put(o, "  ");
	diag_put(o, what);
	diag_char(o, ' ');
	diag_put_sym(o, s);
	diag_char(o, '\n');
}

static void describe_block(struct diag_out *o, const void *ptr, const struct liballoc_block *b)
{
	prefix(o);
	if (b->ptr == ptr) {
		diag_put(o, "  block ");
	} else {
		diag_put(o, "  ");
		diag_hex(o, (uintptr_t)ptr);
		diag_put(o, " is ");
		diag_dec(o, (uintmax_t)((const char *)ptr - (const char *)b->ptr));
		diag_put(o, " bytes into block ");
	}
	diag_hex(o, (uintptr_t)b->ptr);
	diag_put(o, ": ");
	switch (b->state) {
	case LIBALLOC_BLOCK_LIVE:
		diag_dec(o, b->size);
		diag_put(o, " bytes requested (");
		diag_dec(o, b->usable);
		diag_put(o, " usable), live");
		break;
	case LIBALLOC_BLOCK_FREE:
		diag_dec(o, b->usable);
		diag_put(o, " usable bytes, free");
		if (b->ptr != ptr)
			diag_put(o, " (merged with a neighbour since it was freed)");
		break;
	case LIBALLOC_BLOCK_CACHED:
		diag_dec(o, b->usable);
		diag_put(o, " usable bytes, freed, held in a thread cache");
		break;
	default:
		diag_dec(o, b->usable);
		diag_put(o, " usable bytes, freed, held in the quarantine");
		break;
	}
	if (b->huge) {
		diag_put(o, "; its own page run of ");
		diag_bytes(o, b->run_bytes);
	}
	diag_char(o, '\n');
	if (b->site)
		site_line(o, "allocated by", b->site);
	if (b->freed_at)
		site_line(o, "freed by", b->freed_at);
	if (!b->site && b->state != LIBALLOC_BLOCK_FREE) {
		prefix(o);
		diag_put(o, diag_knobs.requesters ? "  (allocated before requesters were recorded)\n"
						  : "  (LIBALLOC_REQUESTERS=1 records where each block is allocated)\n");
	}
}

/* Not a block of the default heap: say what it is, from /proc/self/maps and the
 * symbol tables. */
static void describe_foreign(struct diag_out *o, const void *ptr)
{
	char name[256], perms[5], sym[160];
	uintptr_t lo, hi, off;
	prefix(o);
	diag_put(o, "  ");
	diag_hex(o, (uintptr_t)ptr);
	diag_put(o, " is not in liballoc's heap");
	if (!diag_mapping(ptr, name, sizeof name, &lo, &hi, perms)) {
		diag_put(o, " nor in any mapping\n");
		return;
	}
	diag_put(o, "; it is in ");
	diag_put(o, name[0] ? name : "anonymous memory");
	diag_put(o, " (");
	diag_put(o, perms);
	diag_put(o, ")");
	if (diag_data_symbol(ptr, sym, sizeof sym, &off)) {
		diag_put(o, ", ");
		diag_put(o, sym);
		diag_char(o, '+');
		diag_hex(o, off);
	}
	diag_char(o, '\n');
}

/* The frames of the calling thread, less the allocator's own. */
static void print_backtrace(struct diag_out *o)
{
	void *frames[48];
	int n = backtrace(frames, 48), skip = 0;
	Dl_info me, f;
	struct link_map *lm = NULL;
	if (dladdr1((void *)(uintptr_t)liballoc_linux_report, &me, (void **)&lm, RTLD_DL_LINKMAP) && lm && lm->l_name &&
	    lm->l_name[0]) {
		/* liballoc.so: skip its frames (the first is this function's caller). */
		while (skip < n && dladdr(frames[skip], &f) && f.dli_fbase == me.dli_fbase)
			skip++;
	} else {
		skip = n > 2 ? 2 : 0;  /* linked into the program: skip this and the handler */
	}
	for (int i = skip; i < n; i++)
		report_syms[i - skip].addr = frames[i];
	diag_symbolize(report_syms, (size_t)(n - skip), diag_knobs.verbose >= 1, 1);
	prefix(o);
	diag_put(o, "  backtrace:\n");
	for (int i = skip; i < n; i++) {
		prefix(o);
		diag_put(o, "    #");
		diag_dec(o, (uintmax_t)(i - skip));
		diag_char(o, ' ');
		diag_put_sym(o, &report_syms[i - skip]);
		diag_char(o, '\n');
	}
}

__attribute__((noinline)) static void explain(int error, void *ptr)
{
	char buf[2048];
	struct diag_out o;
	struct liballoc_block b;
	diag_init(&o, 2, buf, sizeof buf);
	if (ptr && error != LIBALLOC_E_LOCK) {
		if (liballoc_describe(NULL, ptr, &b))
			describe_block(&o, ptr, &b);
		else
			describe_foreign(&o, ptr);
	}
	print_backtrace(&o);
	diag_flush(&o);
}

/* The default error handler (LIBALLOC_ERROR_HANDLER): the report, then abort(),
 * like glibc's "free(): double free detected". */
void liballoc_linux_report(int error, void *ptr)
{
	static pid_t reporter;
	char buf[256];
	struct diag_out o;
	diag_init(&o, 2, buf, sizeof buf);
	prefix(&o);
	diag_put(&o, liballoc_strerror(error));
	diag_put(&o, " at ");
	diag_hex(&o, (uintptr_t)ptr);
	diag_put(&o, " (pid ");
	diag_dec(&o, (uintmax_t)getpid());
	diag_put(&o, ")\n");
	diag_flush(&o);
	/* One detailed report per process: a second thread's waits for the first's
	 * abort; a report that fails inside itself just aborts. */
	pid_t me = (pid_t)syscall(SYS_gettid), none = 0;
	if (!__atomic_compare_exchange_n(&reporter, &none, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (none == me)
			abort();
		for (;;)
			pause();
	}
	if (diag_knobs.verbose >= 1)
		explain(error, ptr);
	abort();
}

/* ---- memory for the walks: mmap, never the heap ------------------------------- */

static void *pages(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* ---- LIBALLOC_STATS ----------------------------------------------------------- */

/* Every byte the walk sees, by what it is. */
struct tally {
	size_t req, slack, live;          /* live blocks: requested bytes, the rest of their usable bytes, count */
	size_t free_u, free_n, largest;   /* free blocks: usable bytes, count, the largest */
	size_t cached_u, cached_n;        /* blocks in thread caches */
	size_t quar_u, quar_n;            /* blocks in the quarantine */
	size_t headers;                   /* block headers and requester trailers */
	size_t runs;                      /* run headers, chunk ends, huge runs' alignment and rounding */
	size_t run_bytes;                 /* every run walked */
	const void *run;                  /* the run being walked ... */
	uintptr_t run_end, prev_ptr;      /* ... its end, and its previous block */
	size_t prev_usable, fp_sum;
};

/* The previous chunk block spans up to `next` (the next block's payload, or the end
 * of its chunk): its header and trailer are what is not usable. */
static void close_block(struct tally *t, uintptr_t next)
{
	size_t fp = next - t->prev_ptr;
	t->headers += fp - t->prev_usable;
	t->fp_sum += fp;
	t->prev_ptr = 0;
}

static void close_run(struct tally *t)
{
	if (t->prev_ptr) {
		close_block(t, t->run_end);
		t->runs += t->run_end - (uintptr_t)t->run - t->fp_sum;
	}
	t->run = NULL;
}

static int tally_block(const struct liballoc_block *b, void *arg)
{
	struct tally *t = arg;
	if (b->run != t->run) {
		close_run(t);
		t->run = b->run;
		t->run_end = (uintptr_t)b->run + b->run_bytes;
		t->run_bytes += b->run_bytes;
		t->fp_sum = 0;
	}
	if (b->huge) {
		t->runs += b->run_bytes - b->usable;
	} else {
		if (t->prev_ptr)
			close_block(t, (uintptr_t)b->ptr);
		t->prev_ptr = (uintptr_t)b->ptr;
		t->prev_usable = b->usable;
	}
	switch (b->state) {
	case LIBALLOC_BLOCK_LIVE:
		t->req += b->size;
		t->slack += b->usable - b->size;
		t->live++;
		break;
	case LIBALLOC_BLOCK_FREE:
		t->free_u += b->usable;
		t->free_n++;
		if (b->usable > t->largest)
			t->largest = b->usable;
		break;
	case LIBALLOC_BLOCK_CACHED:
		t->cached_u += b->usable;
		t->cached_n++;
		break;
	default:
		t->quar_u += b->usable;
		t->quar_n++;
		break;
	}
	return 0;
}

/* "  bytes: + name   1.2 MiB   (1234567 B)  what" */
static void bytes_row(struct diag_out *o, const char *op, const char *name, size_t v, const char *what)
{
	size_t col = o->len;
	diag_put(o, "  bytes: ");
	diag_put(o, op);
	diag_char(o, ' ');
	diag_put(o, name);
	diag_pad(o, col, 24);
	size_t c2 = o->len;
	diag_bytes(o, v);
	diag_pad(o, c2, 11);
	size_t c3 = o->len;
	diag_put(o, "(");
	diag_dec(o, v);
	diag_put(o, " B)");
	diag_pad(o, c3, 15);
	diag_put(o, what);
}

static void field(struct diag_out *o, const char *name, size_t v)
{
	diag_char(o, ' ');
	diag_put(o, name);
	diag_char(o, '=');
	diag_dec(o, v);
}

static void print_stats(void)
{
	static char buf[8192];
	struct liballoc_stats s;
	struct tally t;
	struct diag_out o;
	char path[512];
	int fd = 2, file = 0;
	if (diag_knobs.stats_file) {
		if (diag_expand_path(diag_knobs.stats_file, path, sizeof path) == 0 &&
		    (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
			file = 1;
		} else {
			warn("LIBALLOC_STATS_FILE", diag_knobs.stats_file, "cannot be opened for appending: stats go to stderr");
			fd = 2;
		}
	}
	memset(&t, 0, sizeof t);
	liballoc_stats(&s);
	int walked = liballoc_walk(NULL, tally_block, &t) == 0;
	close_run(&t);
	/* The whole text in one write, so processes appending to one file do not mix. */
	diag_init(&o, -1, buf, sizeof buf);
	diag_put(&o, "liballoc stats pid=");
	diag_dec(&o, (uintmax_t)getpid());
	diag_put(&o, " prog=");
	diag_put(&o, program_invocation_short_name);
	diag_char(&o, '\n');
	bytes_row(&o, " ", "obtained", s.obtained, "from the system: the sum of the rows below; peak ");
	diag_bytes(&o, s.obtained_peak);
	diag_put(&o, " (obtained=");
	diag_dec(&o, s.obtained);
	diag_put(&o, " obtained_peak=");
	diag_dec(&o, s.obtained_peak);
	diag_put(&o, ")\n");
	bytes_row(&o, "=", "in_use", s.in_use, "requested by ");
	diag_dec(&o, s.live_blocks);
	diag_put(&o, " live blocks; peak ");
	diag_bytes(&o, s.in_use_peak);
	diag_put(&o, " (in_use=");
	diag_dec(&o, s.in_use);
	diag_put(&o, " in_use_peak=");
	diag_dec(&o, s.in_use_peak);
	diag_put(&o, ")\n");
	if (walked) {
		size_t rest = s.obtained - s.metadata, sum = t.req + t.slack + t.free_u + t.cached_u + t.quar_u + t.headers + t.runs;
		bytes_row(&o, "+", "slack", t.slack, "usable bytes of live blocks beyond the request\n");
		bytes_row(&o, "+", "free", t.free_u, "usable in ");
		diag_dec(&o, t.free_n);
		diag_put(&o, " free blocks of chunks, the largest ");
		diag_bytes(&o, t.largest);
		diag_put(&o, " (free_bytes=");
		diag_dec(&o, s.free_bytes);
		diag_put(&o, " with their headers)\n");
		bytes_row(&o, "+", "cached", t.cached_u, "usable in ");
		diag_dec(&o, t.cached_n);
		diag_put(&o, " blocks of thread caches (cached=");
		diag_dec(&o, s.cached);
		diag_put(&o, ")\n");
		bytes_row(&o, "+", "quarantined", t.quar_u, "usable in ");
		diag_dec(&o, t.quar_n);
		diag_put(&o, " freed blocks held back from reuse (quarantined=");
		diag_dec(&o, s.quarantined);
		diag_put(&o, ")\n");
		bytes_row(&o, "+", "headers", t.headers, "block headers and requester trailers\n");
		bytes_row(&o, "+", "runs", t.runs, "run headers, chunk ends, huge runs' alignment and page rounding\n");
		bytes_row(&o, "+", "metadata", s.metadata, "page map and heap state (metadata=");
		diag_dec(&o, s.metadata);
		diag_put(&o, ")\n");
		/* The walk and the counters are two looks at the heap: they agree unless
		 * other threads changed it in between, or a run could not be given back. */
		if (t.req != s.in_use || t.run_bytes != rest || sum != t.run_bytes) {
			diag_put(&o, "  bytes: the walk found ");
			diag_dec(&o, t.req);
			diag_put(&o, " B requested in ");
			diag_dec(&o, t.live);
			diag_put(&o, " live blocks and ");
			diag_dec(&o, t.run_bytes);
			diag_put(&o, " B of runs, where the counters say ");
			diag_dec(&o, s.in_use);
			diag_put(&o, " and ");
			diag_dec(&o, rest);
			diag_put(&o, " (other threads ran, or runs wait to be given back)\n");
		}
	} else {
		diag_put(&o, "  bytes: (the heap walk failed: no breakdown)\n");
	}
	diag_put(&o, "  blocks:");
	field(&o, "live_blocks", s.live_blocks);
	field(&o, "huge_blocks", s.huge_blocks);
	field(&o, "chunks", s.chunks);
	field(&o, "allocs", s.allocs);
	field(&o, "frees", s.frees);
	field(&o, "failed_allocs", s.failed_allocs);
	field(&o, "errors", s.errors);
	field(&o, "caches", s.caches);
	field(&o, "cache_slabs", s.cache_slabs);
	field(&o, "cache_objects", s.cache_objects);
	diag_put(&o, "\n  hooks:");
	field(&o, "alloc_page_calls", s.alloc_page_calls);
	field(&o, "alloc_page_failures", s.alloc_page_failures);
	field(&o, "free_page_calls", s.free_page_calls);
	field(&o, "free_page_failures", s.free_page_failures);
	field(&o, "lock_calls", s.lock_calls);
	field(&o, "lock_failures", s.lock_failures);
	diag_char(&o, '\n');
	o.fd = fd;
	diag_flush(&o);
	if (file)
		close(fd);
}

/* ---- LIBALLOC_CHECK ----------------------------------------------------------- */

static void check_at_exit(void)
{
	char buf[512];
	struct diag_out o;
	int r = liballoc_check();
	diag_init(&o, 2, buf, sizeof buf);
	if (r == LIBALLOC_OK) {
		if (diag_knobs.verbose >= 2) {
			prefix(&o);
			diag_put(&o, "heap check at exit: ok (");
			who(&o);
			diag_put(&o, ")\n");
			diag_flush(&o);
		}
		return;
	}
	prefix(&o);
	diag_put(&o, "heap check at exit failed: ");
	diag_put(&o, liballoc_strerror(r));
	diag_put(&o, " (");
	who(&o);
	diag_put(&o, ")\n");
	diag_flush(&o);
	abort();
}

/* ---- LIBALLOC_LEAKS ----------------------------------------------------------- */

#define LEAK_SLOTS 8192u  /* distinct requesters counted (a power of two) */
#define LEAK_LINES 100u   /* lines printed, largest first */

struct leak_site {
	const void *site;
	size_t blocks, bytes;
};

struct leak_walk {
	struct leak_site *slot;                 /* LEAK_SLOTS, open addressing */
	size_t sites;
	size_t other_blocks, other_bytes;       /* requesters beyond the table */
	size_t early_blocks, early_bytes;       /* no requester: allocated before recording began */
	size_t std_blocks, std_bytes;           /* the standard streams' buffers */
	size_t ld_blocks, ld_bytes;             /* allocated by the dynamic linker */
	const void *std[3];
};

static int leak_block(const struct liballoc_block *b, void *arg)
{
	struct leak_walk *w = arg;
	if (b->state != LIBALLOC_BLOCK_LIVE)
		return 0;
	for (int i = 0; i < 3; i++)
		if (b->ptr == w->std[i]) {
			w->std_blocks++;
			w->std_bytes += b->size;
			return 0;
		}
	if (!b->site) {
		w->early_blocks++;
		w->early_bytes += b->size;
		return 0;
	}
	uintptr_t h = ((uintptr_t)b->site >> 2) * (uintptr_t)0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < 64; i++) {
		struct leak_site *s = &w->slot[(h + i) & (LEAK_SLOTS - 1)];
		if (s->site == b->site || (!s->site && w->sites < LEAK_SLOTS * 3 / 4)) {
			if (!s->site) {
				s->site = b->site;
				w->sites++;
			}
			s->blocks++;
			s->bytes += b->size;
			return 0;
		}
	}
	w->other_blocks++;
	w->other_bytes += b->size;
	return 0;
}

static int bigger(const struct leak_site *a, const struct leak_site *b)
{
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes;
	if (a->blocks != b->blocks)
		return a->blocks > b->blocks;
	return (uintptr_t)a->site < (uintptr_t)b->site;
}

/* Shell sort, largest first (qsort may allocate). */
static void sort_sites(struct leak_site *s, size_t n)
{
	static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
	for (size_t g = 0; g < sizeof gaps / sizeof *gaps; g++)
		for (size_t i = gaps[g]; i < n; i++) {
			struct leak_site x = s[i];
			size_t j = i;
			for (; j >= gaps[g] && bigger(&x, &s[j - gaps[g]]); j -= gaps[g])
				s[j] = s[j - gaps[g]];
			s[j] = x;
		}
}

static void plural(struct diag_out *o, size_t n, const char *one, const char *many)
{
	diag_dec(o, n);
	diag_char(o, ' ');
	diag_put(o, n == 1 ? one : many);
}

static void leak_report(void)
{
	size_t table = LEAK_SLOTS * sizeof(struct leak_site), symbols = LEAK_LINES * sizeof(struct diag_sym);
	char buf[4096];
	struct diag_out o;
	struct leak_walk w;
	memset(&w, 0, sizeof w);
	diag_init(&o, 2, buf, sizeof buf);
	w.slot = pages(table + symbols);
	if (!w.slot) {
		prefix(&o);
		diag_put(&o, "leak report: no memory for the walk\n");
		diag_flush(&o);
		return;
	}
	struct diag_sym *syms = (struct diag_sym *)(void *)((char *)w.slot + table);
	/* The standard streams live as long as the process; the program cannot free
	 * their buffers (glibc does only under valgrind's __libc_freeres). */
	w.std[0] = stdin->_IO_buf_base;
	w.std[1] = stdout->_IO_buf_base;
	w.std[2] = stderr->_IO_buf_base;
	int r = liballoc_walk(NULL, leak_block, &w);
	/* Compact, sort, symbolise: all after the walk, outside the heap lock. */
	size_t n = 0, blocks = w.other_blocks, bytes = w.other_bytes;
	for (size_t i = 0; i < LEAK_SLOTS; i++)
		if (w.slot[i].site) {
			blocks += w.slot[i].blocks;
			bytes += w.slot[i].bytes;
			w.slot[n++] = w.slot[i];
		}
	/* The dynamic linker's own blocks (link maps of dlopen'ed objects, threads'
	 * TLS) are the runtime's, not the program's: counted apart. */
	uintptr_t ldso = (uintptr_t)getauxval(AT_BASE);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		Dl_info info;
		if (ldso && dladdr(w.slot[i].site, &info) && (uintptr_t)info.dli_fbase == ldso) {
			w.ld_blocks += w.slot[i].blocks;
			w.ld_bytes += w.slot[i].bytes;
			blocks -= w.slot[i].blocks;
			bytes -= w.slot[i].bytes;
		} else {
			w.slot[kept++] = w.slot[i];
		}
	}
	n = kept;
	sort_sites(w.slot, n);
	size_t lines = n < LEAK_LINES ? n : LEAK_LINES;
	for (size_t i = 0; i < lines; i++)
		syms[i].addr = w.slot[i].site;
	diag_symbolize(syms, lines, diag_knobs.verbose >= 1, 1);
	prefix(&o);
	diag_put(&o, "leak report at exit (");
	who(&o);
	diag_put(&o, "): ");
	if (r)
		diag_put(&o, "(the heap walk stopped early) ");
	if (!blocks) {
		diag_put(&o, "no leaks: every block allocated since start-up was freed\n");
	} else {
		plural(&o, blocks, "block", "blocks");
		diag_put(&o, ", ");
		plural(&o, bytes, "byte", "bytes");
		diag_put(&o, " still live, from ");
		plural(&o, n + (w.other_blocks != 0), "site", "sites");
		diag_put(&o, ", largest first:\n");
	}
	for (size_t i = 0; i < lines; i++) {
		prefix(&o);
		diag_put(&o, "  ");
		plural(&o, w.slot[i].bytes, "byte", "bytes");
		diag_put(&o, " in ");
		plural(&o, w.slot[i].blocks, "block", "blocks");
		diag_put(&o, " allocated by ");
		diag_put_sym(&o, &syms[i]);
		diag_char(&o, '\n');
	}
	size_t more_blocks = w.other_blocks, more_bytes = w.other_bytes, more = n - lines + (w.other_blocks != 0);
	for (size_t i = lines; i < n; i++)
		more_blocks += w.slot[i].blocks, more_bytes += w.slot[i].bytes;
	if (more) {
		prefix(&o);
		diag_put(&o, "  ... and ");
		plural(&o, more_bytes, "byte", "bytes");
		diag_put(&o, " in ");
		plural(&o, more_blocks, "block", "blocks");
		diag_put(&o, " from ");
		plural(&o, more, "more site", "more sites");
		diag_char(&o, '\n');
	}
	if (diag_knobs.verbose >= 2 && (w.early_blocks || w.std_blocks || w.ld_blocks)) {
		prefix(&o);
		diag_put(&o, "  not listed: ");
		plural(&o, w.early_bytes, "byte", "bytes");
		diag_put(&o, " in ");
		plural(&o, w.early_blocks, "block", "blocks");
		diag_put(&o, " allocated before recording began (the C library's and other libraries' start-up), ");
		plural(&o, w.ld_bytes, "byte", "bytes");
		diag_put(&o, " in ");
		plural(&o, w.ld_blocks, "block", "blocks");
		diag_put(&o, " allocated by the dynamic linker (dlopen, threads' TLS), ");
		plural(&o, w.std_bytes, "byte", "bytes");
		diag_put(&o, " in ");
		plural(&o, w.std_blocks, "buffer", "buffers");
		diag_put(&o, " of stdin, stdout and stderr\n");
	}
	diag_flush(&o);
	munmap(w.slot, table + symbols);
}

/* ---- LIBALLOC_MAP ------------------------------------------------------------- */

static void map_at_exit(void)
{
	char path[512], buf[768];
	struct diag_out o;
	diag_init(&o, 2, buf, sizeof buf);
	if (diag_expand_path(diag_knobs.map, path, sizeof path) != 0) {
		warn("LIBALLOC_MAP", diag_knobs.map, "path too long: no heap map written");
		return;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || liballoc_map_svg(NULL, fd) != 0) {
		int e = errno;
		prefix(&o);
		diag_put(&o, "cannot write the heap map to ");
		diag_put(&o, path);
		diag_put(&o, ": ");
		diag_put(&o, strerrordesc_np(e) ? strerrordesc_np(e) : "error");
		diag_char(&o, '\n');
		diag_flush(&o);
	} else if (diag_knobs.verbose >= 2) {
		prefix(&o);
		diag_put(&o, "heap map written to ");
		diag_put(&o, path);
		diag_put(&o, " (");
		who(&o);
		diag_put(&o, ")\n");
		diag_flush(&o);
	}
	if (fd >= 0)
		close(fd);
}

/* ---- at exit ------------------------------------------------------------------ */

__attribute__((destructor)) static void at_exit(void)
{
	if (!diag_knobs.selected)
		return;
	if (diag_knobs.check)
		check_at_exit();
	if (diag_knobs.leaks)
		leak_report();
	if (diag_knobs.map)
		map_at_exit();
	if (diag_knobs.stats)
		print_stats();
}
