/* console.c — COM1 serial output of the x86 example kernel (polled, so traps can print). */
/* SPDX-License-Identifier: MIT */
#include "kernel.h"
#include "x86_cpu.h"

#define COM1 0x3F8

void console_init(void)
{
	x86_outb(COM1 + 1, 0x00);  /* no UART interrupts */
	x86_outb(COM1 + 3, 0x80);  /* DLAB: divisor follows */
	x86_outb(COM1 + 0, 0x01);  /* 115200 baud */
	x86_outb(COM1 + 1, 0x00);
	x86_outb(COM1 + 3, 0x03);  /* 8N1 */
	x86_outb(COM1 + 2, 0xC7);  /* FIFO on, cleared */
	x86_outb(COM1 + 4, 0x03);  /* DTR, RTS */
}

static void put(char c)
{
	for (unsigned spin = 0; spin < 100000 && !(x86_inb(COM1 + 5) & 0x20); spin++)
		;  /* transmitter holding register empty (bounded: never hang a trap) */
	x86_outb(COM1, (uint8_t)c);
}

void console_write(const char *s)
{
	while (*s)
		put(*s++);
}

void console_hex(uint64_t v, unsigned digits)
{
	char buf[19];
	unsigned i = sizeof buf - 1;
	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while ((v || sizeof buf - 1 - i < digits) && i > 2);
	buf[--i] = 'x';
	buf[--i] = '0';
	console_write(buf + i);
}

void console_dec(uint64_t v)
{
	char buf[21];
	unsigned i = sizeof buf - 1;
	buf[i] = 0;
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	console_write(buf + i);
}
