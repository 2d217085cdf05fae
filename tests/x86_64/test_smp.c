/* test_smp.c — host tests of the x86_64 port's ticket spinlock (nesting, interrupt flag, FIFO, mutual exclusion) and TLB shootdown (IPI, polling while spinning), with threads as CPUs. */
/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "x86_64_cpu.h"
#include "x86_64_spinlock.h"
#include "x86_64_tlb.h"

/* ---- simulated CPUs: one thread each, with its own index, RFLAGS and TLB log --- */

static __thread unsigned sim_cpu;
static __thread unsigned long sim_rflags = 0x2 | X86_64_RFLAGS_IF;

#define LOG 256
struct sim_tlb {
	uintptr_t invalidated[LOG];
	unsigned n, full_flushes;
	volatile int ipi;       /* an IPI is pending (delivered when IF is on) */
};
static struct sim_tlb tlbs[X86_64_MAX_CPUS];
static uint32_t ipis_sent;  /* the targets of every send_ipi, OR-ed */

unsigned long x86_64_rflags(void) { return sim_rflags; }

unsigned long x86_64_irq_save(void)
{
	unsigned long f = sim_rflags;
	sim_rflags &= ~X86_64_RFLAGS_IF;
	return f;
}

void x86_64_irq_restore(unsigned long rflags) { sim_rflags = rflags; }
unsigned x86_64_cpu_index(void) { return sim_cpu; }

void x86_64_invlpg(uintptr_t va)
{
	struct sim_tlb *t = &tlbs[sim_cpu];
	if (t->n < LOG)
		t->invalidated[t->n++] = va;
}

void x86_64_flush_tlb(void) { tlbs[sim_cpu].full_flushes++; }
void x86_64_pause(void) { sched_yield(); }
uint64_t x86_64_rdtsc(void) { return 0; }

static void send_ipi(void *ctx, uint32_t cpus)
{
	assert_ptr_equal(ctx, tlbs);
	assert_false(sim_rflags & X86_64_RFLAGS_IF);  /* the initiator has interrupts off */
	__atomic_fetch_or(&ipis_sent, cpus, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < X86_64_MAX_CPUS; i++)
		if (cpus >> i & 1)
			__atomic_store_n(&tlbs[i].ipi, 1, __ATOMIC_RELEASE);
}

/* What an interrupt-enabled CPU does between instructions: take a pending IPI. */
static void deliver_ipi(void)
{
	if ((sim_rflags & X86_64_RFLAGS_IF) && __atomic_exchange_n(&tlbs[sim_cpu].ipi, 0, __ATOMIC_ACQ_REL)) {
		unsigned long f = x86_64_irq_save();  /* an interrupt gate clears IF */
		x86_64_tlb_ipi();
		x86_64_irq_restore(f);
	}
}

static int reset(void **state)
{
	(void)state;
	static const struct x86_64_tlb_ops ops = {send_ipi, tlbs};
	memset(tlbs, 0, sizeof tlbs);
	ipis_sent = 0;
	sim_cpu = 0;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	x86_64_tlb_init(&ops);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spin (yielding) until *v == want, failing the test after 10 s: a deadlock in
 * the code under test shows as a failure, not a hung test. */
static void await(volatile uint32_t *v, uint32_t want, const char *what)
{
	double t0 = now();
	while (__atomic_load_n(v, __ATOMIC_ACQUIRE) != want) {
		if (now() - t0 > 10)
			fail_msg("timed out waiting for %s", what);
		sched_yield();
	}
}

/* ---- the spinlock on one CPU ------------------------------------------------------- */

static void test_nesting(void **state)
{
	(void)state;
	struct x86_64_spinlock l = X86_64_SPINLOCK_INIT;
	assert_int_equal(x86_64_spin_depth(&l), 0);
	x86_64_spin_lock(&l);
	assert_false(sim_rflags & X86_64_RFLAGS_IF);
	assert_int_equal(x86_64_spin_depth(&l), 1);
	x86_64_spin_lock(&l);  /* the holder again: no deadlock, depth 2 */
	assert_int_equal(x86_64_spin_depth(&l), 2);
	assert_int_equal(x86_64_spin_unlock(&l), 0);
	assert_false(sim_rflags & X86_64_RFLAGS_IF);  /* inner unlock: interrupts stay off */
	assert_int_equal(x86_64_spin_depth(&l), 1);
	assert_int_equal(x86_64_spin_unlock(&l), 0);
	assert_true(sim_rflags & X86_64_RFLAGS_IF);   /* outermost: restored */
	assert_int_equal(x86_64_spin_depth(&l), 0);
	assert_true(l.acquired == 1 && l.contended == 0);
	assert_true(l.next == 1 && l.serving == 1);   /* one ticket for the nest */
}

static void test_interrupts_already_off(void **state)
{
	(void)state;
	struct x86_64_spinlock l = X86_64_SPINLOCK_INIT;
	unsigned long f = x86_64_irq_save();
	x86_64_spin_lock(&l);
	assert_int_equal(x86_64_spin_unlock(&l), 0);
	assert_false(sim_rflags & X86_64_RFLAGS_IF);  /* not turned on by unlock */
	x86_64_irq_restore(f);
	assert_true(sim_rflags & X86_64_RFLAGS_IF);
}

static void test_unlock_refused(void **state)
{
	(void)state;
	struct x86_64_spinlock l = X86_64_SPINLOCK_INIT;
	/* Not held at all: refused, interrupts untouched. */
	assert_int_equal(x86_64_spin_unlock(&l), -1);
	assert_true(sim_rflags & X86_64_RFLAGS_IF);
	/* Held by CPU 0: CPU 1 may not release it. */
	x86_64_spin_lock(&l);
	sim_cpu = 1;
	unsigned long cpu0_flags = sim_rflags;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	assert_int_equal(x86_64_spin_unlock(&l), -1);
	assert_true(sim_rflags & X86_64_RFLAGS_IF);
	assert_int_equal(x86_64_spin_depth(&l), 0);
	sim_cpu = 0;
	sim_rflags = cpu0_flags;
	assert_int_equal(x86_64_spin_depth(&l), 1);
	assert_true(l.owner == 1 && l.serving == 0);
	assert_int_equal(x86_64_spin_unlock(&l), 0);
	assert_int_equal(x86_64_spin_unlock(&l), -1);
}

/* ---- the spinlock on several CPUs -------------------------------------------------- */

#define THREADS 4
#define ROUNDS 20000

static struct x86_64_spinlock shared = X86_64_SPINLOCK_INIT;
static volatile unsigned long counter;
static volatile int inside;
static volatile int violations;

static void *hammer(void *arg)
{
	sim_cpu = (unsigned)(uintptr_t)arg;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	for (unsigned i = 0; i < ROUNDS; i++) {
		x86_64_spin_lock(&shared);
		if (i % 7 == 0)
			x86_64_spin_lock(&shared);  /* nested now and then */
		if (__atomic_add_fetch(&inside, 1, __ATOMIC_RELAXED) != 1 || (sim_rflags & X86_64_RFLAGS_IF))
			violations++;
		unsigned long c = counter;  /* a non-atomic read-modify-write: only safe inside */
		if (i % 64 == 0)
			sched_yield();
		counter = c + 1;
		__atomic_sub_fetch(&inside, 1, __ATOMIC_RELAXED);
		/* cmocka's asserts may not run off the main thread: count instead. */
		if (i % 7 == 0 && x86_64_spin_unlock(&shared) != 0)
			violations++;
		if (x86_64_spin_unlock(&shared) != 0 || !(sim_rflags & X86_64_RFLAGS_IF))
			violations++;
	}
	return NULL;
}

static void test_mutual_exclusion(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(violations, 0);
	assert_int_equal(counter, (unsigned long)THREADS * ROUNDS);
	assert_true(shared.acquired == (uint64_t)THREADS * ROUNDS);
	assert_true(shared.owner == 0 && shared.next == shared.serving);
}

/* FIFO: CPUs enter in the order they took their tickets. */
static struct x86_64_spinlock fifo = X86_64_SPINLOCK_INIT;
static volatile uint32_t order[3], entered;

static void *fifo_waiter(void *arg)
{
	sim_cpu = (unsigned)(uintptr_t)arg;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	x86_64_spin_lock(&fifo);
	order[__atomic_fetch_add(&entered, 1, __ATOMIC_RELAXED)] = sim_cpu;
	x86_64_spin_unlock(&fifo);
	return NULL;
}

static void test_fifo(void **state)
{
	(void)state;
	pthread_t a, b;
	x86_64_spin_lock(&fifo);  /* CPU 0 holds it */
	assert_int_equal(pthread_create(&a, NULL, fifo_waiter, (void *)(uintptr_t)2), 0);
	await(&fifo.next, 2, "cpu 2's ticket");
	assert_int_equal(pthread_create(&b, NULL, fifo_waiter, (void *)(uintptr_t)1), 0);
	await(&fifo.next, 3, "cpu 1's ticket");
	assert_int_equal(entered, 0);
	x86_64_spin_unlock(&fifo);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(entered, 2);
	assert_int_equal(order[0], 2);  /* first in line, first in, though cpu 1 has the lower index */
	assert_int_equal(order[1], 1);
	assert_true(fifo.contended == 2);
}

/* ---- TLB shootdown ---------------------------------------------------------------------- */

static volatile uint32_t stop_idle, idle_ready;

/* A CPU with interrupts on, running other work: it takes the shootdown IPI. */
static void *idle_cpu(void *arg)
{
	sim_cpu = (unsigned)(uintptr_t)arg;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	x86_64_tlb_cpu_online();
	__atomic_fetch_add(&idle_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop_idle, __ATOMIC_ACQUIRE)) {
		deliver_ipi();
		sched_yield();
	}
	return NULL;
}

static void test_shootdown_by_ipi(void **state)
{
	(void)state;
	pthread_t t[2];
	stop_idle = idle_ready = 0;
	x86_64_tlb_cpu_online();  /* CPU 0 */
	for (uintptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, idle_cpu, (void *)(i + 1)), 0);
	await(&idle_ready, 2, "two CPUs online");
	assert_int_equal(tlbs[1].full_flushes, 1);  /* joining flushes */
	x86_64_tlb_shootdown(0xFFFFC00000010000ull, 3);
	/* Returned: both others have invalidated exactly those pages; we were not asked. */
	for (unsigned c = 1; c <= 2; c++) {
		assert_int_equal(tlbs[c].n, 3);
		for (unsigned i = 0; i < 3; i++)
			assert_true(tlbs[c].invalidated[i] == 0xFFFFC00000010000ull + i * 4096);
	}
	assert_int_equal(tlbs[0].n, 0);
	assert_int_equal(ipis_sent, 0x6);
	assert_true(sim_rflags & X86_64_RFLAGS_IF);
	/* A big range: a full flush instead. */
	x86_64_tlb_shootdown(0xFFFFC00000100000ull, X86_64_TLB_FULL_FLUSH + 1);
	assert_int_equal(tlbs[1].full_flushes, 2);
	assert_int_equal(tlbs[2].full_flushes, 2);
	assert_int_equal(tlbs[1].n, 3);
	struct x86_64_tlb_stats st;
	x86_64_tlb_get_stats(&st);
	assert_true(st.requests == 2 && st.pages == 3 + X86_64_TLB_FULL_FLUSH + 1 && st.online == 0x7);
	assert_true(st.by_ipi[1] == 2 && st.by_ipi[2] == 2 && st.by_poll[1] == 0);
	x86_64_tlb_shootdown(0x1000, 0);  /* nothing */
	x86_64_tlb_get_stats(&st);
	assert_true(st.requests == 2);
	stop_idle = 1;
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* The deadlock the port avoids: CPU 0 holds the heap lock and shoots down; CPU 1
 * spins for that lock with interrupts off and never takes the IPI. It must
 * answer from its spin loop, or both wait forever. */
static struct x86_64_spinlock heap_lock = X86_64_SPINLOCK_INIT;
static volatile uint32_t spinner_online, spinner_got_lock;

static void *spinner(void *arg)
{
	sim_cpu = (unsigned)(uintptr_t)arg;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	x86_64_tlb_cpu_online();
	__atomic_store_n(&spinner_online, 1, __ATOMIC_RELEASE);
	x86_64_spin_lock(&heap_lock);  /* interrupts off from here: IPIs are never delivered */
	__atomic_store_n(&spinner_got_lock, 1, __ATOMIC_RELEASE);
	x86_64_spin_unlock(&heap_lock);
	return NULL;
}

static void deadlock(int sig)
{
	(void)sig;
	static const char msg[] = "test_shootdown_while_spinning: deadlock (no answer within 20 s)\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	_exit(1);
}

static void test_shootdown_while_spinning(void **state)
{
	(void)state;
	pthread_t t;
	signal(SIGALRM, deadlock);  /* the wait below has no timeout of its own */
	alarm(20);
	spinner_online = spinner_got_lock = 0;
	x86_64_tlb_cpu_online();
	x86_64_spin_lock(&heap_lock);
	assert_int_equal(pthread_create(&t, NULL, spinner, (void *)(uintptr_t)3), 0);
	await(&heap_lock.next, 2, "the spinner's ticket");
	assert_int_equal(spinner_online, 1);
	x86_64_tlb_shootdown(0xFFFFC00000200000ull, 2);  /* would hang without polling */
	assert_int_equal(tlbs[3].n, 2);
	assert_true(tlbs[3].invalidated[1] == 0xFFFFC00000201000ull);
	assert_int_equal(tlbs[3].ipi, 1);  /* the IPI is still pending: it was never taken */
	struct x86_64_tlb_stats st;
	x86_64_tlb_get_stats(&st);
	assert_true(st.by_poll[3] == 1 && st.by_ipi[3] == 0);
	assert_int_equal(spinner_got_lock, 0);
	alarm(0);
	x86_64_spin_unlock(&heap_lock);
	pthread_join(t, NULL);
	assert_int_equal(spinner_got_lock, 1);
}

/* A CPU that went offline is not asked; one that comes back flushes first. */
static void test_offline(void **state)
{
	(void)state;
	x86_64_tlb_cpu_online();
	sim_cpu = 5;
	x86_64_tlb_cpu_online();
	assert_int_equal(tlbs[5].full_flushes, 1);
	x86_64_tlb_cpu_offline();
	sim_cpu = 0;
	struct x86_64_tlb_stats st;
	x86_64_tlb_get_stats(&st);
	assert_true(st.online == 0x1);
	x86_64_tlb_shootdown(0xFFFFC00000000000ull, 1);  /* no other CPU online: returns at once */
	assert_int_equal(ipis_sent, 0);
	x86_64_tlb_get_stats(&st);
	assert_true(st.requests == 0);
	sim_cpu = 5;
	x86_64_tlb_cpu_online();
	assert_int_equal(tlbs[5].full_flushes, 2);
	sim_cpu = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_nesting, reset),
		cmocka_unit_test_setup(test_interrupts_already_off, reset),
		cmocka_unit_test_setup(test_unlock_refused, reset),
		cmocka_unit_test_setup(test_mutual_exclusion, reset),
		cmocka_unit_test_setup(test_fifo, reset),
		cmocka_unit_test_setup(test_shootdown_by_ipi, reset),
		cmocka_unit_test_setup(test_shootdown_while_spinning, reset),
		cmocka_unit_test_setup(test_offline, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
