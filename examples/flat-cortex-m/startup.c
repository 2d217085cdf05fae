/* startup.c — Cortex-M3 vector table, reset handler (.data copy, .bss zero) and the fault handler that reports and exits. */
/* SPDX-License-Identifier: MIT */
#include <stdint.h>

#include "board.h"

extern uint32_t __stack_top[], __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];

int fw_main(void);
void pendsv_handler(void);
void systick_handler(void);
void reset_handler(void);
void fault_handler(void);
void fault_report(const uint32_t *frame, uint32_t exc_return);

void reset_handler(void)
{
	const uint32_t *src = __data_load;
	for (uint32_t *p = __data_start; p < __data_end;)
		*p++ = *src++;
	for (uint32_t *p = __bss_start; p < __bss_end;)
		*p++ = 0;
	semihost_exit(fw_main());
}

/* Every fault and unexpected exception lands here: find the stacked frame (MSP
 * or PSP, from EXC_RETURN bit 2) and report it in C. */
__attribute__((naked)) void fault_handler(void)
{
	__asm__ volatile(
		"tst lr, #4\n\t"
		"ite eq\n\t"
		"mrseq r0, msp\n\t"
		"mrsne r0, psp\n\t"
		"mov r1, lr\n\t"
		"b fault_report\n\t");
}

void fault_report(const uint32_t *frame, uint32_t exc_return)
{
	uint32_t ipsr;
	__asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
	uart_init();
	put("\nflat-cortex-m: ");
	put((ipsr & 0x1ff) == 3 ? "HardFault" : "unexpected exception");
	put(" (exception ");
	put_dec(ipsr & 0x1ff);
	put(") pc=");
	put_hex(frame[6]);
	put(" lr=");
	put_hex(frame[5]);
	put(" xpsr=");
	put_hex(frame[7]);
	put(" exc_return=");
	put_hex(exc_return);
	put("\nflat-cortex-m: cfsr=");
	put_hex(SCB_CFSR);
	put(" hfsr=");
	put_hex(SCB_HFSR);
	put(" mmfar=");
	put_hex(SCB_MMFAR);
	put(" bfar=");
	put_hex(SCB_BFAR);
	put("\nliballoc-selftest: FAIL ");
	put((ipsr & 0x1ff) == 3 ? "HardFault" : "unexpected exception");
	put(" at pc=");
	put_hex(frame[6]);
	put("\n");
	semihost_exit(EXIT_FAULT);
}

typedef void (*vector)(void);

/* Initial stack pointer, then the 15 system exceptions, then the board's
 * interrupts (the mps2-an385 has 32 external lines; all are unexpected here). */
__attribute__((section(".vectors"), used)) static const vector vectors[16 + 32] = {
	[0] = (vector)(uintptr_t)__stack_top,
	[1] = reset_handler,
	[2] = fault_handler,   /* NMI */
	[3] = fault_handler,   /* HardFault */
	[4] = fault_handler,   /* MemManage (escalates to HardFault unless enabled) */
	[5] = fault_handler,   /* BusFault */
	[6] = fault_handler,   /* UsageFault */
	[11] = fault_handler,  /* SVCall */
	[12] = fault_handler,  /* DebugMonitor */
	[14] = pendsv_handler,
	[15] = systick_handler,
	[16 ... 47] = fault_handler,
};
