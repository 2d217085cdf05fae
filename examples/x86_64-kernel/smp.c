/* smp.c — the x86_64 example kernel's application processors (INIT-SIPI-SIPI) and the phases that run kmalloc on every CPU at once. */
/* SPDX-License-Identifier: MIT */
/*
 * Starting a CPU. The BSP copies boot.S's trampoline to TRAMPOLINE_PHYS, fills in
 * the boot PML4 (which maps that page, identity, and the kernel), a stack and
 * the CPU's index, and sends INIT-SIPI-SIPI to its local APIC ID (from the
 * MADT). The AP climbs from real mode to long mode in the trampoline, jumps to
 * ap_main in the higher half, loads the kernel's GDT, IDT and page tables,
 * points GS at its struct cpu, enables its local APIC and timer, joins the TLB
 * shootdown set and reports alive. It then waits, interrupts on, for commands:
 * smp_run makes every CPU run the same function at once.
 *
 * The phases (smp_tests), each on all CPUs at once:
 *   lock      the heap lock between two CPUs: held by one, the other cannot
 *             unlock it and waits to lock it; the waiter enters after unlock.
 *   mixed     every CPU loops kmalloc / kcalloc / kmemalign / krealloc / kfree
 *             with pattern checks, hands blocks to the next CPU through a ring
 *             (which checks, often kreallocs, and kfrees them: one CPU frees
 *             what another allocated), runs liballoc_check now and then, while
 *             every timer interrupt also allocates; the CPUs count how many of
 *             them are inside the loop at once (it must reach all of them).
 *   unmapped  a huge block read on every CPU (each TLB holds its pages) is
 *             freed on the BSP; every CPU's touch of it must fault: the
 *             shootdown reached them all. The same for chunks given back by
 *             liballoc_trim.
 *   exhaust   every CPU allocates until kmalloc returns NULL, then frees the
 *             next CPU's blocks; trim; every frame is back in the PMM; then the
 *             same again (recovery), which must get as far as the first time.
 * Then smp_offline: each AP flushes its cache (liballoc_thread_exit), leaves the
 * shootdown set and halts.
 */
#include "kernel.h"
#include "liballoc.h"

extern const char trampoline_start[], trampoline_end[], tr_cr3[], tr_stack[], tr_entry[], tr_cpu[];
extern char boot_pml4[];

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define STACK_BYTES 16384u
#define TIMEOUT_TICKS (30u * TIMER_HZ)  /* a CPU waiting this long at a barrier reports it */

static uint8_t ap_stacks[MAX_CPUS][STACK_BYTES] __attribute__((aligned(16)));
static uint32_t ap_timer_count;
static void (*volatile cmd_fn)(unsigned cpu);
static volatile uint32_t cmd_gen;

/* Wait with interrupts on until *flag is non-zero or `ticks` of this CPU's
 * timer passed; true if it was set. */
static bool wait_flag(volatile int *flag, uint64_t ticks)
{
	struct cpu *c = this_cpu();
	uint64_t t0 = c->ticks;
	while (!LOAD(*flag)) {
		if (c->ticks - t0 > ticks)
			return false;
		x86_64_pause();
	}
	return true;
}

/* ---- starting the application processors ----------------------------------------------- */

static void *tramp_field(const char *field)
{
	return (void *)(uintptr_t)(PHYS_MAP + TRAMPOLINE_PHYS + (uintptr_t)(field - trampoline_start));
}

_Noreturn void ap_main(unsigned index);

static _Noreturn void ap_loop(struct cpu *c)
{
	uint32_t seen = 0;
	for (;;) {
		uint32_t g;
		while ((g = LOAD(cmd_gen)) == seen)
			__asm__ volatile("sti; hlt" : : : "memory");  /* the timer wakes us within a tick */
		seen = g;
		cmd_fn(c->local.index);
		STORE(c->done, g);
	}
}

/* Entered from the trampoline on the boot page tables, interrupts off. */
_Noreturn void ap_main(unsigned index)
{
	struct cpu *c = &cpus[index];
	cpu_load_tables();
	x86_64_write_cr3(kernel_pml4);
	x86_64_cpu_set_local(&c->local);
	lapic_init_cpu(ap_timer_count);
	x86_64_tlb_cpu_online();
	STORE(c->alive, 1);
	__asm__ volatile("sti");
	ap_loop(c);
}

unsigned smp_start(const uint32_t *apic_ids, unsigned count, uint32_t bsp_id, uint32_t timer_count)
{
	ap_timer_count = timer_count;
	cpus[0].alive = 1;
	cpus[0].rng = 0x2545F4914F6CDD1Dull;
	__builtin_memcpy((void *)(uintptr_t)(PHYS_MAP + TRAMPOLINE_PHYS), trampoline_start,
			 (size_t)(trampoline_end - trampoline_start));
	*(uint64_t *)tramp_field(tr_cr3) = (uintptr_t)boot_pml4;  /* linked at its physical address */
	*(uint64_t *)tramp_field(tr_entry) = (uintptr_t)ap_main;
	for (unsigned i = 0; i < count; i++) {
		if (apic_ids[i] == bsp_id)
			continue;
		if (ncpus == MAX_CPUS) {
			kprintf("x86_64: more than %u processors: APIC id %u not started\n", MAX_CPUS, apic_ids[i]);
			continue;
		}
		unsigned idx = ncpus;
		struct cpu *c = &cpus[idx];
		c->local.index = idx;
		c->local.apic_id = apic_ids[i];
		c->rng = 0x2545F4914F6CDD1Dull * (idx + 1);
		/* ap_main is entered by a jump: leave the stack as a call would (RSP+8
		 * 16-byte aligned), with a zero return address. */
		uint64_t *top = (uint64_t *)(void *)(ap_stacks[idx] + STACK_BYTES) - 1;
		*top = 0;
		*(uint64_t *)tramp_field(tr_stack) = (uintptr_t)top;
		*(uint64_t *)tramp_field(tr_cpu) = idx;
		lapic_send_init_sipi(apic_ids[i], TRAMPOLINE_PHYS >> 12);
		if (!wait_flag(&c->alive, 2 * TIMER_HZ)) {
			kprintf("x86_64: the processor with APIC id %u did not start\n", apic_ids[i]);
			continue;
		}
		ncpus++;
		kprintf("x86_64: cpu %u (APIC id %u) started, in long mode on the kernel's page tables\n", idx, apic_ids[i]);
	}
	return ncpus;
}

/* ---- running on every CPU at once ------------------------------------------------------ */

void smp_run(void (*fn)(unsigned cpu))
{
	cmd_fn = fn;
	uint32_t g = __atomic_add_fetch(&cmd_gen, 1, __ATOMIC_RELEASE);
	fn(0);
	for (unsigned i = 1; i < ncpus; i++) {
		uint64_t t0 = cpus[0].ticks;
		while (LOAD(cpus[i].done) != g && !LOAD(cpus[i].offline)) {
			if (cpus[0].ticks - t0 > TIMEOUT_TICKS)
				kernel_fail("a CPU did not finish its command");
			x86_64_pause();
		}
	}
}

static volatile uint32_t barrier_count, barrier_sense;

void smp_barrier(void)
{
	struct cpu *c = this_cpu();
	uint32_t sense = LOAD(barrier_sense);
	if (__atomic_add_fetch(&barrier_count, 1, __ATOMIC_ACQ_REL) == ncpus) {
		STORE(barrier_count, 0);
		STORE(barrier_sense, sense + 1);
		return;
	}
	uint64_t t0 = c->ticks;
	while (LOAD(barrier_sense) == sense) {
		x86_64_tlb_poll();  /* interrupts are on here; polling costs one load */
		if (c->ticks - t0 > TIMEOUT_TICKS)
			kernel_fail("a barrier waited 30 s: a CPU is stuck");
		x86_64_pause();
	}
}

/* ---- blocks with sparse patterns ---------------------------------------------------------- */

/* The first and last 128 bytes and every 509th byte in between: enough to catch
 * a block that overlaps another or moved without its content, at a cost that
 * keeps thousands of operations per CPU quick under TCG. */
#define EDGE 128u
#define STRIDE 509u

/* The sampled byte after byte i (itself sampled) of an n-byte block, or n. */
static size_t next_sample(size_t i, size_t n)
{
	if (i + 1 < EDGE || i + 1 + EDGE >= n)
		return i + 1;
	size_t j = (i / STRIDE + 1) * STRIDE, tail = n - EDGE;
	return j < tail ? j : tail;
}

static void sparse_fill(const struct pattern_block *b)
{
	for (size_t i = 0; i < b->n; i = next_sample(i, b->n))
		b->p[i] = pattern_byte(b->seed, i);
}

/* Are the sampled bytes below `upto` of b (filled with b->n bytes) intact? */
static bool sparse_intact(const struct pattern_block *b, size_t upto)
{
	for (size_t i = 0; i < upto && i < b->n; i = next_sample(i, b->n))
		if (b->p[i] != pattern_byte(b->seed, i))
			return false;
	return true;
}

static size_t random_size(uint64_t *r)
{
	/* Mostly small; 1 in 200 up to 1.5 times the huge threshold, so a third of
	 * those get their own page run, whose kfree unmaps and shoots down. */
	unsigned k = (unsigned)pattern_below(r, 1000);
	return k < 750 ? pattern_below(r, 512) : k < 995 ? pattern_below(r, 16384)
							 : pattern_below(r, 3 * LIBALLOC_HUGE_THRESHOLD / 2) + 1;
}

/* ---- phase: the lock between two CPUs ------------------------------------------------------ */

static volatile int lock_stage;

static void lock_phase(unsigned cpu)
{
	const struct x86_64_spinlock *l = x86_64_heap_lock();
	if (cpu == 0 && ncpus > 1) {
		liballoc_lock();
		uint64_t contended = l->contended;
		STORE(lock_stage, 1);
		while (LOAD(lock_stage) != 2)
			x86_64_pause();
		/* cpu 1 is spinning for the lock now (interrupts off there too): it
		 * must not get in while we hold it. */
		pit_wait_us(20000);
		check(LOAD(lock_stage) == 2 && x86_64_heap_lock_depth() == 1, "lock: another CPU waits while one holds the lock");
		liballoc_unlock();
		while (LOAD(lock_stage) != 3)
			x86_64_pause();
		check(l->contended > contended, "lock: the wait is counted as contention");
	} else if (cpu == 1) {
		while (LOAD(lock_stage) != 1)
			x86_64_pause();
		check(liballoc_unlock() != 0 && LOAD(l->owner) == 1, "lock: a CPU cannot unlock the lock another CPU holds");
		STORE(lock_stage, 2);
		liballoc_lock();
		check(x86_64_heap_lock_depth() == 1, "lock: the waiting CPU gets the lock after the holder's unlock");
		STORE(lock_stage, 3);
		liballoc_unlock();
	}
	smp_barrier();
}

/* ---- phase: mixed operations on every CPU at once ------------------------------------------ */

#define SLOTS 64u
#define RING 32u

struct ring {
	struct pattern_block b[RING];
	uint32_t head, tail;    /* producer: the CPU before; consumer: the owner */
} __attribute__((aligned(64)));

static struct pattern_block slots[MAX_CPUS][SLOTS];
static struct ring rings[MAX_CPUS];  /* rings[i]: blocks handed to CPU i */
static volatile uint32_t active, max_active;
static unsigned mixed_ops;

static void new_seed(struct pattern_block *b, uint64_t *r) { b->seed = (unsigned char)pattern_next(r); }

static bool receive(struct cpu *c, struct ring *in)
{
	uint32_t t = in->tail;
	if (t == LOAD(in->head))
		return false;
	struct pattern_block b = in->b[t % RING];
	STORE(in->tail, t + 1);
	c->received++;
	check(sparse_intact(&b, b.n), "a block handed over by another CPU is intact");
	if (pattern_below(&c->rng, 2)) {
		size_t n = random_size(&c->rng) + 1, keep = n < b.n ? n : b.n;
		unsigned char *q = krealloc(b.p, n);
		if (check(q != NULL, "krealloc of a block another CPU allocated")) {
			b.p = q;
			check(sparse_intact(&b, keep), "krealloc of another CPU's block keeps its content");
			c->foreign_reallocs++;
		}
	}
	kfree(b.p);
	c->frees++;
	return true;
}

static void send(struct cpu *c, struct ring *out, struct pattern_block *s)
{
	uint32_t h = out->head;
	if (!s->p || h - LOAD(out->tail) >= RING)
		return;
	out->b[h % RING] = *s;
	STORE(out->head, h + 1);
	s->p = NULL;
	c->sent++;
}

static void slot_op(struct cpu *c, struct pattern_block *s)
{
	uint64_t *r = &c->rng;
	unsigned kind = (unsigned)pattern_below(r, 10);
	if (s->p && kind < 4) {
		check(sparse_intact(s, s->n), "pattern intact before kfree");
		kfree(s->p);
		s->p = NULL;
		c->frees++;
	} else if (s->p && kind < 7) {
		size_t n = random_size(r) + 1, keep = n < s->n ? n : s->n;
		unsigned char *q = krealloc(s->p, n);
		if (check(q != NULL && ((uintptr_t)q & 15) == 0, "krealloc")) {
			s->p = q;
			check(sparse_intact(s, keep), "krealloc keeps the content");
			s->n = n;
			new_seed(s, r);
			sparse_fill(s);
		}
		c->reallocs++;
	} else if (!s->p) {
		size_t n = random_size(r), align = 16;
		unsigned char *p;
		if (kind < 5) {
			p = kmalloc(n);
		} else if (kind < 7) {
			p = kcalloc(1, n);
			for (size_t i = 0; p && i < n; i += 61)
				if (p[i] && !check(false, "kcalloc returns zeroed memory"))
					break;
		} else {
			align = (size_t)1 << (4 + pattern_below(r, 9));
			p = kmemalign(align, n);
		}
		if (check(p != NULL, "allocation in the concurrent phase") &&
		    check(((uintptr_t)p & (align - 1)) == 0 && kmalloc_usable_size(p) >= n, "alignment and usable size")) {
			s->p = p;
			s->n = n;
			new_seed(s, r);
			sparse_fill(s);
			c->allocs++;
		}
	}
}

/* `now` CPUs are inside the loop (seen on entry and before each operation):
 * the most ever seen at once must be all of them. */
static void note_active(uint32_t now)
{
	for (uint32_t m = LOAD(max_active); now > m;)
		if (__atomic_compare_exchange_n(&max_active, &m, now, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
}

static void mixed(unsigned cpu)
{
	struct cpu *c = &cpus[cpu];
	struct ring *in = &rings[cpu], *out = &rings[(cpu + 1) % ncpus];
	smp_barrier();
	c->loop_start = cpus[0].ticks;
	note_active(__atomic_add_fetch(&active, 1, __ATOMIC_ACQ_REL));
	/* At least mixed_ops operations, and on until every CPU has been seen inside at
	 * once: a host that schedules one virtual CPU late (a loaded CI machine) must not
	 * let the others finish before it starts. TIMEOUT_TICKS bounds the wait; then the
	 * check after the phase fails. */
	for (unsigned op = 0; op < mixed_ops || (LOAD(max_active) < ncpus &&
						 cpus[0].ticks - c->loop_start < TIMEOUT_TICKS); op++) {
		note_active(LOAD(active));
		c->ops++;
		unsigned k = (unsigned)pattern_below(&c->rng, 100);
		if (k < 12)
			receive(c, in);
		else if (k < 24)
			send(c, out, &slots[cpu][pattern_below(&c->rng, SLOTS)]);
		else
			slot_op(c, &slots[cpu][pattern_below(&c->rng, SLOTS)]);
		if (op % 256 == 255) {
			check(liballoc_check() == LIBALLOC_OK, "liballoc_check during the concurrent phase");
			c->checks_run++;
		}
	}
	__atomic_sub_fetch(&active, 1, __ATOMIC_ACQ_REL);
	c->loop_end = cpus[0].ticks;
	smp_barrier();  /* nobody sends any more: drain what was handed to us */
	while (receive(c, in))
		;
	for (unsigned i = 0; i < SLOTS; i++)
		if (slots[cpu][i].p) {
			check(sparse_intact(&slots[cpu][i], slots[cpu][i].n), "pattern intact at the end");
			kfree(slots[cpu][i].p);
			slots[cpu][i].p = NULL;
			c->frees++;
		}
	smp_barrier();
}

/* ---- phase: exhaustion on every CPU at once ------------------------------------------------ */

/* Each CPU keeps its blocks on a list threaded through the blocks themselves,
 * so the number it can hold is not bounded by an array. */
struct ex_block {
	struct ex_block *next;
	size_t n;
	unsigned char seed;
};
#define EX_HDR 32u

static struct ex_block *ex_list[MAX_CPUS];
static size_t ex_bytes[MAX_CPUS];

static struct pattern_block ex_body(struct ex_block *b)
{
	struct pattern_block p = {(unsigned char *)b + EX_HDR, b->n - EX_HDR, b->seed};
	return p;
}

static void ex_alloc(unsigned cpu)
{
	struct cpu *c = &cpus[cpu];
	ex_list[cpu] = NULL;
	ex_bytes[cpu] = 0;
	smp_barrier();
	for (;;) {
		size_t n = 16384 + pattern_below(&c->rng, 114688);
		struct ex_block *b = kmalloc(n);
		if (!b) {
			c->null_seen++;
			break;
		}
		b->next = ex_list[cpu];
		b->n = n;
		b->seed = (unsigned char)pattern_next(&c->rng);
		struct pattern_block body = ex_body(b);
		sparse_fill(&body);
		ex_list[cpu] = b;
		ex_bytes[cpu] += n;
		c->allocs++;
	}
	smp_barrier();
}

/* Free the blocks of CPU `owner`, checking each. */
static void ex_free(unsigned cpu, unsigned owner)
{
	struct cpu *c = &cpus[cpu];
	for (struct ex_block *b = ex_list[owner], *next; b; b = next) {
		next = b->next;
		struct pattern_block body = ex_body(b);
		check(sparse_intact(&body, body.n), "pattern intact at exhaustion");
		kfree(b);
		c->frees++;
	}
	ex_list[owner] = NULL;
}

/* Each CPU's cache keeps blocks it freed (pinning their chunks): liballoc_trim gives
 * the calling CPU's back, so every CPU trims after freeing. */
static void ex_free_next(unsigned cpu)
{
	ex_free(cpu, (cpu + 1) % ncpus);
	liballoc_trim();
	smp_barrier();
}

static void ex_free_own(unsigned cpu)
{
	ex_free(cpu, cpu);
	liballoc_trim();
	smp_barrier();
}

static size_t ex_total(void)
{
	size_t t = 0;
	for (unsigned i = 0; i < ncpus; i++)
		t += ex_bytes[i];
	return t;
}

/* After every block was freed: trim, then nothing may be left but the page map. */
static void all_back(const char *when)
{
	struct liballoc_stats st;
	liballoc_trim();
	liballoc_stats(&st);
	size_t pages = kernel_port_pages();
	kprintf("x86_64: %s: heap holds %lu pages (page map %lu bytes), PMM %lu frames free\n", when, pages, st.metadata,
		kernel_pmm_free());
	check(st.in_use == 0 && st.live_blocks == 0, "nothing live after every CPU freed its blocks");
	check(pages * X86_64_PAGE_SIZE == st.metadata, "after trim the heap holds nothing but its page map");
	check(liballoc_check() == LIBALLOC_OK, "liballoc_check after the concurrent exhaustion");
}

/* ---- phase: unmapped on every CPU -------------------------------------------------------------- */

static unsigned char *volatile shared_a, *volatile shared_b;
static volatile size_t shared_n;

/* Read every page of [p, p + n) on this CPU: its TLB now holds them. */
static void read_pages(const volatile unsigned char *p, size_t n, unsigned char expect)
{
	bool same = true;
	for (size_t off = 0; off < n; off += X86_64_PAGE_SIZE)
		same = same && p[off] == expect;
	check(same, "every CPU reads the block before it is freed");
}

/* Touch a few pages of [p, p + n) on this CPU: each must fault. */
static void touch_pages(unsigned char *p, size_t n, const char *what)
{
	size_t last = (n - 1) & ~(size_t)(X86_64_PAGE_SIZE - 1);
	check(cpu_touch_faults(p) && cpu_touch_faults(p + last / 2 / X86_64_PAGE_SIZE * X86_64_PAGE_SIZE) &&
		      cpu_touch_faults(p + last),
	      what);
}

static void unmapped(unsigned cpu)
{
	static size_t base;
	liballoc_trim();  /* this CPU's cached blocks would pin the chunks the trim test expects back */
	smp_barrier();
	if (cpu == 0) {
		shared_n = 2 * LIBALLOC_HUGE_THRESHOLD;
		shared_a = kmalloc(shared_n);
		if (check(shared_a != NULL, "a huge block for the shootdown test"))
			for (size_t off = 0; off < shared_n; off += X86_64_PAGE_SIZE)
				shared_a[off] = 0x5A;
	}
	smp_barrier();
	if (shared_a)
		read_pages(shared_a, shared_n, 0x5A);
	smp_barrier();
	if (cpu == 0 && shared_a) {
		size_t before = x86_64_heap_pages();
		kfree(shared_a);
		check(x86_64_heap_pages() < before, "a huge block's pages go back on kfree");
	}
	smp_barrier();
	if (shared_a)
		touch_pages(shared_a, shared_n, "a freed huge block's pages fault on every CPU (shootdown)");
	smp_barrier();

	if (cpu == 0) {
		liballoc_trim();
		base = x86_64_heap_pages();
		shared_n = LIBALLOC_HUGE_THRESHOLD / 2;
		shared_a = kmalloc(shared_n);
		shared_b = kmalloc(shared_n);
		if (check(shared_a && shared_b, "two chunk-sized blocks for the trim test")) {
			__builtin_memset(shared_a, 0xA5, shared_n);
			__builtin_memset(shared_b, 0xA5, shared_n);
		}
	}
	smp_barrier();
	if (shared_a && shared_b) {
		read_pages(shared_a, shared_n, 0xA5);
		read_pages(shared_b, shared_n, 0xA5);
	}
	smp_barrier();
	if (cpu == 0 && shared_a && shared_b) {
		kfree(shared_a);
		kfree(shared_b);
		check(liballoc_trim() > 0, "trim returns the kept chunk");
		check(x86_64_heap_pages() == base, "trim gave every chunk page back");
	}
	smp_barrier();
	if (shared_a && shared_b) {
		touch_pages(shared_a, shared_n, "a trimmed chunk's pages fault on every CPU");
		touch_pages(shared_b, shared_n, "a released chunk's pages fault on every CPU");
	}
	smp_barrier();
}

/* ---- the phases ---------------------------------------------------------------------------------- */

/* Print the heap lock's acquisitions (and contended ones) and the shootdowns
 * since the last call (NULL: only start counting). */
static void phase_costs(const char *phase)
{
	static uint64_t acquired, contended, requests, ticks;
	const struct x86_64_spinlock *l = x86_64_heap_lock();
	struct x86_64_tlb_stats t;
	x86_64_tlb_get_stats(&t);
	if (phase)
		kprintf("x86_64:   %s: heap lock taken %llu times (%llu waited), %llu shootdowns, %llu ms on cpu 0's timer\n",
			phase, (unsigned long long)(l->acquired - acquired), (unsigned long long)(l->contended - contended),
			(unsigned long long)(t.requests - requests),
			(unsigned long long)((cpus[0].ticks - ticks) * 1000 / TIMER_HZ));
	acquired = l->acquired;
	contended = l->contended;
	requests = t.requests;
	ticks = cpus[0].ticks;
}

static void irq_allocs(bool on)
{
	irq_alloc_on = on;
	if (on)
		return;
	/* Each timer tick frees its CPU's block: wait until all are gone. */
	for (unsigned i = 0; i < ncpus; i++) {
		uint64_t t0 = cpus[0].ticks;
		while (LOAD(cpus[i].irq_block.p) != NULL) {
			if (cpus[0].ticks - t0 > TIMEOUT_TICKS)
				kernel_fail("a timer interrupt kept its block");
			x86_64_pause();
		}
	}
}

void smp_tests(uint64_t seed, unsigned ops)
{
	struct liballoc_stats st;
	struct x86_64_tlb_stats tlb0;
	const struct x86_64_spinlock *l = x86_64_heap_lock();
	for (unsigned i = 0; i < ncpus; i++)
		cpus[i].rng = (seed ? seed : 1) * 0x9E3779B97F4A7C15ull + i + 1;
	x86_64_tlb_get_stats(&tlb0);
	uint64_t acquired0 = l->acquired, contended0 = l->contended;

	kprintf("x86_64: concurrent phase: lock hand-over between cpu 0 and cpu 1\n");
	phase_costs(NULL);
	smp_run(lock_phase);
	phase_costs("lock");

	kprintf("x86_64: concurrent phase: %u CPUs x %u kmalloc/krealloc/kfree operations, blocks handed to the next CPU, "
		"timer interrupts allocating\n",
		ncpus, ops);
	mixed_ops = ops;
	irq_allocs(true);
	smp_run(mixed);
	phase_costs("mixed");
	irq_allocs(false);
	check(LOAD(max_active) == ncpus, "every CPU was inside the concurrent loop at the same time");
	check(liballoc_check() == LIBALLOC_OK, "liballoc_check after the concurrent phase");
	liballoc_stats(&st);
	check(st.in_use == 0 && st.live_blocks == 0, "nothing live after the concurrent phase");

	kprintf("x86_64: concurrent phase: freed and trimmed pages must fault on every CPU\n");
	smp_run(unmapped);
	phase_costs("unmapped");

	kprintf("x86_64: concurrent phase: every CPU allocates until kmalloc returns NULL\n");
	liballoc_stats(&st);
	size_t failed = st.failed_allocs;
	smp_run(ex_alloc);
	phase_costs("exhaust");
	size_t first = ex_total();
	liballoc_stats(&st);
	kprintf("x86_64: exhausted: %lu bytes in blocks, PMM %lu frames free, %lu failed kmalloc\n", first, kernel_pmm_free(),
		st.failed_allocs - failed);
	check(st.failed_allocs - failed >= ncpus, "every CPU's exhaustion ended in NULL");
	check(kernel_pmm_free() < 64, "the PMM ran dry");
	check(liballoc_check() == LIBALLOC_OK, "liballoc_check at exhaustion");
	smp_run(ex_free_next);
	phase_costs("free next");
	all_back("after exhaustion, every CPU freed the next CPU's blocks");
	smp_run(ex_alloc);
	phase_costs("recover");
	size_t second = ex_total();
	kprintf("x86_64: recovery: %lu bytes in blocks the second time (%lu the first)\n", second, first);
	check(second * 10 >= first * 9, "the heap recovers after exhaustion on every CPU");
	smp_run(ex_free_own);
	phase_costs("free own");
	all_back("after recovery");


	struct x86_64_tlb_stats tlb;
	x86_64_tlb_get_stats(&tlb);
	for (unsigned i = 0; i < ncpus; i++) {
		const struct cpu *c = &cpus[i];
		kprintf("x86_64: cpu %u (APIC %u): %llu ops (ticks %llu..%llu): %llu alloc, %llu free, %llu realloc; handed "
			"%llu blocks on, freed %llu from the previous CPU (%llu kreallocated first); %llu allocations in timer "
			"interrupts (%llu ticks); shootdowns served: %llu by IPI, %llu while spinning; %llu expected page faults\n",
			i, c->local.apic_id, (unsigned long long)c->ops, (unsigned long long)c->loop_start,
			(unsigned long long)c->loop_end, (unsigned long long)c->allocs,
			(unsigned long long)c->frees, (unsigned long long)c->reallocs, (unsigned long long)c->sent,
			(unsigned long long)c->received, (unsigned long long)c->foreign_reallocs,
			(unsigned long long)c->irq_allocs, (unsigned long long)c->ticks,
			(unsigned long long)(tlb.by_ipi[i] - tlb0.by_ipi[i]), (unsigned long long)(tlb.by_poll[i] - tlb0.by_poll[i]),
			(unsigned long long)c->expected_faults);
		check(c->ops >= ops && c->allocs > 0 && c->frees > 0, "every CPU ran its operations");  /* more: it waited for the others */
		check(ncpus == 1 || (c->sent > 0 && c->received > 0), "every CPU handed blocks on and freed others' blocks");
		check(c->irq_allocs > 0, "every CPU's timer interrupt allocated");
	}
	kprintf("x86_64: at most %u of %u CPUs inside the loop at once; heap lock: %llu acquisitions, %llu contended; "
		"%llu shootdowns of %llu pages\n",
		LOAD(max_active), ncpus, (unsigned long long)(l->acquired - acquired0),
		(unsigned long long)(l->contended - contended0), (unsigned long long)(tlb.requests - tlb0.requests),
		(unsigned long long)(tlb.pages - tlb0.pages));
	check(ncpus == 1 || tlb.requests > tlb0.requests, "the heap shot unmapped pages down on the other CPUs");
}

/* ---- going offline ------------------------------------------------------------------------------- */

static void go_offline(unsigned cpu)
{
	if (cpu == 0)
		return;
	struct cpu *c = &cpus[cpu];
	/* Give this CPU's cached blocks back (the per-CPU cache layer), then leave
	 * the shootdown set: from here on it touches no heap memory. */
	liballoc_thread_exit();
	x86_64_irq_save();
	lapic_timer_stop();
	x86_64_tlb_cpu_offline();
	STORE(c->offline, 1);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void smp_offline(void)
{
	smp_run(go_offline);
	struct x86_64_tlb_stats tlb;
	x86_64_tlb_get_stats(&tlb);
	check(tlb.online == 1u, "every AP left the shootdown set; only the BSP is online");
	kprintf("x86_64: %u application processors flushed their caches and halted\n", ncpus - 1);
}
