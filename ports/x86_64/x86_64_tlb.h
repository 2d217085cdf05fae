/* x86_64_tlb.h — TLB shootdown of the x86_64 port: make every other online CPU drop a range of translations, without deadlock. */
/* SPDX-License-Identifier: MIT */
/*
 * After a page is unmapped, invlpg drops it only from the TLB of the CPU that
 * ran it. Another CPU that touched the page may keep the old translation and
 * keep reading and writing the frame through it, after the frame went back to
 * the PMM and to its next owner. So before the heap hooks return an unmapped
 * frame (or let its virtual page be mapped again) every other CPU must have
 * dropped the translation: x86_64_tlb_shootdown does that.
 *
 * Protocol. One request at a time (a spinlock of its own). The initiator writes
 * the range, publishes the set of target CPUs (every online CPU but itself) in
 * `pending`, sends the shootdown IPI to them through the kernel's send_ipi op,
 * and waits until every target has cleared its bit in `pending`. A target
 * clears its bit after invalidating the range (invlpg per page, or a full flush
 * above X86_64_TLB_FULL_FLUSH pages) in x86_64_tlb_poll, which runs from the IPI
 * handler AND from every spin-wait loop of the port (x86_64_spin_lock).
 *
 * Why that avoids the deadlock. The heap hooks shoot down while holding the
 * heap lock, with interrupts off. A CPU spinning for that lock also has
 * interrupts off (x86_64_spin_lock disables them first), so it never takes the
 * IPI — if it only waited for the IPI, each CPU would wait for the other
 * forever. It polls the mailbox in its spin loop instead, so it answers while
 * it waits. A target with interrupts on takes the IPI; one in a short
 * interrupts-off section answers when it leaves it. The IPI handler takes no
 * lock (it only reads the mailbox and clears its bit), so it can run anywhere.
 * Rule for the rest of the kernel: a loop that waits with interrupts off for
 * something another CPU does while it may hold the heap lock must call
 * x86_64_tlb_poll() (locks built on x86_64_spinlock do); otherwise keep
 * interrupts on while waiting.
 *
 * Online set. A CPU takes part from x86_64_tlb_cpu_online (which flushes its
 * whole TLB, so nothing unmapped earlier survives in it) until
 * x86_64_tlb_cpu_offline; both take the request lock, so no request ever waits
 * for a CPU that left, or misses one that joined.
 *
 * Thread-safety: every function may run on any CPU concurrently. All need
 * x86_64_cpu_index() (GS base) on the calling CPU.
 */
#ifndef X86_64_TLB_H
#define X86_64_TLB_H

#include <stddef.h>
#include <stdint.h>

/* Above this many pages a target flushes its whole (non-global) TLB instead of
 * invalidating page by page. */
#define X86_64_TLB_FULL_FLUSH 32u

struct x86_64_tlb_ops {
	/* Send the shootdown interrupt to every CPU whose bit (CPU index) is set in
	 * `cpus`; the handler must call x86_64_tlb_poll (then EOI). Called with
	 * interrupts off; must not wait for the targets. */
	void (*send_ipi)(void *ctx, uint32_t cpus);
	void *ctx;
};

/* Counters, for the kernel's statistics. */
struct x86_64_tlb_stats {
	uint64_t requests;                /* shootdowns that had targets */
	uint64_t pages;                   /* pages in them */
	uint32_t online;                  /* the online set now */
	uint64_t by_ipi[16];              /* per CPU: requests served from the IPI handler */
	uint64_t by_poll[16];             /* per CPU: requests served while spinning */
};

/* Set the IPI sender and forget every CPU (none online). Once, before any other
 * call, while only one CPU runs. O(1). */
void x86_64_tlb_init(const struct x86_64_tlb_ops *ops);

/* The calling CPU joins the online set: later shootdowns include it. Flushes its
 * TLB (non-global entries), so it must not map heap memory global. O(1) plus
 * the wait for a request in progress. */
void x86_64_tlb_cpu_online(void);

/* The calling CPU leaves the online set: later shootdowns skip it. It must not
 * touch memory others may unmap until it is online again. O(1) plus the wait
 * for a request in progress. */
void x86_64_tlb_cpu_offline(void);

/* Make every other online CPU drop its translations of [va, va + pages * 4096)
 * and return once all have. The caller drops its own (the VMM's unmap did).
 * Any context but an interrupt handler that may have interrupted a shootdown
 * initiator (the IPI handler must only poll); interrupts may be off. O(targets)
 * plus the targets' response time: each answers on its next spin-loop iteration
 * or interrupt window. pages == 0 does nothing. */
void x86_64_tlb_shootdown(uintptr_t va, size_t pages);

/* Serve the request in progress if it targets this CPU (invalidate, then clear
 * its bit). Never blocks, takes no lock, O(pages) up to X86_64_TLB_FULL_FLUSH.
 * Call it from the shootdown IPI handler and from spin-wait loops that run with
 * interrupts off; calling it when nothing is pending is cheap (one load). */
void x86_64_tlb_poll(void);

/* The same, counted as served by the IPI: call it from the IPI handler. */
void x86_64_tlb_ipi(void);

/* Copy the counters. O(1). */
void x86_64_tlb_get_stats(struct x86_64_tlb_stats *out);

#endif
