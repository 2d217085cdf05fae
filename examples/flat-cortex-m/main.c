/* main.c — Cortex-M3 firmware: proves the flat port's PRIMASK lock with real interrupts, then runs the shared allocator self-test. */
/* SPDX-License-Identifier: MIT */
/*
 * Phases, in order; the first failure prints "liballoc-selftest: FAIL <reason>"
 * and exits with status 1, a fault exits with status 3 (startup.c):
 *   1. lock: PRIMASK is set by liballoc_lock, kept by nested locks and restored
 *      by the outermost unlock; a PendSV pended inside the lock runs only at the
 *      outermost unlock, and allocates from the handler.
 *   2. interrupts: a SysTick handler allocates, checks and frees blocks at 5 kHz
 *      while the main loop does random malloc/realloc/free/memalign with pattern
 *      checks and liballoc_check; every handler run asserts that it did not
 *      interrupt the allocator (lock depth 0).
 *   3. the shared self-test (examples/common/selftest.c), which ends the output
 *      with its PASS/FAIL line; status 0 on PASS.
 * Semihosting command line (QEMU -append): "hardfault" executes an undefined
 * instruction instead (tests the fault handler); "seed=<hex>" reseeds phases 2-3.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "flat_port.h"
#include "liballoc.h"
#include "pattern.h"
#include "selftest.h"

#define IRQ_TICKS 1000        /* SysTick handler runs in phase 2 */
#define TICK_CYCLES 5000      /* 5 kHz at the board's 25 MHz */
#define MAIN_OPS_CAP 4000000u /* phase 2 gives up if SysTick never fires */

static const char *failure;
static unsigned checks;

static bool check(bool ok, const char *what)
{
	checks++;
	if (!ok && !failure)
		failure = what;
	return ok;
}

void fw_on_error(int error, void *ptr)
{
	put("liballoc: ");
	put(liballoc_strerror(error));
	put(" at ");
	put_hex((uint32_t)(uintptr_t)ptr);
	put("\n");
}

/* ---- phase 1: the lock ----------------------------------------------------------- */

static volatile unsigned pendsv_runs, pendsv_depth;
static volatile bool pendsv_alloc_ok;

void pendsv_handler(void)
{
	pendsv_depth = liballoc_flat_lock_depth();
	struct pattern_block b = {liballoc_malloc(100), 100, 0x5a};
	pendsv_alloc_ok = b.p != NULL;
	if (b.p) {
		pattern_block_fill(&b);
		pendsv_alloc_ok = pattern_block_intact(&b, b.n);
		liballoc_free(b.p);
	}
	pendsv_runs++;
}

static void pend_pendsv(void)
{
	SCB_ICSR = ICSR_PENDSVSET;
	__asm__ volatile("dsb\n\tisb" ::: "memory");
}

static void isb(void) { __asm__ volatile("isb" ::: "memory"); }

static void lock_phase(void)
{
	check(get_primask() == 0, "interrupts enabled at start");
	check(liballoc_lock() == 0 && get_primask() == 1, "liballoc_lock masks interrupts (PRIMASK=1)");
	check(liballoc_lock() == 0 && liballoc_flat_lock_depth() == 2, "nested liballoc_lock");
	pend_pendsv();
	check(liballoc_unlock() == 0 && get_primask() == 1, "inner unlock keeps interrupts masked");
	isb();
	check(pendsv_runs == 0, "a pending interrupt waits while the lock is held");
	check(liballoc_unlock() == 0, "outer unlock");
	isb();
	check(get_primask() == 0, "outer unlock restores PRIMASK=0");
	check(pendsv_runs == 1, "the pending interrupt runs at the outermost unlock");
	check(pendsv_alloc_ok && pendsv_depth == 0, "malloc/free from an interrupt handler");

	/* A caller that masked interrupts itself keeps them masked. */
	__asm__ volatile("cpsid i" ::: "memory");
	check(liballoc_lock() == 0 && liballoc_unlock() == 0 && get_primask() == 1,
	      "unlock keeps interrupts masked when the caller had masked them");
	pend_pendsv();
	check(pendsv_runs == 1, "the caller's mask still holds the interrupt");
	__asm__ volatile("cpsie i" ::: "memory");
	isb();
	check(pendsv_runs == 2, "the interrupt runs when the caller unmasks");
	check(liballoc_unlock() != 0 && get_primask() == 0, "an unbalanced unlock is refused and changes nothing");
	check(liballoc_flat_lock_depth() == 0, "lock depth back to 0");
}

/* ---- phase 2: allocation from interrupts ------------------------------------------- */

#define RING 16
#define SLOTS 64

static struct pattern_block ring[RING];
static volatile unsigned ticks;
static const char *volatile isr_failure;
static uint64_t isr_rng = 0x9e3779b9u;

void systick_handler(void)
{
	if (liballoc_flat_lock_depth() != 0 && !isr_failure)
		isr_failure = "an interrupt ran inside the allocator's critical section";
	struct pattern_block *b = &ring[ticks % RING];
	if (b->p) {
		if (!pattern_block_intact(b, b->n) && !isr_failure)
			isr_failure = "pattern of an interrupt handler's block intact";
		liballoc_free(b->p);
		b->p = NULL;
	}
	uint32_t r = (uint32_t)pattern_next(&isr_rng);
	b->n = 1 + (r % 8 == 0 ? r % 8192 : r % 700);
	b->seed = (unsigned char)(r >> 24);
	b->p = liballoc_malloc(b->n);
	if (b->p)
		pattern_block_fill(b);
	else if (!isr_failure)
		isr_failure = "malloc in an interrupt handler";
	ticks++;
}

static void irq_phase(uint32_t seed)
{
	static struct pattern_block slot[SLOTS];
	uint64_t rng = seed | 1;
	unsigned ops = 0;
	SYST_RVR = TICK_CYCLES - 1;
	SYST_CVR = 0;
	SYST_CSR = 7;  /* enable, interrupt, processor clock */
	while (ticks < IRQ_TICKS && !isr_failure && !failure) {
		if (!check(++ops < MAIN_OPS_CAP, "SysTick interrupts arrive"))
			break;
		uint32_t r = (uint32_t)pattern_next(&rng);
		struct pattern_block *s = &slot[r % SLOTS];
		size_t n = 1 + ((r >> 8) % 16 == 0 ? (r >> 12) % 16384 : (r >> 12) % 600);
		if (s->p && (r >> 6) % 4 == 0) {
			check(pattern_block_intact(s, s->n), "pattern intact before free");
			liballoc_free(s->p);
			s->p = NULL;
		} else if (s->p) {
			unsigned char *q = liballoc_realloc(s->p, n);
			if (check(q != NULL, "realloc with interrupts allocating")) {
				s->p = q;
				check(pattern_block_intact(s, n < s->n ? n : s->n), "realloc keeps content");
				s->n = n;
				pattern_block_fill(s);
			}
		} else {
			size_t align = (size_t)16 << ((r >> 4) % 8);
			s->p = (r >> 7) % 2 ? liballoc_malloc(n) : liballoc_memalign(align, n);
			if (check(s->p != NULL, "malloc with interrupts allocating")) {
				check((r >> 7) % 2 || ((uintptr_t)s->p & (align - 1)) == 0, "memalign alignment");
				s->n = n;
				s->seed = (unsigned char)r;
				pattern_block_fill(s);
			}
		}
		if (ops % 256 == 0)
			check(liballoc_check() == LIBALLOC_OK, "liballoc_check with interrupts allocating");
	}
	SYST_CSR = 0;
	SCB_ICSR = ICSR_PENDSTCLR;
	isb();
	if (isr_failure)
		check(false, isr_failure);
	for (unsigned i = 0; i < RING; i++)
		if (ring[i].p) {
			check(pattern_block_intact(&ring[i], ring[i].n), "interrupt handler's block intact at the end");
			liballoc_free(ring[i].p);
			ring[i].p = NULL;
		}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slot[i].p) {
			check(pattern_block_intact(&slot[i], slot[i].n), "pattern intact at the end");
			liballoc_free(slot[i].p);
			slot[i].p = NULL;
		}
	check(liballoc_check() == LIBALLOC_OK, "liballoc_check after the interrupt phase");
	liballoc_trim();
	struct liballoc_stats st;
	liballoc_stats(&st);
	check(st.live_blocks == 0 && st.errors == 0, "nothing live and no misuse after the interrupt phase");
	put("flat-cortex-m: interrupt phase: ");
	put_dec(ticks);
	put(" SysTick handlers allocated while the main loop did ");
	put_dec(ops);
	put(" operations\n");
}

/* ---- command line ---------------------------------------------------------------- */

static bool word(const char *s, const char *w, const char **rest)
{
	while (*w && *s == *w)
		s++, w++;
	*rest = s;
	return *w == 0;
}

static void parse(const char *s, bool *fault, uint32_t *seed)
{
	while (*s) {
		const char *rest;
		if (word(s, "hardfault", &rest) && (*rest == 0 || *rest == ' '))
			*fault = true;
		if (word(s, "seed=", &rest))
			for (*seed = 0; (*rest >= '0' && *rest <= '9') || (*rest >= 'a' && *rest <= 'f'); rest++)
				*seed = *seed << 4 | (uint32_t)(*rest <= '9' ? *rest - '0' : *rest - 'a' + 10);
		while (*s && *s != ' ')
			s++;
		while (*s == ' ')
			s++;
	}
}

__attribute__((noinline, noreturn)) static void provoke_fault(void)
{
	extern const char fw_fault_insn[];
	put("flat-cortex-m: fault test: executing udf at pc=");
	put_hex((uint32_t)(uintptr_t)fw_fault_insn & ~1u);
	put("\n");
	__asm__ volatile(".global fw_fault_insn\nfw_fault_insn:\n\tudf #0");
	__builtin_unreachable();
}

int fw_main(void)
{
	static char cmdline[256];
	bool fault = false;
	uint32_t seed = 0x2545f491u;
	uart_init();
	put("flat-cortex-m: liballoc on a Cortex-M3 (QEMU mps2-an385), page size ");
	put_dec(LIBALLOC_PAGE_SIZE);
	put(" bytes\n");
	if (semihost_cmdline(cmdline, sizeof cmdline))
		parse(cmdline, &fault, &seed);
	if (fault)
		provoke_fault();

#if LIBALLOC_SMALL
	/* The small profile: the default heap is the region itself, no pages, no bitmap. */
	extern char __heap_start[], __heap_end[];
	size_t heap_bytes = (size_t)(__heap_end - __heap_start);
	check(liballoc_init_region(__heap_start, heap_bytes) == 0, "the default heap in __heap_start..__heap_end");
	check(liballoc_init_region(__heap_start, heap_bytes) != 0, "the default heap is set up only once");
	lock_phase();
	put("flat-cortex-m: small profile, the default heap in the region ");
	put_hex((uint32_t)(uintptr_t)__heap_start);
	put("..");
	put_hex((uint32_t)(uintptr_t)__heap_end);
	put("; lock phase: ");
	put_dec(checks);
	put(" checks\n");
#else
	lock_phase();
	struct liballoc_flat_stats fs;
	liballoc_flat_stats(&fs);
	size_t heap_bytes = fs.pages * LIBALLOC_PAGE_SIZE;
	put("flat-cortex-m: heap ");
	put_hex((uint32_t)fs.base);
	put("..");
	put_hex((uint32_t)(fs.base + fs.pages * LIBALLOC_PAGE_SIZE));
	put(": ");
	put_dec(fs.pages);
	put(" pages, bitmap ");
	put_dec(fs.map_bytes);
	put(" bytes carved from __heap_start; lock phase: ");
	put_dec(checks);
	put(" checks\n");
	check(fs.pages > 0, "the port initialised itself from __heap_start/__heap_end");
#endif
	if (!failure)
		irq_phase(seed);
	if (failure) {
		put("liballoc-selftest: FAIL ");
		put(failure);
		put("\n");
		return EXIT_FAIL;
	}

	put("flat-cortex-m: seed=");
	put_hex(seed);
	put("\n");
	struct selftest_env env = {
		.write = put,
		.heap_bytes = heap_bytes,
		.port_pages = LIBALLOC_SMALL ? NULL : liballoc_flat_pages_given,
		.touch_faults = NULL,  /* no MMU: freed pages stay readable */
		.seed = seed,
		.ops = 4000,
	};
	return selftest_run(&env) ? EXIT_PASS : EXIT_FAIL;
}
