/* kernel.c — the x86 example kernel: PMM from the Multiboot map, paging, kmalloc on top, the allocator self-test, process heaps. */
/* SPDX-License-Identifier: MIT */
/*
 * Boot sequence: serial console, GDT/IDT/PIC; the PMM from the Multiboot memory
 * map; a page directory identity-mapping physical memory (the null page left
 * out) and paging on; the heap hooks over a virtual range of their own at
 * HEAP_BASE; the timer on and interrupts enabled; then checks of each layer on
 * the real CPU, the shared self-test (examples/common/selftest.c); processes
 * with heaps of their own, a message heap in a fixed region and object caches for
 * the kernel's structures (liballoc.h section 4); and a final account of every
 * frame. Exits QEMU through isa-debug-exit: 0x10 (status 33)
 * on PASS, 0x11 (status 35) on FAIL.
 *
 * Command line (QEMU -append): seed=N and ops=N set the randomized phase;
 * crash=pf reads an unmapped address after paging is on, to show an unexpected
 * page fault reported with CR2 and the error code, and the FAIL exit (35).
 */
#include "kernel.h"
#include "liballoc.h"
#include "multiboot.h"
#include "selftest.h"
#include "x86_cpu.h"
#include "x86_port.h"

#define MiB 0x100000u
#define HEAP_BASE 0xC0000000u                /* kernel heap: [3 GiB, 3.75 GiB) */
#define HEAP_PAGES (0x30000000u / X86_PAGE_SIZE)
#define IDENTITY_MAX 0x40000000u             /* identity map at most the first GiB */
#define SCRATCH_VA 0xBFFFF000u               /* the VMM check's page, outside both */
#define TIMER_HZ 1000u

extern char kernel_start[], kernel_end[];

static uint32_t pmm_bits[X86_PMM_STORAGE_WORDS(X86_PMM_MAX_FRAMES)];
static uint32_t heap_bits[X86_HEAP_STORAGE_WORDS(HEAP_PAGES)];
static struct x86_pmm pmm;
static struct x86_vmm vmm;
static struct x86_mm mm = {&pmm, &vmm};
static struct x86_heap_ops heap_ops;
static uint32_t identity_top;

/* ---- checks ----------------------------------------------------------------- */

static unsigned long checks;
static const char *failure;

/* Count a check; print and remember the first failure. */
static bool check(bool ok, const char *what)
{
	checks++;
	if (!ok) {
		console_write("x86: check failed: ");
		console_write(what);
		console_write("\n");
		if (!failure)
			failure = what;
	}
	return ok;
}

/* Stop at once if a layer the next one builds on is broken. */
static void require(bool ok, const char *what)
{
	if (!check(ok, what))
		kernel_fail(what);
}

void x86_liballoc_report(int error, void *ptr)
{
	console_write("liballoc: ");
	console_write(liballoc_strerror(error));
	console_write(" at ");
	console_hex((uintptr_t)ptr, 8);
	console_write("\n");
}

static bool touch_faults(volatile unsigned char *addr);

/* ---- boot information --------------------------------------------------------- */

/* Physical memory is identity mapped (before paging: all of it; after: below
 * identity_top, where the boot structures and every page table live). */
static const void *phys_read(uint32_t pa) { return (const void *)(uintptr_t)pa; }

static uint64_t seed = 0x9E3779B97F4A7C15ull;
static unsigned ops = LIBALLOC_HARDENED ? 4000 : 10000;  /* hardened: O(size) per call */
static unsigned crash;

static bool starts(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

/* seed=N, ops=N and crash=pf anywhere on the command line. */
static void parse_cmdline(const char *s)
{
	while (*s) {
		uint64_t *target64 = 0;
		unsigned *target = 0;
		if (s[0] == 's' && s[1] == 'e' && s[2] == 'e' && s[3] == 'd' && s[4] == '=')
			target64 = &seed, s += 5;
		else if (s[0] == 'o' && s[1] == 'p' && s[2] == 's' && s[3] == '=')
			target = &ops, s += 4;
		else if (starts(s, "crash=pf"))
			crash = 1;
		if (target || target64) {
			uint64_t v = 0;
			while (*s >= '0' && *s <= '9')
				v = v * 10 + (uint64_t)(*s++ - '0');
			if (target)
				*target = (unsigned)v;
			else
				*target64 = v;
		}
		while (*s && *s != ' ')
			s++;
		while (*s == ' ')
			s++;
	}
}

static void print_memory_map(const struct multiboot_info *mbi)
{
	if (!(mbi->flags & MULTIBOOT_INFO_MMAP))
		return;
	const char *p = phys_read(mbi->mmap_addr), *end = p + mbi->mmap_length;
	while (p + sizeof(struct multiboot_mmap_entry) <= end) {
		const struct multiboot_mmap_entry *e = (const void *)p;
		console_write("x86: mmap ");
		console_hex(e->addr, 9);
		console_write("-");
		console_hex(e->addr + e->len - 1, 9);
		console_write(e->type == MULTIBOOT_MEMORY_AVAILABLE ? " available\n" : " reserved\n");
		if (e->size < 20)
			break;
		p += e->size + 4;
	}
}

/* ---- PMM ---------------------------------------------------------------------- */

static size_t pmm_start(uint32_t mbi_phys)
{
	uint32_t ks = (uint32_t)kernel_start, ke = (uint32_t)kernel_end;
	size_t free0 = x86_pmm_init_multiboot(&pmm, mbi_phys, phys_read, ks, ke, pmm_bits,
					      sizeof pmm_bits / sizeof pmm_bits[0]);
	require(free0 > 0, "the PMM found usable memory");
	console_write("x86: pmm: ");
	console_dec(pmm.usable);
	console_write(" frames usable, ");
	console_dec(free0);
	console_write(" free after reserving low memory, the kernel [");
	console_hex(ks, 8);
	console_write(", ");
	console_hex(ke, 8);
	console_write(") and the boot information\n");

	/* The PMM's promises on the live map. */
	check(!x86_pmm_allocated(&pmm, ks) && x86_pmm_free(&pmm, ks, 1) != 0,
	      "pmm: freeing a frame never handed out (the kernel image) is refused");
	check(x86_pmm_free(&pmm, 0x1000, 1) != 0, "pmm: low memory is never handed out");
	uint32_t f = x86_pmm_alloc(&pmm);
	check(f >= MiB && f % X86_FRAME_SIZE == 0 && x86_pmm_allocated(&pmm, f), "pmm: one frame above 1 MiB");
	check(f < ks || f >= ke, "pmm: the frame is not inside the kernel image");
	check(x86_pmm_free(&pmm, f, 1) == 0, "pmm: the frame goes back");
	check(x86_pmm_free(&pmm, f, 1) != 0, "pmm: a double free is refused");
	uint32_t dma = x86_pmm_alloc_below(&pmm, 16, 16 * MiB);
	check(dma && dma + 16 * X86_FRAME_SIZE <= 16 * MiB, "pmm: a 16-frame run ending below 16 MiB");
	uint32_t run = x86_pmm_alloc_run(&pmm, 64);
	check(run != 0 && (run >= dma + 16 * X86_FRAME_SIZE || run + 64 * X86_FRAME_SIZE <= dma),
	      "pmm: a 64-frame contiguous run, disjoint from the first");
	check(x86_pmm_free(&pmm, dma, 16) == 0 && x86_pmm_free(&pmm, run + 32 * X86_FRAME_SIZE, 32) == 0 &&
	      x86_pmm_free(&pmm, run, 32) == 0, "pmm: runs go back, also in pieces");
	check(x86_pmm_free_frames(&pmm) == free0, "pmm: every frame back after the checks");
	return free0;
}

/* ---- VMM and paging ------------------------------------------------------------- */

static uint32_t table_alloc(void *ctx)
{
	/* Page tables must be reachable through the identity map. */
	return x86_pmm_alloc_below(((struct x86_mm *)ctx)->pmm, 1, identity_top);
}

static uint32_t *table_ptr(void *ctx, uint32_t pa)
{
	(void)ctx;
	return (uint32_t *)(uintptr_t)pa;
}

static void invalidate(void *ctx, uint32_t va)
{
	(void)ctx;
	x86_invlpg(va);
}

static void paging_start(void)
{
	uint64_t top = ((uint64_t)pmm.frames.pages * X86_FRAME_SIZE + 4 * MiB - 1) & ~(uint64_t)(4 * MiB - 1);
	identity_top = top < IDENTITY_MAX ? (uint32_t)top : IDENTITY_MAX;
	require((uint32_t)kernel_end <= identity_top, "the kernel lies inside the identity map");
	const struct x86_vmm_ops ops = {table_alloc, table_ptr, invalidate, &mm};
	uint32_t dir = x86_pmm_alloc_below(&pmm, 1, identity_top);
	require(dir != 0 && x86_vmm_init(&vmm, dir, &ops) == X86_VMM_OK, "vmm: a page directory");
	/* Identity map from 4 KiB: the null page stays unmapped so NULL faults. */
	bool ok = true;
	for (uint32_t pa = X86_PAGE_SIZE; pa < identity_top && ok; pa += X86_PAGE_SIZE)
		ok = x86_vmm_map(&vmm, pa, pa, X86_PTE_WRITE) == X86_VMM_OK;
	require(ok, "vmm: identity map of physical memory");
	x86_paging_enable(dir);
	require(x86_read_cr0() & 0x80000000u, "paging is on (CR0.PG)");
	console_write("x86: paging on: directory at ");
	console_hex(dir, 8);
	console_write(", identity map [0x00001000, ");
	console_hex(identity_top, 8);
	console_write(") in ");
	console_dec(vmm.tables);
	console_write(" page tables, kernel heap at ");
	console_hex(HEAP_BASE, 8);
	console_write(" (");
	console_dec((uint64_t)HEAP_PAGES * X86_PAGE_SIZE / MiB);
	console_write(" MiB of address space)\n");

	/* The MMU walks our tables: a page written through a fresh mapping is the
	 * frame read through the identity map. */
	uint32_t pa, flags, f = x86_pmm_alloc(&pmm);
	require(f != 0 && x86_vmm_map(&vmm, SCRATCH_VA, f, X86_PTE_WRITE) == X86_VMM_OK, "vmm: map a page");
	volatile uint32_t *v = (volatile uint32_t *)SCRATCH_VA, *p = (volatile uint32_t *)(uintptr_t)f;
	for (unsigned i = 0; i < 1024; i++)
		v[i] = 0xA5A50000u + i;
	bool same = true;
	for (unsigned i = 0; i < 1024; i++)
		same = same && p[i] == 0xA5A50000u + i;
	check(same, "vmm: the MMU translates through the new page table");
	check(x86_vmm_query(&vmm, SCRATCH_VA + 12, &pa, &flags) == X86_VMM_OK && pa == f + 12 &&
		      (flags & (X86_PTE_PRESENT | X86_PTE_WRITE | X86_PTE_DIRTY)) ==
			      (X86_PTE_PRESENT | X86_PTE_WRITE | X86_PTE_DIRTY),
	      "vmm: query finds the mapping, and the CPU set its dirty bit");
	check(x86_vmm_map(&vmm, SCRATCH_VA, f, X86_PTE_WRITE) == X86_VMM_EEXIST, "vmm: mapping twice is refused");
	/* The translation is in the TLB now: only invlpg makes this read fault. */
	check(x86_vmm_unmap(&vmm, SCRATCH_VA, &pa) == X86_VMM_OK && pa == f, "vmm: unmap returns the frame");
	check(touch_faults((volatile unsigned char *)SCRATCH_VA), "vmm: an unmapped page faults (invlpg)");
	check(touch_faults((volatile unsigned char *)0), "vmm: the null page is not mapped");
	check(x86_pmm_free(&pmm, f, 1) == 0, "pmm: the scratch frame goes back");
}

/* ---- heap lock --------------------------------------------------------------------- */

static bool irq_on(void) { return x86_eflags() & X86_EFLAGS_IF; }

/* The lock hooks on the real CPU, with the timer ticking. */
static void lock_checks(void)
{
	check(irq_on(), "lock: interrupts on before");
	check(liballoc_lock() == 0 && !irq_on(), "lock: lock disables interrupts");
	check(liballoc_lock() == 0 && liballoc_unlock() == 0 && !irq_on() && x86_heap_lock_depth() == 1,
	      "lock: a nested unlock leaves interrupts off");
	/* Wait until the timer has raised IRQ 0: it must stay pending, not run. */
	uint32_t ticks = timer_ticks;
	bool pending = false;
	for (unsigned long spin = 0; spin < 20000000ul && !pending; spin++)
		pending = timer_pending();
	check(pending && timer_ticks == ticks, "lock: the timer interrupt waits while the lock is held");
	check(liballoc_unlock() == 0 && irq_on(), "lock: the outermost unlock restores interrupts");
	for (unsigned spin = 0; spin < 100000 && timer_ticks == ticks; spin++)
		__asm__ volatile("pause");
	check(timer_ticks != ticks, "lock: the pending interrupt runs after unlock");
	/* The kernel holding the lock around the allocator (the core nests it). */
	liballoc_lock();
	void *p = kmalloc(100);
	check(p && !irq_on(), "lock: kmalloc inside the kernel's own lock keeps interrupts off");
	kfree(p);
	liballoc_unlock();
	check(irq_on(), "lock: ... and they come back after");
	/* Interrupts already off: unlock must not turn them on. */
	uint32_t saved = x86_irq_save();
	check(liballoc_lock() == 0 && liballoc_unlock() == 0 && !irq_on(), "lock: unlock keeps interrupts off if they were");
	x86_irq_restore(saved);
	check(liballoc_unlock() != 0 && irq_on(), "lock: an unbalanced unlock is refused");
}

/* ---- the self-test ------------------------------------------------------------------ */

/* The self-test's console: its verdict line is held back so the kernel's own
 * final checks come before it, and the verdict stays the last line. */
static char line[160], verdict[160];
static size_t line_len;

static void selftest_write(const char *s)
{
	for (; *s; s++) {
		line[line_len++] = *s;
		if (*s != '\n' && line_len < sizeof line - 1)
			continue;
		line[line_len] = 0;
		line_len = 0;
		if (starts(line, "liballoc-selftest: PASS") || starts(line, "liballoc-selftest: FAIL")) {
			for (size_t i = 0; i < sizeof verdict; i++)
				verdict[i] = line[i];
		} else {
			console_write(line);
		}
	}
}

static unsigned touched_faults;  /* touches that reported a fault: 2 by paging_start */

static bool touch_faults(volatile unsigned char *addr)
{
	bool faulted = cpu_touch_faults(addr);
	touched_faults += faulted;
	return faulted;
}

static size_t free_at_boot;

/* Pages the heap holds. Every time the self-test asks (after each exhaustion,
 * free-all and trim too), the PMM must agree: each frame not free is the
 * directory, a page table or a heap page. */
static size_t port_pages(void)
{
	size_t held = x86_heap_pages();
	check(x86_pmm_free_frames(&pmm) + 1 + vmm.tables + held == free_at_boot,
	      "PMM frames in use are exactly the page tables and the heap's pages");
	return held;
}

/* Every frame the PMM handed out is the page directory, a page table, or a
 * page liballoc still holds (its page map: the self-test has trimmed the rest). */
static void frame_account(size_t free0)
{
	size_t free_now = x86_pmm_free_frames(&pmm), held = x86_heap_pages();
	console_write("x86: frames: ");
	console_dec(free0);
	console_write(" free at boot, ");
	console_dec(free_now);
	console_write(" free now; handed out: 1 page directory + ");
	console_dec(vmm.tables);
	console_write(" page tables + ");
	console_dec(held);
	console_write(" heap pages (liballoc's page map)\n");
	check(free_now + 1 + vmm.tables + held == free0, "every frame is back in the PMM except page tables");
	check(x86_heap_errors() == 0, "the hooks met no inconsistency");
	check(x86_heap_lock_depth() == 0 && irq_on(), "the lock is released and interrupts are on");
	check(expected_faults == touched_faults && touched_faults >= 4,
	      "every page fault was one a touch expected (2 from the VMM checks, 2 or more from the trim test)");
	console_write("x86: timer ticks during the run: ");
	console_dec(timer_ticks);
	console_write(", expected page faults: ");
	console_dec(expected_faults);
	console_write("\n");
}

/* ---- processes, messages and kernel objects (liballoc.h section 4) ---------------- */

/*
 * A "process" gets a heap of its own over a range of kernel virtual addresses (a
 * struct x86_heap_space: the kernel heap's hooks over another range, the process
 * as their context) and loses it whole at exit: liballoc_heap_destroy hands every
 * page back, whatever the process left allocated, and the hooks return each frame
 * to the PMM. Messages between processes live in a heap of their own inside a
 * fixed region (liballoc_heap_create_in). The kernel's own structures for them
 * (processes, threads) come from object caches in the kernel heap.
 */
#define PROC_BASE 0x80000000u               /* process heaps: 32 MiB of address space per slot */
#define PROC_PAGES 8192u
#define PROC_SLOTS 2u
#define MSG_BYTES (128u * 1024u)

struct thread {
	uint32_t tid;
	struct process *owner;
	void *stack;                        /* in the process heap */
	uint32_t regs[8];
	struct thread *next;
};

struct process {
	uint32_t pid;
	struct x86_heap_space space;        /* the range its heap's pages are mapped in */
	uint32_t space_bits[X86_HEAP_STORAGE_WORDS(PROC_PAGES)];
	liballoc_heap *heap;
	struct thread *threads;
};

struct message {
	uint32_t from, to, len;
	unsigned char body[];
};

static unsigned char msg_region[MSG_BYTES] __attribute__((aligned(16)));
static liballoc_heap *msg_heap;
static liballoc_cache *process_cache, *thread_cache;
static struct process *running[PROC_SLOTS];

static uint64_t rng_next(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* Every frame not free in the PMM is the page directory, a page table, or a page
 * of the kernel heap or of a running process's heap. */
static bool frames_accounted(void)
{
	size_t process_pages = 0;
	for (unsigned i = 0; i < PROC_SLOTS; i++)
		process_pages += running[i] ? x86_heap_space_pages(&running[i]->space) : 0;
	return x86_pmm_free_frames(&pmm) + 1 + vmm.tables + x86_heap_pages() + process_pages == free_at_boot;
}

static struct process *process_start(uint32_t pid, unsigned slot)
{
	struct process *p = liballoc_cache_alloc(process_cache);
	if (!check(p != NULL, "process: a process struct from its object cache"))
		return NULL;
	p->pid = pid;
	p->threads = NULL;
	uint32_t base = PROC_BASE + slot * PROC_PAGES * X86_PAGE_SIZE;
	require(x86_heap_space_init(&p->space, &heap_ops, base, PROC_PAGES, p->space_bits) == 0,
		"process: its address range");
	struct liballoc_port port = x86_heap_space_port(&p->space);
	p->heap = liballoc_heap_create(&port);
	if (!check(p->heap != NULL, "process: liballoc_heap_create over its range")) {
		liballoc_cache_free(process_cache, p);
		return NULL;
	}
	running[slot] = p;
	return p;
}

/* The process at work: threads (kernel objects) with stacks in its heap, data of
 * every size, a big buffer, messages sent and received. Much stays allocated. */
static void process_run(struct process *p, uint64_t *r)
{
	static void *data[1500];
	for (uint32_t t = 0; t < 4; t++) {
		struct thread *th = liballoc_cache_alloc(thread_cache);
		if (!check(th != NULL, "process: a thread struct from its object cache"))
			return;
		th->tid = p->pid * 100 + t;
		th->owner = p;
		th->stack = liballoc_heap_memalign(p->heap, X86_PAGE_SIZE, 16384);
		check(th->stack && (uintptr_t)th->stack % X86_PAGE_SIZE == 0, "process: a page-aligned thread stack");
		th->next = p->threads;
		p->threads = th;
	}
	bool ok = true;
	for (unsigned i = 0; i < 1500; i++) {
		size_t n = 16 + (size_t)(rng_next(r) % 2000);
		data[i] = liballoc_heap_malloc(p->heap, n);
		ok = ok && data[i] && (uintptr_t)data[i] >= p->space.virt.base &&
		     (uintptr_t)data[i] < p->space.virt.base + PROC_PAGES * X86_PAGE_SIZE;
		if (data[i])
			__builtin_memset(data[i], (int)i, n < 64 ? n : 64);
	}
	check(ok, "process: 1500 blocks, all inside its range");
	for (unsigned i = 0; i < 1500; i += 2)
		liballoc_heap_free(p->heap, data[i]);
	unsigned char *big = liballoc_heap_calloc(p->heap, 1, 1u << 20);  /* its own page run */
	ok = big != NULL;
	for (size_t i = 0; ok && i < (1u << 20); i += 4093)
		ok = big[i] == 0;
	check(ok, "process: a zeroed 1 MiB buffer");
	/* messages to the kernel (pid 0): variable sizes in the message heap */
	struct message *queue[24];
	for (unsigned i = 0; i < 24; i++) {
		uint32_t len = 32 + (uint32_t)(rng_next(r) % 3000);
		queue[i] = liballoc_heap_malloc(msg_heap, sizeof(struct message) + len);
		if (!check(queue[i] != NULL, "process: a message in the message heap"))
			return;
		queue[i]->from = p->pid;
		queue[i]->to = 0;
		queue[i]->len = len;
		__builtin_memset(queue[i]->body, (int)(p->pid + i), len);
	}
	ok = true;
	for (unsigned i = 0; i < 24; i += 3) {  /* the kernel reads some, the rest stay queued */
		for (uint32_t k = 0; k < queue[i]->len; k++)
			ok = ok && queue[i]->body[k] == (unsigned char)(p->pid + i);
		liballoc_heap_free(msg_heap, queue[i]);
	}
	check(ok, "process: messages read back intact");
	check(liballoc_heap_check(p->heap) == LIBALLOC_OK, "process: liballoc_heap_check of its heap");
	check(liballoc_heap_check(msg_heap) == LIBALLOC_OK, "process: liballoc_heap_check of the message heap");
	/* Isolation: a process block given to the message heap's free or to kfree is
	 * reported (on the console) and changes nothing. */
	struct liballoc_stats before, after;
	liballoc_heap_stats(p->heap, &before);
	console_write("x86: two expected misuse reports follow\n");
	liballoc_heap_free(msg_heap, data[1]);
	kfree(data[1]);
	liballoc_heap_stats(p->heap, &after);
	check(after.live_blocks == before.live_blocks && after.in_use == before.in_use &&
		      liballoc_heap_check(p->heap) == LIBALLOC_OK && liballoc_heap_check(msg_heap) == LIBALLOC_OK &&
		      liballoc_check() == LIBALLOC_OK,
	      "process: a block freed in the wrong heap changes neither");
}

/* The process exits: the kernel drops its threads' structs, then its heap whole. */
static void process_exit(struct process *p)
{
	struct liballoc_stats st;
	liballoc_heap_stats(p->heap, &st);
	size_t held = x86_heap_space_pages(&p->space);
	console_write("x86: process ");
	console_dec(p->pid);
	console_write(": heap at ");
	console_hex(p->space.virt.base, 8);
	console_write(", ");
	console_dec(st.live_blocks);
	console_write(" blocks live, ");
	console_dec(held);
	console_write(" pages (frames) held; exits\n");
	check(st.obtained == held * X86_PAGE_SIZE, "process: its heap holds exactly the pages of its range");
	check(frames_accounted(), "process: PMM frames in use are page tables, kernel heap and process heap pages");
	while (p->threads) {
		struct thread *th = p->threads;
		p->threads = th->next;
		liballoc_cache_free(thread_cache, th);  /* its stack goes with the heap */
	}
	liballoc_heap_destroy(p->heap);
	check(x86_heap_space_pages(&p->space) == 0 && x86_heap_space_errors(&p->space) == 0,
	      "process: destroy gave back every page of its heap");
	check(frames_accounted(), "process: every frame of its heap is back in the PMM");
	console_write("x86: process ");
	console_dec(p->pid);
	console_write(" gone: ");
	console_dec(held);
	console_write(" frames back, ");
	console_dec(x86_pmm_free_frames(&pmm));
	console_write(" free in the PMM\n");
	for (unsigned i = 0; i < PROC_SLOTS; i++)
		if (running[i] == p)
			running[i] = NULL;
	liballoc_cache_free(process_cache, p);
}

static void processes(void)
{
	uint64_t r = seed | 1;
	process_cache = liballoc_cache_create(NULL, "process", sizeof(struct process), 64);
	thread_cache = liballoc_cache_create(NULL, "thread", sizeof(struct thread), 16);
	msg_heap = liballoc_heap_create_in(msg_region, sizeof msg_region);
	require(process_cache && thread_cache && msg_heap, "processes: object caches and the message heap");
	/* three processes: two at once, then one in the range the first left */
	struct process *a = process_start(1, 0), *b = process_start(2, 1);
	if (a)
		process_run(a, &r);
	/* a broken cache would corrupt the kernel heap: stop here rather than later */
	require(liballoc_check() == LIBALLOC_OK, "processes: the kernel heap and its object caches are sound");
	if (b)
		process_run(b, &r);
	if (a)
		process_exit(a);
	struct process *c = process_start(3, 0);
	if (c) {
		process_run(c, &r);
		process_exit(c);
	}
	if (b)
		process_exit(b);
	struct liballoc_cache_stats ps, ts;
	liballoc_cache_stats(process_cache, &ps);
	liballoc_cache_stats(thread_cache, &ts);
	check(ps.objects == 0 && ts.objects == 0, "processes: every process and thread struct back in its cache");
	struct liballoc_stats ms;
	liballoc_heap_stats(msg_heap, &ms);
	console_write("x86: message heap: ");
	console_dec(ms.live_blocks);
	console_write(" messages still queued, ");
	console_dec(ms.in_use);
	console_write(" bytes in a region of ");
	console_dec(MSG_BYTES);
	console_write("\n");
	check(ms.live_blocks == 3 * 16 && liballoc_heap_check(msg_heap) == LIBALLOC_OK,
	      "processes: the unread messages are still in the message heap");
	liballoc_heap_destroy(msg_heap);
	liballoc_cache_destroy(process_cache);
	liballoc_cache_destroy(thread_cache);
	liballoc_trim();
	check(frames_accounted(), "processes: every frame accounted for after the processes");
}

/* "liballoc-selftest: PASS <n> checks" with the kernel's checks added to n. */
static void print_pass(void)
{
	const char *s = verdict + sizeof "liballoc-selftest: PASS " - 1;
	uint64_t n = 0;
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (uint64_t)(*s++ - '0');
	console_write("liballoc-selftest: PASS ");
	console_dec(n + checks);
	console_write(" checks\n");
}

void kmain(uint32_t magic, uint32_t mbi_phys);

void kmain(uint32_t magic, uint32_t mbi_phys)
{
	console_init();
	console_write("x86-kernel: liballoc on a paged i686 kernel\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		kernel_fail("not started by a Multiboot boot loader");
	cpu_init();
	const struct multiboot_info *mbi = phys_read(mbi_phys);
	if (mbi->flags & MULTIBOOT_INFO_CMDLINE)
		parse_cmdline(phys_read(mbi->cmdline));
	print_memory_map(mbi);
	size_t free0 = free_at_boot = pmm_start(mbi_phys);
	paging_start();
	if (crash)
		(void)*(volatile uint32_t *)0xDEAD0000u;  /* unmapped: the handler reports and fails */

	x86_heap_ops_init(&heap_ops, &mm);
	require(x86_heap_init(&heap_ops, HEAP_BASE, HEAP_PAGES, heap_bits) == 0, "heap: hooks initialised");
	timer_start(TIMER_HZ);
	__asm__ volatile("sti");
	lock_checks();

	struct selftest_env env = {
		.write = selftest_write,
		.heap_bytes = x86_pmm_free_frames(&pmm) * (size_t)X86_FRAME_SIZE,
		.port_pages = port_pages,
		.touch_faults = touch_faults,
		.seed = seed,
		.ops = ops,
	};
	console_write("x86: self-test: seed=");
	console_dec(seed);
	console_write(" ops=");
	console_dec(ops);
	console_write(" heap_bytes=");
	console_dec(env.heap_bytes);
	console_write("\n");
	bool passed = selftest_run(&env);
	processes();
	check(kernel_leak_selftest(), "leak report: the two leaks made, largest first, then none");
	int broken = liballoc_check();
	if (!check(broken == LIBALLOC_OK, "liballoc_check after the self-test")) {
		console_write("x86: liballoc_check: ");
		console_write(liballoc_strerror(broken));
		console_write("\n");
	}
	frame_account(free0);
	if (!starts(verdict, "liballoc-selftest: "))
		kernel_fail("the self-test printed no verdict");
	if (!passed) {
		console_write(verdict);
		qemu_exit(EXIT_FAIL);
	}
	if (failure)
		kernel_fail(failure);
	print_pass();
	qemu_exit(EXIT_PASS);
}
