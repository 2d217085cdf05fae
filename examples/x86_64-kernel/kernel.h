/* kernel.h — declarations shared by the files of the x86_64 example kernel. */
/* SPDX-License-Identifier: MIT */
#ifndef KERNEL_H
#define KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "pattern.h"
#include "x86_64_cpu.h"
#include "x86_64_port.h"

/* isa-debug-exit values: QEMU exits with (value << 1) | 1. */
#define EXIT_PASS 0x10u  /* status 33 */
#define EXIT_FAIL 0x11u  /* status 35 */

#define MAX_CPUS X86_64_MAX_CPUS
#define TIMER_VECTOR 0x40u
#define TLB_VECTOR 0xF0u
#define SPURIOUS_VECTOR 0xFFu
#define TIMER_HZ 100u

/* One per CPU; GS base points to it (local first). */
struct cpu {
	struct x86_64_cpu_local local;
	/* cpu_touch_faults: where to resume and which address may fault. */
	volatile uint64_t fault_resume, fault_addr;
	volatile uint64_t expected_faults;   /* faults a touch expected */
	volatile uint64_t ticks;             /* local APIC timer interrupts */
	volatile int alive;                  /* set by the CPU once it runs the kernel */
	volatile int offline;                /* set by an AP just before it halts */
	volatile uint32_t done;              /* last command generation it completed */
	/* The timer handler's own allocation (interrupt context). */
	struct pattern_block irq_block;
	uint64_t irq_allocs;
	/* Counters of the concurrent phases. */
	uint64_t ops, allocs, frees, reallocs, sent, received, foreign_reallocs, checks_run, null_seen;
	uint64_t loop_start, loop_end;       /* cpu 0's tick count when this CPU entered and left the loop */
	uint64_t rng;
} __attribute__((aligned(64)));

extern struct cpu cpus[MAX_CPUS];
extern unsigned ncpus;                       /* CPUs running (BSP first) */
extern volatile bool irq_alloc_on;           /* timer handlers kmalloc/kfree */

static inline struct cpu *this_cpu(void) { return &cpus[x86_64_cpu_index()]; }

/* console.c (shared with examples/x86-kernel): COM1, polled. */
void console_init(void);
void console_write(const char *s);

/* print.c: printf for the console, one line at a time under a lock (any CPU,
 * any context; nests on the CPU holding it). %s %c %d %u %x %lu %lx %lld %llu
 * %llx %p, with an optional width and 0 flag for x. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cpu.c: descriptor tables, traps, local APIC, IPIs, timing. */
void idt_build(void);                        /* once, on the BSP */
void cpu_load_tables(void);                  /* GDT, segments, IDT: every CPU */
void pic_disable(void);                      /* 8259s remapped to 0x20..0x2F and masked */
void lapic_init_cpu(uint32_t timer_count);   /* enable, spurious vector, periodic timer */
uint32_t lapic_calibrate(void);              /* APIC timer counts per 1 / TIMER_HZ s (PIT) */
uint32_t lapic_id(void);
bool lapic_pending(unsigned vector);          /* in the IRR: raised, not yet delivered */
void lapic_send_init_sipi(uint32_t apic_id, unsigned page);
void lapic_send_ipi(uint32_t apic_id, unsigned vector);
void lapic_timer_stop(void);
void pit_wait_us(unsigned us);               /* busy wait on PIT channel 2 */
bool cpu_touch_faults(volatile unsigned char *addr);
_Noreturn void qemu_exit(uint32_t value);
/* Print "liballoc-selftest: FAIL <reason>" and exit QEMU with EXIT_FAIL. */
_Noreturn void kernel_fail(const char *reason);
void timer_tick(void);                       /* kernel.c: the timer interrupt's work */

/* acpi.c: the local APIC IDs of the enabled processors in the MADT. */
unsigned acpi_cpus(uint32_t *apic_ids, unsigned max, uint64_t *lapic_phys);

/* kernel.c */
bool check(bool ok, const char *what);       /* count a check; report a failure */
size_t kernel_port_pages(void);              /* heap pages, after checking the frame account */
size_t kernel_pmm_free(void);                /* free frames in the PMM */
extern uint64_t kernel_pml4;                 /* physical address: what CR3 gets */

/* smp.c: application processors and the concurrent phases. */
unsigned smp_start(const uint32_t *apic_ids, unsigned count, uint32_t bsp_id, uint32_t timer_count);
void smp_run(void (*fn)(unsigned cpu));      /* run fn on every CPU at once; return when all did */
void smp_barrier(void);                      /* all running CPUs meet here */
void smp_offline(void);                      /* every AP flushes its cache, leaves, halts */
void smp_tests(uint64_t seed, unsigned ops); /* the concurrent phases */

#endif
