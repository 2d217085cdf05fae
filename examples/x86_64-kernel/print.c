/* print.c — a small printf for the x86_64 example kernel's serial console: one line buffer per call, written under a spinlock. */
/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "kernel.h"

static struct x86_64_spinlock console_lock = X86_64_SPINLOCK_INIT;

struct out {
	char buf[320];
	size_t n;
};

static void put(struct out *o, char c)
{
	if (o->n < sizeof o->buf - 1)
		o->buf[o->n++] = c;
}

static void put_str(struct out *o, const char *s)
{
	while (*s)
		put(o, *s++);
}

static void put_num(struct out *o, unsigned long long v, unsigned base, unsigned width, char pad)
{
	char tmp[24];
	unsigned i = 0;
	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i < width && i < sizeof tmp)
		tmp[i++] = pad;
	while (i)
		put(o, tmp[--i]);
}

void kprintf(const char *fmt, ...)
{
	struct out o;
	va_list ap;
	o.n = 0;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			put(&o, *f);
			continue;
		}
		f++;
		char pad = ' ';
		unsigned width = 0, longs = 0;
		if (*f == '0')
			pad = '0', f++;
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (unsigned)(*f++ - '0');
		while (*f == 'l')
			longs++, f++;
		switch (*f) {
		case 's':
			put_str(&o, va_arg(ap, const char *));
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 'd': {
			long long v = longs ? (longs > 1 ? va_arg(ap, long long) : va_arg(ap, long)) : va_arg(ap, int);
			if (v < 0)
				put(&o, '-');
			put_num(&o, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10, width, pad);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = longs ? (longs > 1 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned long))
						     : va_arg(ap, unsigned);
			put_num(&o, v, *f == 'u' ? 10 : 16, width, pad);
			break;
		}
		case 'p':
			put_str(&o, "0x");
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, 16, '0');
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '?');
			if (!*f)
				f--;
			break;
		}
	}
	va_end(ap);
	o.buf[o.n] = 0;
	x86_64_spin_lock(&console_lock);
	console_write(o.buf);
	x86_64_spin_unlock(&console_lock);
}
