/* x86_64_spinlock.h — ticket spinlock of the x86_64 port: FIFO, saves and disables interrupts, nests on the holding CPU. */
/* SPDX-License-Identifier: MIT */
/*
 * A ticket lock (Mellor-Crummey and Scott, ACM TOCS 9(1), 1991): a CPU takes the
 * next ticket with one atomic add and waits until `serving` reaches it, so CPUs
 * enter in the order they arrived and none waits for more than the other CPUs'
 * critical sections ahead of it (at most X86_64_MAX_CPUS - 1 of them).
 *
 * Interrupts. x86_64_spin_lock saves RFLAGS and disables interrupts BEFORE it
 * takes a ticket, and the outermost x86_64_spin_unlock restores them. So an
 * interrupt handler never runs on a CPU while that CPU holds the lock, and a
 * handler may take the lock itself (allocate) without deadlocking against the
 * code it interrupted. NMIs are not masked: an NMI handler must not take it.
 *
 * Nesting. The lock records its holder's CPU index; the holder may take it
 * again (the depth is counted) and only the outermost unlock releases it. So a
 * kernel may hold the heap lock around several kmalloc calls, whose own
 * liballoc_lock/unlock then nest inside. Unlocking a lock this CPU does not
 * hold is refused (returns -1, changes nothing, leaves the interrupt flag alone).
 *
 * Waiting. While it waits, a CPU serves TLB shootdown requests addressed to it
 * (x86_64_tlb_poll, see x86_64_tlb.h): it has interrupts off and would not take
 * the shootdown IPI, and the CPU that asked may be the holder it is waiting for.
 *
 * Needs x86_64_cpu_index() working on every CPU that takes the lock (GS base set).
 */
#ifndef X86_64_SPINLOCK_H
#define X86_64_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct x86_64_spinlock {
	uint32_t next;          /* the next ticket to hand out */
	uint32_t serving;       /* the ticket allowed in */
	uint32_t owner;         /* holder's CPU index + 1; 0 when free */
	uint32_t depth;         /* nesting depth of the holder */
	unsigned long saved;    /* RFLAGS before the holder's outermost lock */
	uint64_t acquired;      /* outermost acquisitions so far */
	uint64_t contended;     /* ... of which found the lock taken and waited */
};

/* A free lock (static initialiser; an all-zero lock is free too). */
#define X86_64_SPINLOCK_INIT {0, 0, 0, 0, 0, 0, 0}

/* Take the lock: disables interrupts, then waits (FIFO) unless this CPU holds it
 * already, in which case only the depth grows. Returns with interrupts off.
 * O(1) work, plus the wait: at most the critical sections of the CPUs ahead in
 * line. Callable from interrupt handlers (not NMI). */
void x86_64_spin_lock(struct x86_64_spinlock *l);

/* Undo one x86_64_spin_lock of this CPU: the outermost releases the lock (the
 * next ticket enters) and restores the interrupt flag saved by the outermost
 * lock. Returns 0, or -1 if this CPU does not hold the lock (nothing changes).
 * O(1). */
int x86_64_spin_unlock(struct x86_64_spinlock *l);

/* Nesting depth of the lock on the calling CPU: 0 if this CPU does not hold it.
 * O(1). */
unsigned x86_64_spin_depth(const struct x86_64_spinlock *l);

#endif
