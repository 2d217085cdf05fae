/* x86_cpu.h — the few privileged i686 instructions the x86 port and kernel use, as inline functions. */
/* SPDX-License-Identifier: MIT */
/*
 * Ring 0 only. With X86_CPU_SIMULATED defined (host unit tests, where cli
 * would raise a general protection fault) the interrupt-flag functions are
 * declared instead of defined, and the test supplies a simulated EFLAGS.
 */
#ifndef X86_CPU_H
#define X86_CPU_H

#include <stdint.h>

#define X86_EFLAGS_IF 0x200u  /* interrupt enable flag */

#ifdef X86_CPU_SIMULATED
uint32_t x86_eflags(void);
uint32_t x86_irq_save(void);
void x86_irq_restore(uint32_t eflags);
uint64_t x86_rdtsc(void);
#else
/* The current EFLAGS. */
static inline uint32_t x86_eflags(void)
{
	uint32_t f;
	__asm__ volatile("pushfl; popl %0" : "=r"(f));
	return f;
}

/* Save EFLAGS and disable interrupts; returns the saved EFLAGS. The compiler may
 * not move memory accesses across it (it starts a critical section). */
static inline uint32_t x86_irq_save(void)
{
	uint32_t f;
	__asm__ volatile("pushfl; popl %0; cli" : "=r"(f) : : "memory");
	return f;
}

/* Restore EFLAGS saved by x86_irq_save: interrupts back on only if they were. */
static inline void x86_irq_restore(uint32_t eflags)
{
	__asm__ volatile("pushl %0; popfl" : : "r"(eflags) : "memory", "cc");
}

/* The time-stamp counter (cycles since reset). */
static inline uint64_t x86_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* Drop the TLB entry of the page containing `va`: after unmapping it. */
static inline void x86_invlpg(uint32_t va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }

/* The linear address of the last page fault. */
static inline uint32_t x86_read_cr2(void)
{
	uint32_t v;
	__asm__ volatile("movl %%cr2, %0" : "=r"(v));
	return v;
}

/* Control register 0 (bit 31: paging on). */
static inline uint32_t x86_read_cr0(void)
{
	uint32_t v;
	__asm__ volatile("movl %%cr0, %0" : "=r"(v));
	return v;
}

/* Load the page directory at physical `dir` and turn paging on (CR0.PG) with
 * supervisor write protection (CR0.WP). The code running must be identity
 * mapped in that directory. */
static inline void x86_paging_enable(uint32_t dir)
{
	__asm__ volatile("movl %0, %%cr3\n\t"
			 "movl %%cr0, %%eax\n\t"
			 "orl $0x80010000, %%eax\n\t"
			 "movl %%eax, %%cr0"
			 : : "r"(dir) : "eax", "memory");
}

/* Port I/O: write a byte, write a 32-bit word, read a byte. */
static inline void x86_outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void x86_outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t x86_inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
#endif

#endif
