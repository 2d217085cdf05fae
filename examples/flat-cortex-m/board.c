/* board.c — CMSDK APB UART console and ARM semihosting calls for the mps2-an385 firmware. */
/* SPDX-License-Identifier: MIT */
#include "board.h"

/* CMSDK APB UART0 (mps2-an385): DATA, STATE (bit 0: TX full), CTRL (bit 0: TX enable), BAUDDIV. */
#define UART_DATA REG(0x40004000u)
#define UART_STATE REG(0x40004004u)
#define UART_CTRL REG(0x40004008u)
#define UART_BAUDDIV REG(0x40004010u)

void uart_init(void)
{
	UART_BAUDDIV = 16;  /* the smallest legal divider; QEMU ignores the rate */
	UART_CTRL = 1;
}

static void putc_(char c)
{
	while (UART_STATE & 1)
		;
	UART_DATA = (uint32_t)(unsigned char)c;
}

void put(const char *s)
{
	while (*s)
		putc_(*s++);
}

void put_hex(uint32_t v)
{
	char b[11] = "0x";
	for (int i = 0; i < 8; i++)
		b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
	b[10] = 0;
	put(b);
}

void put_dec(uint32_t v)
{
	char b[11];
	int i = 10;
	b[i] = 0;
	do
		b[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(b + i);
}

/* BKPT 0xAB is the M-profile semihosting trap: r0 = operation, r1 = argument. */
static uint32_t semihost(uint32_t op, const void *arg)
{
	register uint32_t r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;
	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

void semihost_exit(int code)
{
	/* SYS_EXIT_EXTENDED: {ADP_Stopped_ApplicationExit, code}; QEMU exits with code. */
	static volatile uint32_t block[2];
	block[0] = 0x20026;
	block[1] = (uint32_t)code;
	semihost(0x20, (const void *)block);
	for (;;)
		__asm__ volatile("wfi");
}

int semihost_cmdline(char *buf, size_t size)
{
	/* SYS_GET_CMDLINE: {buffer, size in/out}. */
	volatile uint32_t block[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)size};
	buf[0] = 0;
	return semihost(0x15, (const void *)block) == 0;
}
