/* spinlock.c — the x86_64 port's ticket spinlock with interrupt saving and nesting (see x86_64_spinlock.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_64_spinlock.h"

#include "x86_64_cpu.h"
#include "x86_64_tlb.h"

#define LOAD(x, order) __atomic_load_n(&(x), order)
#define STORE(x, v, order) __atomic_store_n(&(x), (v), order)

void x86_64_spin_lock(struct x86_64_spinlock *l)
{
	/* Interrupts off first: from here on this CPU cannot be interrupted by a
	 * handler that takes the same lock, and it stays on this CPU. */
	unsigned long flags = x86_64_irq_save();
	uint32_t me = x86_64_cpu_index() + 1;
	/* Only this CPU ever stores `me` in owner, and it clears it before it
	 * releases: reading our own index here means we hold the lock. */
	if (LOAD(l->owner, __ATOMIC_RELAXED) == me) {
		l->depth++;
		return;
	}
	uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	bool waited = false;
	while (LOAD(l->serving, __ATOMIC_ACQUIRE) != ticket) {
		waited = true;
		x86_64_tlb_poll();  /* the holder may be waiting for our TLB flush */
		x86_64_pause();
	}
	STORE(l->owner, me, __ATOMIC_RELAXED);
	l->depth = 1;
	l->saved = flags;
	l->acquired++;
	l->contended += waited;
}

int x86_64_spin_unlock(struct x86_64_spinlock *l)
{
	unsigned long flags = x86_64_irq_save();
	if (LOAD(l->owner, __ATOMIC_RELAXED) != x86_64_cpu_index() + 1) {
		x86_64_irq_restore(flags);  /* not ours: refuse, change nothing */
		return -1;
	}
	if (--l->depth > 0)
		return 0;  /* nested: interrupts stay off (they were off: we hold it) */
	unsigned long saved = l->saved;
	STORE(l->owner, 0, __ATOMIC_RELAXED);
	/* The release store publishes every write of the critical section to the
	 * next holder, whose acquire load of serving sees it. */
	STORE(l->serving, l->serving + 1, __ATOMIC_RELEASE);
	x86_64_irq_restore(saved);
	return 0;
}

unsigned x86_64_spin_depth(const struct x86_64_spinlock *l)
{
	unsigned long flags = x86_64_irq_save();
	unsigned d = LOAD(l->owner, __ATOMIC_RELAXED) == x86_64_cpu_index() + 1 ? l->depth : 0;
	x86_64_irq_restore(flags);
	return d;
}
