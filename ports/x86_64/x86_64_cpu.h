/* x86_64_cpu.h — the privileged x86_64 instructions the port and its kernel use, and the CPU index from the GS base. */
/* SPDX-License-Identifier: MIT */
/*
 * Ring 0 only. With X86_64_CPU_SIMULATED defined (host unit tests, where cli
 * would raise a general protection fault and GS is the C library's) the
 * functions the port's C files call — the interrupt flag, the CPU index,
 * invlpg, the full TLB flush, pause — are declared instead of defined, and the
 * test supplies simulated ones.
 *
 * The CPU index. Every CPU's GS base points to its own per-CPU block, which
 * starts with struct x86_64_cpu_local (a kernel embeds it at the start of its
 * own per-CPU structure); x86_64_cpu_index() is then one load, %gs:8. The
 * index is dense (0, 1, 2, ... in the order the kernel starts CPUs), unlike the
 * local APIC ID, so it can index arrays: the heap lock's owner, the shootdown
 * acknowledgements, liballoc's per-CPU caches (LIBALLOC_CPU_ID).
 */
#ifndef X86_64_CPU_H
#define X86_64_CPU_H

#include <stddef.h>
#include <stdint.h>

#define X86_64_RFLAGS_IF 0x200ul  /* interrupt enable flag */
#define X86_64_MAX_CPUS 16u       /* CPU indices are 0 .. X86_64_MAX_CPUS - 1 */

/* The start of every CPU's per-CPU block, pointed to by its GS base. */
struct x86_64_cpu_local {
	struct x86_64_cpu_local *self;  /* its own address: one load gives the block */
	uint32_t index;                 /* dense CPU index, < X86_64_MAX_CPUS */
	uint32_t apic_id;               /* local APIC ID */
};
_Static_assert(offsetof(struct x86_64_cpu_local, index) == 8, "x86_64_cpu_index reads %gs:8");

#ifdef X86_64_CPU_SIMULATED
unsigned long x86_64_rflags(void);
unsigned long x86_64_irq_save(void);
void x86_64_irq_restore(unsigned long rflags);
unsigned x86_64_cpu_index(void);
void x86_64_invlpg(uintptr_t va);
void x86_64_flush_tlb(void);
void x86_64_pause(void);
uint64_t x86_64_rdtsc(void);
#else
/* The current RFLAGS. */
static inline unsigned long x86_64_rflags(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

/* Save RFLAGS and disable interrupts; returns the saved RFLAGS. A compiler
 * barrier: no memory access moves across it (it starts a critical section). */
static inline unsigned long x86_64_irq_save(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(f) : : "memory");
	return f;
}

/* Restore RFLAGS saved by x86_64_irq_save: interrupts back on only if they were. */
static inline void x86_64_irq_restore(unsigned long rflags)
{
	__asm__ volatile("pushq %0; popfq" : : "r"(rflags) : "memory", "cc");
}

/* The running CPU's dense index (see the top of this file). Needs the GS base
 * set (x86_64_cpu_set_local) on this CPU. Call with interrupts off when the
 * caller must stay on this CPU; this kernel never migrates, so any time works. */
static inline unsigned x86_64_cpu_index(void)
{
	unsigned i;
	__asm__ volatile("movl %%gs:8, %0" : "=r"(i));
	return i;
}

/* Drop this CPU's TLB entry of the page containing `va`. */
static inline void x86_64_invlpg(uintptr_t va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }

/* Control register 3: the physical address of the PML4 (plus PCD/PWT bits). */
static inline uint64_t x86_64_read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("movq %%cr3, %0" : "=r"(v));
	return v;
}

/* Load CR3 (switch page tables): also drops every non-global TLB entry. */
static inline void x86_64_write_cr3(uint64_t v) { __asm__ volatile("movq %0, %%cr3" : : "r"(v) : "memory"); }

/* Drop every non-global TLB entry of this CPU (reload CR3). */
static inline void x86_64_flush_tlb(void) { x86_64_write_cr3(x86_64_read_cr3()); }

/* Spin-loop hint: lets a hyperthread sibling run, and QEMU's TCG switch vCPUs. */
static inline void x86_64_pause(void) { __asm__ volatile("pause" : : : "memory"); }

/* The time-stamp counter. */
static inline uint64_t x86_64_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The linear address of the last page fault. */
static inline uint64_t x86_64_read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("movq %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t x86_64_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void x86_64_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

#define X86_64_MSR_APIC_BASE 0x1Bu        /* local APIC physical base, enable bit 11 */
#define X86_64_MSR_GS_BASE   0xC0000101u

/* Point this CPU's GS base at its per-CPU block (sets self). Once per CPU, before
 * the first x86_64_cpu_index on it. */
static inline void x86_64_cpu_set_local(struct x86_64_cpu_local *local)
{
	local->self = local;
	x86_64_wrmsr(X86_64_MSR_GS_BASE, (uint64_t)(uintptr_t)local);
}

/* CPUID leaf (and subleaf): eax, ebx, ecx, edx in r[0..3]. */
static inline void x86_64_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* Port I/O. */
static inline void x86_64_outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void x86_64_outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t x86_64_inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
#endif

#endif
