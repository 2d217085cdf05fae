/* diag_internal.h — what the Linux port's diagnostics (diag.c, symbols.c, map.c) share: text output without allocating, the symboliser, the knobs. */
/* SPDX-License-Identifier: MIT */
/*
 * Private to ports/linux: nothing here is installed. Every function below formats
 * into a caller-provided buffer (on the stack or in static storage) and writes with
 * write(2); none calls malloc or stdio, so each may run inside a misuse report,
 * after a heap walk, or at exit with a broken heap.
 */
#ifndef LIBALLOC_DIAG_INTERNAL_H
#define LIBALLOC_DIAG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- text output -------------------------------------------------------------- */

/* A buffered writer to a file descriptor: text is collected in buf and written with
 * write(2) when full or flushed (retrying short writes and EINTR). fd < 0 collects
 * without writing (a full buffer then drops the rest). */
struct diag_out {
	int fd;
	int failed;    /* a write failed: errno of the first failure */
	size_t len, cap;
	char *buf;
};

void diag_init(struct diag_out *o, int fd, char *buf, size_t cap);
void diag_flush(struct diag_out *o);
void diag_put(struct diag_out *o, const char *s);
void diag_putn(struct diag_out *o, const char *s, size_t n);
void diag_char(struct diag_out *o, char c);
void diag_dec(struct diag_out *o, uintmax_t v);
void diag_hex(struct diag_out *o, uintmax_t v);                   /* 0x1f */
void diag_pad(struct diag_out *o, size_t from, size_t width);     /* spaces up to column width since offset from */
/* A byte count with its unit: "0 B", "1023 B", "1.5 KiB", "12.3 MiB", "1.0 GiB". */
void diag_bytes(struct diag_out *o, uintmax_t v);
/* A fixed-point number v / 10^decimals, e.g. diag_fixed(o, 1234, 2) -> "12.34". */
void diag_fixed(struct diag_out *o, uintmax_t v, unsigned decimals);

/* ---- knobs (diag.c) ----------------------------------------------------------- */

/* Parsed once, in the port's constructor, from the environment (README: "Run-time
 * knobs"). */
struct diag_knobs {
	int stats;             /* LIBALLOC_STATS */
	int check;             /* LIBALLOC_CHECK */
	int leaks;             /* LIBALLOC_LEAKS */
	int requesters;        /* LIBALLOC_REQUESTERS (or implied by LEAKS) */
	int verbose;           /* LIBALLOC_VERBOSE: 0, 1 (default) or 2 */
	int selected;          /* this process is one LIBALLOC_ONLY names (or there is no LIBALLOC_ONLY) */
	const char *stats_file;  /* LIBALLOC_STATS_FILE, or NULL */
	const char *map;         /* LIBALLOC_MAP, or NULL */
};
extern struct diag_knobs diag_knobs;

/* The path in `pattern` with every "%p" replaced by the process id and "%%" by "%"
 * into buf (cap bytes). 0, or -1 if it does not fit. */
int diag_expand_path(const char *pattern, char *buf, size_t cap);

/* ---- the symboliser (symbols.c) ---------------------------------------------- */

/* What an address of code is: the object holding it, the function (from the
 * object's ELF symbol table, .symtab if present, else .dynsym) and the offset into
 * it, and the source file and line when the object has debug information (from
 * addr2line(1), run without the allocator's help). Empty strings when unknown. */
struct diag_sym {
	const void *addr;
	char object[192];     /* path of the ELF object (the executable from /proc/self/exe) */
	char function[160];   /* symbol name, as in the symbol table (C++ names mangled) */
	uintptr_t offset;     /* addr - the function's start (valid if function[0]) */
	char source[224];     /* "file:line" from the debug information, or "" */
	int text;             /* the site is a string (LIBALLOC_HERE), copied into function[] */
	uintptr_t bias;       /* internal: the object's load bias */
	int done;             /* internal */
};

/* Symbolise n addresses. `lines`: also look up file:line (runs addr2line once per
 * object, found in PATH; skipped if it is missing). `ret`: the addresses are return
 * addresses (a call's next instruction): file:line is looked up for addr - 1, the
 * call itself. Never allocates from the heap: file mappings and static buffers
 * only. Not thread-safe (one caller at a time: it takes a spin lock). */
void diag_symbolize(struct diag_sym *syms, size_t n, int lines, int ret);

/* Write "function+0xoff (file:line) in object" for one symbolised address (as much
 * of it as is known; the bare address if nothing is). */
void diag_put_sym(struct diag_out *o, const struct diag_sym *s);

/* The data object (STT_OBJECT symbol) holding addr in a loaded object's symbol
 * table: its name into name (cap bytes) and addr minus its start into *off. 1 if
 * found. No allocation. */
int diag_data_symbol(const void *addr, char *name, size_t cap, uintptr_t *off);

/* What mapping of the address space holds addr, from /proc/self/maps: its name
 * ("[stack]", a path, "" for anonymous memory) in name (cap bytes), its bounds in
 * *lo, *hi and "rwxp" permissions in perms[5]. 1 if found, else 0. No allocation. */
int diag_mapping(const void *addr, char *name, size_t cap, uintptr_t *lo, uintptr_t *hi, char perms[5]);

#endif
