/* kernel.c — the x86_64 example kernel: PMM, 4-level paging, the heap hooks, every CPU started, the self-test and the concurrent phases. */
/* SPDX-License-Identifier: MIT */
/*
 * Boot sequence on the bootstrap CPU (BSP), entered from boot.S in long mode on
 * the boot page tables: descriptor tables and the per-CPU block (GS base);
 * serial console; the 8259s masked; the PMM from the Multiboot memory map; the
 * processors from ACPI's MADT; the kernel's own page tables built with the
 * port's VMM (kernel image with per-section permissions, all RAM at PHYS_MAP,
 * the local APIC uncached) and CR3 switched to them; checks of the VMM on the
 * real MMU; the local APIC and its timer; the TLB shootdown and the heap hooks
 * over HEAP_BASE; checks of the heap lock; then every other CPU started
 * (smp.c); the shared self-test on the BSP while the others idle (and answer
 * shootdowns); the concurrent phases on every CPU at once (smp.c); the APs
 * taken offline; a last liballoc_check and an account of every frame. Exits
 * QEMU through isa-debug-exit: 0x10 (status 33) on PASS, 0x11 (35) on FAIL.
 *
 * Command line (QEMU -append): seed=N and ops=N set the BSP's randomized
 * self-test; smpops=N the operations per CPU in the concurrent phase; heap=N the
 * MiB of free memory left for the tests (default 16, 0 = all: the rest is set
 * aside so the exhaustion phases stay short under TCG, and given back before
 * the final account); crash=pf reads an unmapped address after paging is on (an
 * unexpected page fault, reported with CR2, and the FAIL exit); tlb=off turns
 * the heap's TLB shootdown off, to show the concurrent phase catch a stale
 * translation on another CPU.
 */
#include "kernel.h"
#include "liballoc.h"
#include "multiboot.h"
#include "selftest.h"

#define MiB 0x100000ull
#define HEAP_PAGES (HEAP_BYTES / X86_64_PAGE_SIZE)
#define IRQ_ALLOCS 100u  /* kmalloc/kfree pairs per CPU in its timer interrupt */
#define PMM_FRAMES ((16ull << 30) / X86_FRAME_SIZE)  /* RAM managed: up to 16 GiB (1 MiB of bitmaps) */

extern char kernel_phys_start[], kernel_phys_end[], kernel_text_start[], kernel_text_end[], kernel_rodata_end[];

static uint32_t pmm_bits[X86_PMM_STORAGE_WORDS(PMM_FRAMES)];
static uint32_t heap_bits[X86_64_HEAP_STORAGE_WORDS(HEAP_PAGES)];
static struct x86_pmm pmm;
static struct x86_64_vmm vmm;
static struct x86_64_mm mm = {&pmm, &vmm, true};
static struct x86_64_heap_ops heap_ops;
static uint64_t table_limit;  /* page tables come from below: reachable through PHYS_MAP */
static uint64_t ram_top;      /* end of the RAM the PMM manages: PHYS_MAP covers the RAM below */
uint64_t kernel_pml4;
struct cpu cpus[MAX_CPUS];
unsigned ncpus = 1;
volatile bool irq_alloc_on;

/* ---- checks ----------------------------------------------------------------------- */

static unsigned long checks;
static const char *failure;

bool check(bool ok, const char *what)
{
	__atomic_fetch_add(&checks, 1, __ATOMIC_RELAXED);
	if (!ok) {
		const char *none = NULL;
		kprintf("x86_64: cpu %u: check failed: %s\n", x86_64_cpu_index(), what);
		__atomic_compare_exchange_n(&failure, &none, what, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	return ok;
}

/* Stop at once if a layer the next one builds on is broken. */
static void require(bool ok, const char *what)
{
	if (!check(ok, what))
		kernel_fail(what);
}

void x86_64_liballoc_report(int error, void *ptr)
{
	kprintf("liballoc: cpu %u: %s at %p\n", x86_64_cpu_index(), liballoc_strerror(error), ptr);
}

/* ---- boot information ----------------------------------------------------------------- */

/* Before the switch the boot tables map 0..4 GiB at PHYS_MAP; after it, the
 * kernel's tables map the RAM the PMM manages there. */
static const void *phys_read(uint32_t pa) { return (const void *)(uintptr_t)(PHYS_MAP + pa); }

static uint64_t seed = 0x9E3779B97F4A7C15ull;
static unsigned ops = LIBALLOC_HARDENED ? 4000 : 10000;  /* hardened: O(size) per call */
static unsigned smp_ops = LIBALLOC_HARDENED ? 500 : 1000;
static unsigned heap_mib = 16;
static bool crash, tlb_off;

static bool starts(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

/* seed=N ops=N smpops=N heap=N crash=pf tlb=off anywhere on the command line. */
static void parse_cmdline(const char *s)
{
	while (*s) {
		uint64_t v = 0, *target64 = 0;
		unsigned *target = 0;
		if (starts(s, "seed="))
			target64 = &seed, s += 5;
		else if (starts(s, "ops="))
			target = &ops, s += 4;
		else if (starts(s, "smpops="))
			target = &smp_ops, s += 7;
		else if (starts(s, "heap="))
			target = &heap_mib, s += 5;
		else if (starts(s, "crash=pf"))
			crash = true;
		else if (starts(s, "tlb=off"))
			tlb_off = true;
		if (target || target64) {
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
		kprintf("x86_64: mmap %09llx-%09llx %s\n", (unsigned long long)e->addr,
			(unsigned long long)(e->addr + e->len - 1),
			e->type == MULTIBOOT_MEMORY_AVAILABLE ? "available" : "reserved");
		if (e->size < 20)
			break;
		p += e->size + 4;
	}
}

/* ---- PMM --------------------------------------------------------------------------------- */

static size_t pmm_start(uint32_t mbi_phys)
{
	uint32_t ks = (uint32_t)(uintptr_t)kernel_phys_start, ke = (uint32_t)(uintptr_t)kernel_phys_end;
	size_t free0 = x86_pmm_init_multiboot(&pmm, mbi_phys, phys_read, ks, ke, pmm_bits,
					      sizeof pmm_bits / sizeof pmm_bits[0]);
	require(free0 > 0, "the PMM found usable memory");
	kprintf("x86_64: pmm: %lu frames usable, %lu free after reserving low memory, the kernel [%08x, %08x) "
		"and the boot information; %llu bytes ignored\n",
		pmm.usable, free0, ks, ke, (unsigned long long)pmm.ignored);

	/* The PMM's promises on the live map (the same pmm.c as the 32-bit port,
	 * built for 52-bit physical addresses). */
	check(!x86_pmm_allocated(&pmm, ks) && x86_pmm_free(&pmm, ks, 1) != 0,
	      "pmm: freeing a frame never handed out (the kernel image) is refused");
	check(x86_pmm_free(&pmm, TRAMPOLINE_PHYS, 1) != 0, "pmm: low memory (the AP trampoline's page) is never handed out");
	x86_paddr f = x86_pmm_alloc(&pmm);
	check(f >= MiB && f % X86_FRAME_SIZE == 0 && x86_pmm_allocated(&pmm, f), "pmm: one frame above 1 MiB");
	check(f < ks || f >= ke, "pmm: the frame is not inside the kernel image");
	check(x86_pmm_free(&pmm, f, 1) == 0, "pmm: the frame goes back");
	check(x86_pmm_free(&pmm, f, 1) != 0, "pmm: a double free is refused");
	x86_paddr dma = x86_pmm_alloc_below(&pmm, 16, 16 * MiB);
	check(dma && dma + 16 * X86_FRAME_SIZE <= 16 * MiB, "pmm: a 16-frame run ending below 16 MiB");
	x86_paddr run = x86_pmm_alloc_run(&pmm, 64);
	check(run != 0 && (run >= dma + 16 * X86_FRAME_SIZE || run + 64 * X86_FRAME_SIZE <= dma),
	      "pmm: a 64-frame contiguous run, disjoint from the first");
	check(x86_pmm_free(&pmm, dma, 16) == 0 && x86_pmm_free(&pmm, run + 32 * X86_FRAME_SIZE, 32) == 0 &&
		      x86_pmm_free(&pmm, run, 32) == 0,
	      "pmm: runs go back, also in pieces");
	check(x86_pmm_free_frames(&pmm) == free0, "pmm: every frame back after the checks");
	return free0;
}

/* ---- VMM and paging ------------------------------------------------------------------------ */

static uint64_t table_alloc(void *ctx) { return x86_pmm_alloc_below(((struct x86_64_mm *)ctx)->pmm, 1, table_limit); }

static uint64_t *table_ptr(void *ctx, uint64_t pa)
{
	(void)ctx;
	return (uint64_t *)(uintptr_t)(PHYS_MAP + pa);
}

static void invalidate(void *ctx, uintptr_t va)
{
	(void)ctx;
	x86_64_invlpg(va);
}

static bool touch_faults(volatile unsigned char *addr) { return cpu_touch_faults(addr); }

/* Map the frames of [pa, pa + bytes) below ram_top at PHYS_MAP, each once. */
static bool map_phys(uint64_t pa, uint64_t bytes)
{
	uint64_t end = pa >= ram_top || bytes > ram_top - pa ? ram_top : pa + bytes;
	for (pa &= ~(uint64_t)(X86_64_PAGE_SIZE - 1); pa < end; pa += X86_64_PAGE_SIZE) {
		int r = x86_64_vmm_map(&vmm, (uintptr_t)(PHYS_MAP + pa), pa, X86_64_PTE_WRITE | X86_64_PTE_NX);
		if (r != X86_64_VMM_OK && r != X86_64_VMM_EEXIST)
			return false;
	}
	return true;
}

static void paging_start(const struct multiboot_info *mbi, uint64_t lapic_phys)
{
	uintptr_t text = (uintptr_t)kernel_text_start, text_end = (uintptr_t)kernel_text_end;
	uintptr_t rodata_end = (uintptr_t)kernel_rodata_end;
	uint64_t ks = (uintptr_t)kernel_phys_start, ke = (uintptr_t)kernel_phys_end;
	ram_top = (uint64_t)pmm.frames.pages * X86_FRAME_SIZE;
	/* Building on the boot tables: new tables must lie where they reach. */
	table_limit = ram_top < BOOT_MAP_LIMIT ? ram_top : BOOT_MAP_LIMIT;
	const struct x86_64_vmm_ops ops = {table_alloc, table_ptr, invalidate, &mm};
	uint64_t root = x86_pmm_alloc_below(&pmm, 1, table_limit);
	require(root != 0 && x86_64_vmm_init(&vmm, root, &ops) == X86_64_VMM_OK, "vmm: a PML4");
	bool ok = true;
	/* The kernel image: text read-only and executable, rodata read-only, the
	 * rest (the 32-bit boot code and tables, data, bss) read/write, no execute. */
	for (uint64_t pa = ks; pa < ke && ok; pa += X86_64_PAGE_SIZE) {
		uintptr_t va = (uintptr_t)(KERNEL_VMA + pa);
		uint64_t flags = va >= text && va < text_end ? 0
			       : va >= text_end && va < rodata_end ? X86_64_PTE_NX
								   : X86_64_PTE_WRITE | X86_64_PTE_NX;
		ok = x86_64_vmm_map(&vmm, va, pa, flags) == X86_64_VMM_OK;
	}
	require(ok, "vmm: the kernel image mapped at KERNEL_VMA");
	/* RAM at PHYS_MAP: the first MiB (BIOS data, the AP trampoline, QEMU's boot
	 * information) and every available range of the memory map, but not the
	 * holes between them (device memory must not be mapped write-back). */
	ok = map_phys(0, MiB);
	const char *e = phys_read(mbi->mmap_addr), *end = e + ((mbi->flags & MULTIBOOT_INFO_MMAP) ? mbi->mmap_length : 0);
	for (; ok && e + sizeof(struct multiboot_mmap_entry) <= end; e += ((const struct multiboot_mmap_entry *)e)->size + 4) {
		const struct multiboot_mmap_entry *m = (const void *)e;
		if (m->size < 20)
			break;
		if (m->type == MULTIBOOT_MEMORY_AVAILABLE)
			ok = map_phys(m->addr, m->len);
	}
	if (!(mbi->flags & MULTIBOOT_INFO_MMAP))
		ok = ok && map_phys(MiB, ram_top - MiB);
	require(ok, "vmm: all RAM mapped at PHYS_MAP");
	require(x86_64_vmm_map(&vmm, (uintptr_t)LAPIC_VA, lapic_phys,
			       X86_64_PTE_WRITE | X86_64_PTE_NX | X86_64_PTE_PCD | X86_64_PTE_PWT) == X86_64_VMM_OK,
		"vmm: the local APIC mapped uncached");
	x86_64_write_cr3(root);
	kernel_pml4 = root;
	table_limit = ram_top;
	kprintf("x86_64: paging: PML4 at %08llx, kernel image at %016llx, RAM below %09llx at %016llx, %lu tables; "
		"the lower half unmapped\n",
		(unsigned long long)root, (unsigned long long)(KERNEL_VMA + ks), (unsigned long long)ram_top,
		(unsigned long long)PHYS_MAP, vmm.tables);

	/* The MMU walks our four levels: a page written through a fresh mapping (three
	 * new tables) is the frame read through PHYS_MAP. */
	uint64_t pa, flags, f = x86_pmm_alloc(&pmm);
	size_t tables = vmm.tables;
	require(f != 0 && x86_64_vmm_map(&vmm, (uintptr_t)SCRATCH_VA, f, X86_64_PTE_WRITE | X86_64_PTE_NX) == X86_64_VMM_OK,
		"vmm: map a page");
	check(vmm.tables == tables + 3, "vmm: a page in an empty 512 GiB slot takes a PDPT, a PD and a PT");
	volatile uint64_t *v = (volatile uint64_t *)(uintptr_t)SCRATCH_VA, *p = (volatile uint64_t *)(uintptr_t)(PHYS_MAP + f);
	for (unsigned i = 0; i < 512; i++)
		v[i] = 0xA5A5000000000000ull + i;
	bool same = true;
	for (unsigned i = 0; i < 512; i++)
		same = same && p[i] == 0xA5A5000000000000ull + i;
	check(same, "vmm: the MMU translates through the new tables");
	check(x86_64_vmm_query(&vmm, (uintptr_t)SCRATCH_VA + 12, &pa, &flags) == X86_64_VMM_OK && pa == f + 12 &&
		      (flags & (X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_DIRTY | X86_64_PTE_NX)) ==
			      (X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_DIRTY | X86_64_PTE_NX),
	      "vmm: query finds the mapping, and the CPU set its dirty bit");
	check(x86_64_vmm_map(&vmm, (uintptr_t)SCRATCH_VA, f, X86_64_PTE_WRITE) == X86_64_VMM_EEXIST,
	      "vmm: mapping twice is refused");
	/* The translation is in the TLB now: only invlpg makes this read fault. */
	check(x86_64_vmm_unmap(&vmm, (uintptr_t)SCRATCH_VA, &pa) == X86_64_VMM_OK && pa == f, "vmm: unmap returns the frame");
	check(touch_faults((volatile unsigned char *)(uintptr_t)SCRATCH_VA), "vmm: an unmapped page faults (invlpg)");
	check(touch_faults((volatile unsigned char *)0), "vmm: the null page is not mapped");
	check(touch_faults((volatile unsigned char *)(uintptr_t)(KERNEL_VMA - X86_64_PAGE_SIZE)),
	      "vmm: the page below the kernel window is not mapped");
	check(x86_pmm_free(&pmm, f, 1) == 0, "pmm: the scratch frame goes back");
}

/* ---- heap lock ----------------------------------------------------------------------------- */

static bool irq_on(void) { return x86_64_rflags() & X86_64_RFLAGS_IF; }

/* The lock hooks on the real CPU, with its local APIC timer ticking. */
static void lock_checks(void)
{
	struct cpu *c = this_cpu();
	check(irq_on(), "lock: interrupts on before");
	check(liballoc_lock() == 0 && !irq_on(), "lock: lock disables interrupts");
	check(liballoc_lock() == 0 && liballoc_unlock() == 0 && !irq_on() && x86_64_heap_lock_depth() == 1,
	      "lock: a nested unlock leaves interrupts off");
	/* Wait until the timer has raised its vector: it must stay pending, not run. */
	uint64_t ticks = c->ticks;
	bool pending = false;
	for (unsigned long spin = 0; spin < 5000000ul && !pending; spin++)  /* a tick is 10 ms */
		pending = lapic_pending(TIMER_VECTOR);
	check(pending && c->ticks == ticks, "lock: the timer interrupt waits while the lock is held");
	check(liballoc_unlock() == 0 && irq_on(), "lock: the outermost unlock restores interrupts");
	for (unsigned long spin = 0; spin < 50000000ul && c->ticks == ticks; spin++)
		x86_64_pause();
	check(c->ticks != ticks, "lock: the pending interrupt runs after unlock");
	/* The kernel holding the lock around the allocator (the core nests it). */
	liballoc_lock();
	void *p = kmalloc(100);
	check(p && !irq_on() && x86_64_heap_lock_depth() == 1, "lock: kmalloc inside the kernel's own lock keeps it held");
	kfree(p);
	liballoc_unlock();
	check(irq_on() && x86_64_heap_lock_depth() == 0, "lock: ... and released after");
	/* Interrupts already off: unlock must not turn them on. */
	unsigned long saved = x86_64_irq_save();
	check(liballoc_lock() == 0 && liballoc_unlock() == 0 && !irq_on(), "lock: unlock keeps interrupts off if they were");
	x86_64_irq_restore(saved);
	check(liballoc_unlock() != 0 && irq_on(), "lock: an unbalanced unlock is refused");
}

/* ---- the timer interrupt: it allocates too --------------------------------------------------- */

void timer_tick(void)
{
	struct cpu *c = this_cpu();
	struct pattern_block *b = &c->irq_block;
	c->ticks++;
	/* Interrupt context: the interrupted code on this CPU does not hold the
	 * heap lock (it would have interrupts off), so kmalloc cannot deadlock. */
	if (b->p) {
		check(pattern_block_intact(b, b->n), "a block allocated in the timer interrupt is intact");
		kfree(b->p);
		b->p = NULL;
	}
	/* At most IRQ_ALLOCS per CPU: under TCG a slow phase takes more ticks, and
	 * more allocations would make it slower still. */
	if (irq_alloc_on && c->irq_allocs < IRQ_ALLOCS) {
		b->n = 16 + (size_t)((c->ticks * 2654435761u) % 1000);
		b->seed = (unsigned char)c->ticks;
		b->p = kmalloc(b->n);
		if (check(b->p != NULL, "kmalloc in the timer interrupt")) {
			pattern_block_fill(b);
			c->irq_allocs++;
		}
	}
}

/* ---- the self-test ------------------------------------------------------------------------------ */

/* The self-test's console: its verdict line is held back so the kernel's own
 * phases come after it, and the kernel's verdict is the last line. */
static char line[200], verdict[200];
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
			kprintf("%s", line);
		}
	}
}

static size_t free_at_boot;

/* Frames the kernel set aside so that the tests exhaust heap_mib MiB, not all RAM. */
static struct {
	x86_paddr at[64];
	size_t len[64];
	unsigned runs;
	size_t frames;
} ballast;

static void ballast_take(size_t keep)
{
	size_t run = x86_pmm_free_frames(&pmm);
	while (ballast.runs < 64 && run && x86_pmm_free_frames(&pmm) > keep) {
		size_t want = x86_pmm_free_frames(&pmm) - keep;
		if (run > want)
			run = want;
		x86_paddr at = x86_pmm_alloc_run(&pmm, run);
		if (!at) {
			run /= 2;
			continue;
		}
		ballast.at[ballast.runs] = at;
		ballast.len[ballast.runs++] = run;
		ballast.frames += run;
	}
}

static void ballast_return(void)
{
	for (unsigned i = 0; i < ballast.runs; i++)
		check(x86_pmm_free(&pmm, ballast.at[i], ballast.len[i]) == 0, "the set-aside frames go back");
	ballast.runs = 0;
	ballast.frames = 0;
}

/* Every frame not free is the PML4, a page table, a heap page or set aside. */
static bool frames_accounted(void)
{
	return x86_pmm_free_frames(&pmm) + 1 + vmm.tables + x86_64_heap_pages() + ballast.frames == free_at_boot;
}

/* Pages the heap holds. Every time the self-test asks (after each exhaustion,
 * free-all and trim too), the PMM must agree. */
static size_t port_pages(void)
{
	check(frames_accounted(), "PMM frames in use are exactly the page tables and the heap's pages");
	return x86_64_heap_pages();
}

size_t kernel_port_pages(void) { return port_pages(); }
size_t kernel_pmm_free(void) { return x86_pmm_free_frames(&pmm); }

/* "liballoc-selftest: PASS <n> checks on <k> cpus" with the kernel's checks added to n. */
static void print_pass(void)
{
	const char *s = verdict + sizeof "liballoc-selftest: PASS " - 1;
	uint64_t n = 0;
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (uint64_t)(*s++ - '0');
	kprintf("liballoc-selftest: PASS %llu checks on %u cpus\n", (unsigned long long)(n + checks), ncpus);
}

static void send_ipi(void *ctx, uint32_t targets)
{
	(void)ctx;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		if (targets >> i & 1)
			lapic_send_ipi(cpus[i].local.apic_id, TLB_VECTOR);
}

void kmain(uint32_t magic, uint32_t mbi_phys);

void kmain(uint32_t magic, uint32_t mbi_phys)
{
	idt_build();
	cpu_load_tables();
	x86_64_cpu_set_local(&cpus[0].local);  /* index 0; the APIC ID once it is mapped */
	console_init();
	kprintf("x86_64-kernel: liballoc on a 64-bit SMP kernel (long mode, 4-level paging)\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		kernel_fail("not started by a Multiboot boot loader");
	pic_disable();
	const struct multiboot_info *mbi = phys_read(mbi_phys);
	if (mbi->flags & MULTIBOOT_INFO_CMDLINE)
		parse_cmdline(phys_read(mbi->cmdline));
	print_memory_map(mbi);
	size_t free0 = free_at_boot = pmm_start(mbi_phys);

	/* The processors, while the boot tables still map the ACPI tables. */
	uint32_t apic_ids[MAX_CPUS];
	uint64_t lapic_phys = x86_64_rdmsr(X86_64_MSR_APIC_BASE) & 0xFFFFFF000ull;
	unsigned found = acpi_cpus(apic_ids, MAX_CPUS, &lapic_phys);
	kprintf("x86_64: ACPI MADT: %u processors, local APIC at %08llx\n", found, (unsigned long long)lapic_phys);
	uint64_t mmap_end = (uint64_t)mbi->mmap_addr + mbi->mmap_length;
	require(mbi_phys >= TRAMPOLINE_PHYS + 0x1000 || mbi_phys + sizeof *mbi <= TRAMPOLINE_PHYS,
		"the AP trampoline page does not hold the boot information");
	require(!(mbi->flags & MULTIBOOT_INFO_MMAP) || mbi->mmap_addr >= TRAMPOLINE_PHYS + 0x1000 || mmap_end <= TRAMPOLINE_PHYS,
		"the AP trampoline page does not hold the memory map");

	paging_start(mbi, lapic_phys);
	if (crash)
		(void)*(volatile uint32_t *)(uintptr_t)0xDEAD0000u;  /* unmapped: the handler reports and fails */

	uint32_t timer_count = lapic_calibrate();
	lapic_init_cpu(timer_count);
	cpus[0].local.apic_id = lapic_id();
	kprintf("x86_64: local APIC: BSP id %u, timer %u counts per %u Hz tick\n", cpus[0].local.apic_id, timer_count,
		TIMER_HZ);

	const struct x86_64_tlb_ops tlb_ops = {send_ipi, 0};
	x86_64_tlb_init(&tlb_ops);
	x86_64_tlb_cpu_online();
	mm.smp = !tlb_off;
	x86_64_heap_ops_init(&heap_ops, &mm);
	require(x86_64_heap_init(&heap_ops, (uintptr_t)HEAP_BASE, HEAP_PAGES, heap_bits) == 0, "heap: hooks initialised");
	if (tlb_off)
		kprintf("x86_64: tlb=off: the heap does NOT shoot unmapped pages down on other CPUs\n");
	__asm__ volatile("sti");
	lock_checks();

	unsigned started = smp_start(apic_ids, found, cpus[0].local.apic_id, timer_count);
	check(found == 0 || started == found || (found > MAX_CPUS && started == MAX_CPUS),
	      "every processor in the MADT started");

	if (heap_mib)
		ballast_take((size_t)heap_mib * (MiB / X86_FRAME_SIZE));
	struct selftest_env env = {
		.write = selftest_write,
		.heap_bytes = x86_pmm_free_frames(&pmm) * (size_t)X86_FRAME_SIZE,
		.port_pages = port_pages,
		.touch_faults = touch_faults,
		.seed = seed,
		.ops = ops,
	};
	kprintf("x86_64: self-test on cpu 0 (%u others idle, answering shootdowns): seed=%llu ops=%u heap_bytes=%lu "
		"(%lu MiB set aside)\n",
		ncpus - 1, (unsigned long long)seed, ops, env.heap_bytes, (size_t)(ballast.frames * X86_FRAME_SIZE / MiB));
	bool passed = selftest_run(&env);
	int broken = liballoc_check();
	if (!check(broken == LIBALLOC_OK, "liballoc_check after the self-test"))
		kprintf("x86_64: liballoc_check: %s\n", liballoc_strerror(broken));
	if (!starts(verdict, "liballoc-selftest: "))
		kernel_fail("the self-test printed no verdict");
	if (!passed) {
		kprintf("%s", verdict);
		qemu_exit(EXIT_FAIL);
	}

	smp_tests(seed, smp_ops);
	smp_offline();

	struct liballoc_stats st;
	broken = liballoc_check();
	if (!check(broken == LIBALLOC_OK, "liballoc_check after every CPU went offline"))
		kprintf("x86_64: liballoc_check: %s\n", liballoc_strerror(broken));
	liballoc_trim();
	liballoc_stats(&st);
	kprintf("liballoc stats (all CPUs, whole run): in_use_peak=%lu obtained_peak=%lu allocs=%lu frees=%lu failed=%lu "
		"errors=%lu alloc_page=%lu free_page=%lu lock=%lu cached=%lu\n",
		st.in_use_peak, st.obtained_peak, st.allocs, st.frees, st.failed_allocs, st.errors, st.alloc_page_calls,
		st.free_page_calls, st.lock_calls, st.cached);
	check(st.in_use == 0 && st.live_blocks == 0, "nothing live at the end");
	check(st.errors == 0, "no misuse reported");
	ballast_return();
	size_t free_now = x86_pmm_free_frames(&pmm), held = x86_64_heap_pages();
	kprintf("x86_64: frames: %lu free at boot, %lu free now; handed out: 1 PML4 + %lu page tables + %lu heap pages "
		"(liballoc's page map)\n",
		free0, free_now, vmm.tables, held);
	check(frames_accounted(), "every frame is back in the PMM except page tables and the page map");
	check(held * X86_64_PAGE_SIZE == st.metadata, "the heap holds nothing but its page map");
	check(x86_64_heap_errors() == 0, "the hooks met no inconsistency");
	check(x86_64_heap_lock_depth() == 0 && irq_on(), "the lock is released and interrupts are on");
	if (failure)
		kernel_fail(failure);
	print_pass();
	qemu_exit(EXIT_PASS);
}
