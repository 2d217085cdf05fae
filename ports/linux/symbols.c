/* symbols.c — the Linux port's symboliser: code addresses to function+offset (ELF symbol tables) and file:line (addr2line), with no heap allocation. */
/* SPDX-License-Identifier: MIT */
/*
 * Reports name code addresses: a block's requester, who freed it, the frames of a
 * backtrace. They run inside misuse reports (the heap may be broken) and at exit
 * after a heap walk, so nothing here calls malloc, directly or through stdio,
 * qsort, posix_spawn's file actions or the like:
 *
 *   - the object holding an address and its load bias come from dladdr1() (the
 *     dynamic linker's own tables; no allocation); the main program's path from
 *     /proc/self/exe;
 *   - the function and offset come from the object's ELF symbol table, read from the
 *     file through a read-only mmap: .symtab when the file has one (static
 *     functions too), else .dynsym;
 *   - file:line comes from addr2line(1) (binutils), started once per object with
 *     clone(CLONE_VM | CLONE_VFORK) on a stack from mmap, as posix_spawn does, with
 *     no environment (so it runs without LD_PRELOAD and LIBALLOC_*), its stdout a
 *     pipe and its stderr /dev/null. addr2line gets virtual addresses of the file
 *     (address - load bias), right for PIE executables, shared libraries and fixed
 *     executables alike. It is looked up in PATH when needed; without it, reports
 *     just have no file:line.
 *
 * A site that is not code — a string such as LIBALLOC_HERE's "file.c:12", which a
 * program passes to liballoc_heap_malloc_at — lies in a non-executable segment; it
 * is printed as the string.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag_internal.h"

static void copy(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- which object, which segment ---------------------------------------------- */

struct seg_query {
	uintptr_t addr;
	int found, exec;
};

static int seg_visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct seg_query *q = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && q->addr >= lo && q->addr - lo < ph->p_memsz) {
			q->found = 1;
			q->exec = (ph->p_flags & PF_X) != 0;
			return 1;
		}
	}
	return 0;
}

/* 1 if addr lies in a loaded object's segment that is not executable (data). */
static int in_data_segment(const void *addr)
{
	struct seg_query q = {(uintptr_t)addr, 0, 0};
	dl_iterate_phdr(seg_visit, &q);
	return q.found && !q.exec;
}

/* ---- ELF symbol tables -------------------------------------------------------- */

struct elf_file {
	const unsigned char *map;
	size_t size;
};

static int elf_open(struct elf_file *f, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	f->map = NULL;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size >= sizeof(ElfW(Ehdr))) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			f->map = m;
			f->size = (size_t)st.st_size;
		}
	}
	close(fd);
	if (f->map) {
		const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)(const void *)f->map;
		if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
		    eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff > f->size ||
		    (f->size - eh->e_shoff) / sizeof(ElfW(Shdr)) < eh->e_shnum) {
			munmap((void *)(uintptr_t)f->map, f->size);
			f->map = NULL;
		}
	}
	return f->map != NULL;
}

static void elf_close(struct elf_file *f)
{
	if (f->map)
		munmap((void *)(uintptr_t)f->map, f->size);
	f->map = NULL;
}

/* The symbol of the function (or, for data, the object) containing virtual address
 * `va` in f: its name into name (cap bytes) and va minus its start into *off.
 * `want_data`: look at STT_OBJECT symbols instead of functions. 1 if found. */
static int elf_symbol(const struct elf_file *f, uintptr_t va, int want_data, char *name, size_t cap, uintptr_t *off)
{
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)(const void *)f->map;
	const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(const void *)(f->map + eh->e_shoff);
	for (int pass = 0; pass < 2; pass++) {  /* .symtab first, then .dynsym */
		unsigned type = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
		for (unsigned i = 0; i < eh->e_shnum; i++) {
			if (sh[i].sh_type != type || sh[i].sh_entsize != sizeof(ElfW(Sym)) || sh[i].sh_link >= eh->e_shnum ||
			    sh[i].sh_offset > f->size || f->size - sh[i].sh_offset < sh[i].sh_size)
				continue;
			const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
			if (strs->sh_offset > f->size || f->size - strs->sh_offset < strs->sh_size)
				continue;
			const ElfW(Sym) *sym = (const ElfW(Sym) *)(const void *)(f->map + sh[i].sh_offset);
			size_t count = sh[i].sh_size / sizeof(ElfW(Sym)), best = 0;
			int found = 0;
			for (size_t k = 0; k < count; k++) {
				unsigned t = ELF64_ST_TYPE(sym[k].st_info);
				int ok = want_data ? t == STT_OBJECT || t == STT_TLS
						   : t == STT_FUNC || t == STT_GNU_IFUNC;
				if (!ok || sym[k].st_shndx == SHN_UNDEF || sym[k].st_value > va ||
				    va - sym[k].st_value >= (sym[k].st_size ? sym[k].st_size : 1) ||
				    sym[k].st_name >= strs->sh_size)
					continue;
				/* Prefer a global name to a local alias at the same address. */
				if (!found || sym[k].st_value > sym[best].st_value ||
				    (sym[k].st_value == sym[best].st_value && ELF64_ST_BIND(sym[k].st_info) == STB_GLOBAL &&
				     ELF64_ST_BIND(sym[best].st_info) != STB_GLOBAL))
					best = k, found = 1;
			}
			if (found) {
				const char *s = (const char *)f->map + strs->sh_offset + sym[best].st_name;
				copy(name, cap, s, strnlen(s, strs->sh_size - sym[best].st_name));
				*off = va - sym[best].st_value;
				return 1;
			}
		}
	}
	return 0;
}

/* ---- addr2line ---------------------------------------------------------------- */

/* The path of addr2line, found in PATH once: "" not looked up yet, "-" absent. */
static char a2l_path[256];

static const char *addr2line_path(void)
{
	if (!a2l_path[0]) {
		const char *path = getenv("PATH");
		if (!path || !*path)
			path = "/usr/bin:/bin";
		strcpy(a2l_path, "-");
		while (*path) {
			const char *end = strchr(path, ':');
			size_t n = end ? (size_t)(end - path) : strlen(path);
			char cand[256];
			if (n && n + sizeof "/addr2line" <= sizeof cand) {
				memcpy(cand, path, n);
				memcpy(cand + n, "/addr2line", sizeof "/addr2line");
				if (access(cand, X_OK) == 0) {
					strcpy(a2l_path, cand);
					break;
				}
			}
			path += n + (end != NULL);
		}
	}
	return a2l_path[0] == '-' ? NULL : a2l_path;
}

struct child {
	const char *path;
	char **argv;
	int out;
	sigset_t mask;
};

/* Runs in the clone (sharing our memory until execve): default signal handlers,
 * the caller's signal mask, stdout to the pipe, stdin and stderr to /dev/null. */
static int child_main(void *arg)
{
	struct child *c = arg;
	static char *const envp[] = {NULL};
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL) {
			sa.sa_handler = SIG_DFL;
			sa.sa_flags = 0;
			sigaction(s, &sa, NULL);
		}
	}
	sigprocmask(SIG_SETMASK, &c->mask, NULL);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 2);
	}
	if (dup2(c->out, 1) < 0)
		_exit(127);
	execve(c->path, c->argv, envp);
	_exit(127);
}

/* Run argv[0] with its stdout into out (cap bytes, NUL-terminated; more is read
 * and dropped). Returns the bytes read, or -1 if it could not run. */
static long run_capture(char **argv, char *out, size_t cap)
{
	enum { STACK = 64 * 1024 };
	int fds[2];
	long got = 0;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	void *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	struct child c = {argv[0], argv, fds[1], {{0}}};
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &c.mask);
	/* CLONE_VFORK: we resume once the child has exec'd (or exited). */
	pid_t pid = clone(child_main, (char *)stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
	pthread_sigmask(SIG_SETMASK, &c.mask, NULL);
	munmap(stack, STACK);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	for (;;) {
		char sink[512];
		size_t room = got + 1 < (long)cap ? cap - 1 - (size_t)got : 0;
		ssize_t k = room ? read(fds[0], out + got, room) : read(fds[0], sink, sizeof sink);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (room)
			got += k;
	}
	out[got] = 0;
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return got;
}

/* Copy path into dst without its "dir/.." pairs ("/b/build/../src/a.c" is
 * "/b/src/a.c"), as build systems that compile from a build directory leave them. */
static void tidy_path(char *dst, size_t cap, const char *path)
{
	size_t n = 0;
	copy(dst, cap, path, strlen(path));
	for (char *p = dst; *p;) {
		char *seg = p, *slash = strchr(p, '/');
		if (!slash)
			break;
		char *next = slash + 1;
		/* seg..slash is one component; is the next one ".."? */
		if (slash > seg && !(slash - seg == 2 && seg[0] == '.' && seg[1] == '.') && next[0] == '.' &&
		    next[1] == '.' && next[2] == '/') {
			memmove(seg, next + 3, strlen(next + 3) + 1);
			p = dst;  /* start again: a/b/../../c */
			n++;
			continue;
		}
		p = next;
	}
	(void)n;
}

/* file:line of n addresses of one object (virtual addresses of its file) through
 * addr2line, into syms[i].source (only where the debug information has them), and
 * the function name where the symbol table had none. */
static void addr2line_batch(const char *object, const uintptr_t *va, struct diag_sym *const *syms, size_t n)
{
	enum { BATCH = 32 };
	static char text[BATCH * 24];
	static char out[BATCH * 1024];
	const char *tool = addr2line_path();
	if (!tool)
		return;
	for (size_t first = 0; first < n; first += BATCH) {
		size_t m = n - first < BATCH ? n - first : BATCH;
		char *argv[6 + BATCH];
		size_t a = 0, t = 0;
		argv[a++] = (char *)tool;
		argv[a++] = "-f";
		argv[a++] = "-C";
		argv[a++] = "-e";
		argv[a++] = (char *)object;
		for (size_t i = 0; i < m; i++) {
			struct diag_out o;
			diag_init(&o, -1, text + t, 24);
			diag_hex(&o, va[first + i]);
			text[t + o.len] = 0;
			argv[a++] = text + t;
			t += o.len + 1;
		}
		argv[a] = NULL;
		if (run_capture(argv, out, sizeof out) <= 0)
			return;
		/* Two lines per address: the function, then file:line ("??:0" unknown). */
		char *line = out;
		for (size_t i = 0; i < m && *line; i++) {
			char *fn = line, *loc = strchr(fn, '\n');
			if (!loc)
				break;
			*loc++ = 0;
			char *end = strchr(loc, '\n');
			if (end)
				*end = 0;
			line = end ? end + 1 : loc + strlen(loc);
			struct diag_sym *s = syms[first + i];
			char *disc = strstr(loc, " (discriminator");
			if (disc)
				*disc = 0;
			const char *colon = strrchr(loc, ':');
			if (loc[0] != '?' && colon && colon[1] && colon[1] != '?' && strcmp(colon, ":0") != 0)
				tidy_path(s->source, sizeof s->source, loc);
			if (!s->function[0] && fn[0] && fn[0] != '?') {
				copy(s->function, sizeof s->function, fn, strlen(fn));
				s->offset = UINTPTR_MAX;  /* the name only: its start is not known */
			}
		}
	}
}

/* ---- the symboliser ----------------------------------------------------------- */

static int busy;

void diag_symbolize(struct diag_sym *syms, size_t n, int lines, int ret)
{
	enum { GROUP = 64 };
	static uintptr_t va[GROUP];
	static struct diag_sym *group[GROUP];
	while (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	/* Where each address is: its object's path and load bias. */
	for (size_t i = 0; i < n; i++) {
		struct diag_sym *s = &syms[i];
		Dl_info info;
		struct link_map *lm = NULL;
		s->object[0] = s->function[0] = s->source[0] = 0;
		s->offset = s->bias = 0;
		s->text = 0;
		s->done = 1;
		if (!s->addr)
			continue;
		if (in_data_segment(s->addr)) {  /* a string naming the site */
			const char *p = s->addr;
			size_t k = 0;
			while (k + 1 < sizeof s->function && p[k] >= 0x20 && p[k] < 0x7f)
				k++;
			copy(s->function, sizeof s->function, p, k);
			s->text = 1;
			continue;
		}
		if (!dladdr1(s->addr, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
			continue;
		if (lm->l_name && lm->l_name[0]) {
			copy(s->object, sizeof s->object, lm->l_name, strlen(lm->l_name));
		} else {
			ssize_t k = readlink("/proc/self/exe", s->object, sizeof s->object - 1);
			s->object[k > 0 ? k : 0] = 0;
		}
		s->bias = (uintptr_t)lm->l_addr;
		s->done = !s->object[0];
	}
	/* Per object (up to GROUP addresses at a time): its symbol table mapped once,
	 * then addr2line once. */
	for (size_t i = 0; i < n; i++) {
		if (syms[i].done)
			continue;
		size_t m = 0;
		for (size_t j = i; j < n && m < GROUP; j++)
			if (!syms[j].done && strcmp(syms[j].object, syms[i].object) == 0) {
				syms[j].done = 1;
				/* A return address may be just past a call at a function's very
				 * end: look up the call instruction itself. */
				va[m] = (uintptr_t)syms[j].addr - syms[j].bias - (ret ? 1 : 0);
				group[m++] = &syms[j];
			}
		struct elf_file f;
		int have = elf_open(&f, syms[i].object);
		for (size_t k = 0; k < m; k++) {
			uintptr_t off;
			if (have && elf_symbol(&f, va[k], 0, group[k]->function, sizeof group[k]->function, &off))
				group[k]->offset = off + (ret ? 1 : 0);
		}
		elf_close(&f);
		if (lines)
			addr2line_batch(syms[i].object, va, group, m);
	}
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}

void diag_put_sym(struct diag_out *o, const struct diag_sym *s)
{
	if (s->text) {
		diag_char(o, '"');
		diag_put(o, s->function);
		diag_char(o, '"');
		return;
	}
	if (s->function[0]) {
		diag_put(o, s->function);
		if (s->offset != UINTPTR_MAX) {
			diag_char(o, '+');
			diag_hex(o, s->offset);
		}
	} else {
		diag_hex(o, (uintptr_t)s->addr);
	}
	if (s->source[0]) {
		diag_put(o, " (");
		diag_put(o, s->source);
		diag_char(o, ')');
	}
	if (s->object[0]) {
		diag_put(o, " in ");
		diag_put(o, s->object);
	}
}

/* ---- data addresses ------------------------------------------------------------ */

int diag_data_symbol(const void *addr, char *name, size_t cap, uintptr_t *off)
{
	Dl_info info;
	struct link_map *lm = NULL;
	char path[256];
	int found = 0;
	if (!dladdr1(addr, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return 0;
	if (lm->l_name && lm->l_name[0]) {
		copy(path, sizeof path, lm->l_name, strlen(lm->l_name));
	} else {
		ssize_t k = readlink("/proc/self/exe", path, sizeof path - 1);
		path[k > 0 ? k : 0] = 0;
	}
	struct elf_file f;
	if (elf_open(&f, path)) {
		found = elf_symbol(&f, (uintptr_t)addr - (uintptr_t)lm->l_addr, 1, name, cap, off);
		elf_close(&f);
	}
	return found;
}

/* ---- /proc/self/maps ----------------------------------------------------------- */

static uintptr_t hexval(const char **p)
{
	uintptr_t v = 0;
	for (;; (*p)++) {
		char c = **p;
		if (c >= '0' && c <= '9')
			v = v * 16 + (uintptr_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uintptr_t)(c - 'a' + 10);
		else
			return v;
	}
}

int diag_mapping(const void *addr, char *name, size_t cap, uintptr_t *lo, uintptr_t *hi, char perms[5])
{
	char buf[4096];
	size_t have = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), found = 0;
	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t k = read(fd, buf + have, sizeof buf - 1 - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = 0;
			const char *p = line;
			uintptr_t a = hexval(&p);
			if (*p == '-') {
				p++;
				uintptr_t b = hexval(&p);
				if ((uintptr_t)addr >= a && (uintptr_t)addr < b && *p == ' ') {
					p++;
					copy(perms, 5, p, 4);
					/* Skip perms, offset, device and inode, then spaces. */
					for (int field = 0; field < 4 && *p; field++) {
						while (*p && *p != ' ')
							p++;
						while (*p == ' ')
							p++;
					}
					copy(name, cap, p, strlen(p));
					*lo = a, *hi = b;
					found = 1;
					break;
				}
			}
			line = nl + 1;
		}
		if (found)
			break;
		have = (size_t)(buf + have - line);
		if (have == sizeof buf - 1)
			have = 0;  /* a line longer than the buffer: drop it */
		memmove(buf, line, have);
	}
	close(fd);
	return found;
}
