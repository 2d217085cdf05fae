/* tlb.c — the x86_64 port's TLB shootdown mailbox: IPI or spin-loop polling, one request at a time (see x86_64_tlb.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_64_tlb.h"

#include "x86_64_cpu.h"
#include "x86_64_spinlock.h"

#define PAGE 4096u
#define LOAD(x, order) __atomic_load_n(&(x), order)
#define STORE(x, v, order) __atomic_store_n(&(x), (v), order)

_Static_assert(X86_64_MAX_CPUS <= 16, "one bit per CPU in a uint32_t, 16 counters in the stats");

static struct {
	struct x86_64_tlb_ops ops;
	struct x86_64_spinlock lock;  /* one request at a time; guards online */
	uint32_t online;              /* CPUs that take part */
	uint32_t pending;             /* targets that have not flushed the request yet */
	uintptr_t va;                 /* the request: written before pending is published */
	size_t pages;
	uint64_t requests, total_pages;
	uint64_t by_ipi[X86_64_MAX_CPUS], by_poll[X86_64_MAX_CPUS];
} tlb;

void x86_64_tlb_init(const struct x86_64_tlb_ops *ops)
{
	struct x86_64_spinlock fresh = X86_64_SPINLOCK_INIT;
	tlb.ops = *ops;
	tlb.lock = fresh;
	tlb.online = 0;
	tlb.pending = 0;
	tlb.requests = tlb.total_pages = 0;
	for (unsigned i = 0; i < X86_64_MAX_CPUS; i++)
		tlb.by_ipi[i] = tlb.by_poll[i] = 0;
}

void x86_64_tlb_cpu_online(void)
{
	x86_64_spin_lock(&tlb.lock);
	/* No request is in progress (we hold its lock): anything unmapped before
	 * now is dropped by this flush, anything later will target us. */
	x86_64_flush_tlb();
	STORE(tlb.online, tlb.online | 1u << x86_64_cpu_index(), __ATOMIC_RELAXED);
	x86_64_spin_unlock(&tlb.lock);
}

void x86_64_tlb_cpu_offline(void)
{
	x86_64_spin_lock(&tlb.lock);
	STORE(tlb.online, tlb.online & ~(1u << x86_64_cpu_index()), __ATOMIC_RELAXED);
	x86_64_spin_unlock(&tlb.lock);
}

/* Serve the current request if it names this CPU; true if it did. */
static int serve(void)
{
	unsigned long flags = x86_64_irq_save();  /* stay on this CPU */
	unsigned cpu = x86_64_cpu_index();
	uint32_t bit = 1u << cpu;
	int served = 0;
	if (LOAD(tlb.pending, __ATOMIC_ACQUIRE) & bit) {
		/* The range was written before pending was published, and stays
		 * until every target (us included) has cleared its bit. */
		uintptr_t va = tlb.va;
		size_t pages = tlb.pages;
		if (pages > X86_64_TLB_FULL_FLUSH)
			x86_64_flush_tlb();
		else
			for (size_t i = 0; i < pages; i++)
				x86_64_invlpg(va + i * PAGE);
		__atomic_fetch_and(&tlb.pending, ~bit, __ATOMIC_RELEASE);
		served = 1;
	}
	x86_64_irq_restore(flags);
	return served;
}

void x86_64_tlb_poll(void)
{
	if (serve())
		__atomic_fetch_add(&tlb.by_poll[x86_64_cpu_index()], 1, __ATOMIC_RELAXED);
}

void x86_64_tlb_ipi(void)
{
	if (serve())
		__atomic_fetch_add(&tlb.by_ipi[x86_64_cpu_index()], 1, __ATOMIC_RELAXED);
}

void x86_64_tlb_shootdown(uintptr_t va, size_t pages)
{
	if (pages == 0)
		return;
	x86_64_spin_lock(&tlb.lock);  /* interrupts off until the unlock */
	uint32_t targets = tlb.online & ~(1u << x86_64_cpu_index());
	if (targets) {
		tlb.va = va;
		tlb.pages = pages;
		tlb.requests++;
		tlb.total_pages += pages;
		STORE(tlb.pending, targets, __ATOMIC_RELEASE);
		tlb.ops.send_ipi(tlb.ops.ctx, targets);
		/* Each target answers from its IPI handler or from its own spin loop
		 * (see the header): waiting here with interrupts off is safe. */
		while (LOAD(tlb.pending, __ATOMIC_ACQUIRE) != 0)
			x86_64_pause();
	}
	x86_64_spin_unlock(&tlb.lock);
}

void x86_64_tlb_get_stats(struct x86_64_tlb_stats *out)
{
	out->requests = LOAD(tlb.requests, __ATOMIC_RELAXED);
	out->pages = LOAD(tlb.total_pages, __ATOMIC_RELAXED);
	out->online = LOAD(tlb.online, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < 16; i++) {
		out->by_ipi[i] = i < X86_64_MAX_CPUS ? LOAD(tlb.by_ipi[i], __ATOMIC_RELAXED) : 0;
		out->by_poll[i] = i < X86_64_MAX_CPUS ? LOAD(tlb.by_poll[i], __ATOMIC_RELAXED) : 0;
	}
}
