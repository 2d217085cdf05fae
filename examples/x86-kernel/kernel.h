/* kernel.h — declarations shared by the files of the x86 example kernel. */
/* SPDX-License-Identifier: MIT */
#ifndef KERNEL_H
#define KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* isa-debug-exit values: QEMU exits with (value << 1) | 1. */
#define EXIT_PASS 0x10u  /* status 33 */
#define EXIT_FAIL 0x11u  /* status 35 */

/* console.c: COM1, 115200 8N1, polled (usable with interrupts off, in traps). */
void console_init(void);
void console_write(const char *s);
void console_hex(uint64_t v, unsigned digits);  /* "0x" and at least `digits` digits */
void console_dec(uint64_t v);

/* cpu.c: descriptor tables, PIC, PIT, traps. */
void cpu_init(void);                 /* GDT, IDT, PIC remapped to 32..47 and masked */
void timer_start(unsigned hz);       /* PIT channel 0 on IRQ 0 (interrupts still off) */
bool timer_pending(void);            /* IRQ 0 raised but not yet delivered (PIC IRR) */
extern volatile uint32_t timer_ticks;
/* Read *addr; true if that raised a page fault at addr (the handler then
 * records it and resumes here), false if the read succeeded. */
bool cpu_touch_faults(volatile unsigned char *addr);
extern volatile uint32_t expected_faults;
_Noreturn void qemu_exit(uint32_t value);
/* Print "liballoc-selftest: FAIL <reason>" and exit QEMU with EXIT_FAIL. */
_Noreturn void kernel_fail(const char *reason);

/* leaks.c: the leak report over serial, run at the end of the self-test; true if
 * it found exactly the two leaks it made, then none once they were freed. */
bool kernel_leak_selftest(void);

#endif
