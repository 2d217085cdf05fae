/* board.h — the mps2-an385 pieces the firmware uses: CMSDK UART console, semihosting exit and command line, core registers. */
/* SPDX-License-Identifier: MIT */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

#define REG(addr) (*(volatile uint32_t *)(addr))

/* System control block and SysTick (ARMv7-M architecture, same on every Cortex-M3). */
#define SCB_ICSR REG(0xE000ED04u)
#define ICSR_PENDSVSET (1u << 28)
#define ICSR_PENDSTCLR (1u << 25)
#define SCB_SHPR3 REG(0xE000ED20u)
#define SCB_CFSR REG(0xE000ED28u)
#define SCB_HFSR REG(0xE000ED2Cu)
#define SCB_MMFAR REG(0xE000ED34u)
#define SCB_BFAR REG(0xE000ED38u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)

/* Exit codes seen as QEMU's status (SYS_EXIT_EXTENDED passes them through). */
#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_FAULT 3

/* Console on UART0 (QEMU's -serial stdio). Polling, usable from any context. */
void uart_init(void);
void put(const char *s);
void put_hex(uint32_t v);  /* 0x%08x */
void put_dec(uint32_t v);

/* Semihosting: end QEMU with `code` as its exit status. Never returns. */
__attribute__((noreturn)) void semihost_exit(int code);
/* Semihosting: copy the command line (QEMU: the -kernel file and -append text)
 * into buf (NUL-terminated). Returns 1, or 0 if semihosting refused. */
int semihost_cmdline(char *buf, size_t size);

static inline uint32_t get_primask(void)
{
	uint32_t m;
	__asm__ volatile("mrs %0, primask" : "=r"(m));
	return m;
}

#endif
