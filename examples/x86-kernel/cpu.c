/* cpu.c — GDT, IDT, PIC, PIT and trap handling of the x86 example kernel, with recoverable expected page faults. */
/* SPDX-License-Identifier: MIT */
#include "kernel.h"
#include "x86_cpu.h"

/* The frame boot.S builds: segment registers, pushal, vector, error code, then
 * what the CPU pushed (no privilege change: no user ESP/SS). */
struct trap_frame {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
};

void trap_dispatch(struct trap_frame *f);
extern const uint32_t isr_table[48];

volatile uint32_t timer_ticks;
volatile uint32_t expected_faults;
/* Set by cpu_touch_faults around its one read: where to resume, and the address
 * whose not-present fault is expected. 0 = no fault expected. */
static volatile uint32_t fault_resume, fault_addr;

/* ---- descriptor tables ---------------------------------------------------- */

static const uint64_t gdt[3] = {
	0,
	0x00CF9A000000FFFFull,  /* 0x08: ring 0 code, flat 4 GiB */
	0x00CF92000000FFFFull,  /* 0x10: ring 0 data, flat 4 GiB */
};

struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t zero, type;
	uint16_t offset_hi;
} __attribute__((packed));

static struct idt_gate idt[48];

struct table_reg {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

static void gdt_load(void)
{
	static struct table_reg r;
	r.limit = sizeof gdt - 1;
	r.base = (uint32_t)gdt;
	__asm__ volatile("lgdt %0\n\t"
			 "ljmp $0x08, $1f\n"
			 "1:\tmovl $0x10, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%fs\n\t"
			 "movl %%eax, %%gs\n\t"
			 "movl %%eax, %%ss"
			 : : "m"(r) : "eax", "memory");
}

static void idt_load(void)
{
	static struct table_reg r;
	for (unsigned i = 0; i < 48; i++) {
		idt[i].offset_lo = (uint16_t)isr_table[i];
		idt[i].offset_hi = (uint16_t)(isr_table[i] >> 16);
		idt[i].selector = 0x08;
		idt[i].zero = 0;
		idt[i].type = 0x8E;  /* present, ring 0, 32-bit interrupt gate (IF cleared) */
	}
	r.limit = sizeof idt - 1;
	r.base = (uint32_t)idt;
	__asm__ volatile("lidt %0" : : "m"(r) : "memory");
}

/* ---- 8259 PIC and 8254 PIT ------------------------------------------------ */

static void io_wait(void) { x86_outb(0x80, 0); }

/* Move IRQs 0..15 to vectors 32..47 (the default 8..15 collide with CPU
 * exceptions) and mask them all. */
static void pic_init(void)
{
	static const uint8_t seq[][2] = {
		{0x20, 0x11}, {0xA0, 0x11},  /* ICW1: init, ICW4 follows */
		{0x21, 0x20}, {0xA1, 0x28},  /* ICW2: vector bases */
		{0x21, 0x04}, {0xA1, 0x02},  /* ICW3: slave on IRQ 2 */
		{0x21, 0x01}, {0xA1, 0x01},  /* ICW4: 8086 mode */
		{0x21, 0xFF}, {0xA1, 0xFF},  /* mask everything */
	};
	for (unsigned i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		x86_outb(seq[i][0], seq[i][1]);
		io_wait();
	}
}

void timer_start(unsigned hz)
{
	uint32_t divisor = 1193182u / hz;
	x86_outb(0x43, 0x34);  /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
	x86_outb(0x40, (uint8_t)divisor);
	x86_outb(0x40, (uint8_t)(divisor >> 8));
	x86_outb(0x21, 0xFE);  /* unmask IRQ 0 only */
}

bool timer_pending(void)
{
	x86_outb(0x20, 0x0A);  /* OCW3: read the interrupt request register */
	return x86_inb(0x20) & 1;
}

void cpu_init(void)
{
	gdt_load();
	idt_load();
	pic_init();
}

/* ---- traps ----------------------------------------------------------------- */

_Noreturn void qemu_exit(uint32_t value)
{
	x86_outl(0xF4, value);
	for (;;)  /* no isa-debug-exit device: stop here */
		__asm__ volatile("cli; hlt");
}

_Noreturn void kernel_fail(const char *reason)
{
	x86_irq_save();
	console_write("liballoc-selftest: FAIL ");
	console_write(reason);
	console_write("\n");
	qemu_exit(EXIT_FAIL);
}

static const char *const names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
	"device not available", "double fault", "coprocessor overrun", "invalid TSS", "segment not present",
	"stack fault", "general protection fault", "page fault", "reserved", "x87 error", "alignment check",
	"machine check", "SIMD error", "virtualization", "control protection",
};

bool cpu_touch_faults(volatile unsigned char *addr)
{
	uint32_t faulted;
	fault_addr = (uint32_t)addr;
	/* Publish the resume label, read, and clear it; the page-fault handler
	 * resumes at 1: with every register as it was at the faulting read. */
	__asm__ volatile("movl $1f, %[resume]\n\t"
			 "movb (%[a]), %%al\n\t"
			 "xorl %[f], %[f]\n\t"
			 "jmp 2f\n"
			 "1:\tmovl $1, %[f]\n"
			 "2:\tmovl $0, %[resume]"
			 : [f] "=&r"(faulted), [resume] "=m"(fault_resume)
			 : [a] "r"(addr)
			 : "eax", "memory", "cc");
	fault_addr = 0;
	return faulted;
}

static void page_fault(struct trap_frame *f)
{
	uint32_t cr2 = x86_read_cr2();
	/* Expected: a read (no W bit), of a not-present page (no P bit), at the
	 * address cpu_touch_faults is reading, by its one instruction. */
	if (fault_resume && cr2 == fault_addr && (f->error & 3) == 0) {
		expected_faults++;
		console_write("x86: expected page fault at CR2=");
		console_hex(cr2, 8);
		console_write(" error=");
		console_hex(f->error, 1);
		console_write(" (not present, read, supervisor): recovered\n");
		f->eip = fault_resume;
		fault_resume = 0;
		return;
	}
	console_write("x86: unexpected page fault at CR2=");
	console_hex(cr2, 8);
	console_write(" error=");
	console_hex(f->error, 1);
	console_write(f->error & 1 ? " (protection, " : " (not present, ");
	console_write(f->error & 2 ? "write, " : "read, ");
	console_write(f->error & 4 ? "user)" : "supervisor)");
	console_write(" EIP=");
	console_hex(f->eip, 8);
	console_write("\n");
	kernel_fail("unexpected page fault");
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == 14) {
		page_fault(f);
	} else if (f->vector == 32) {
		timer_ticks++;
		x86_outb(0x20, 0x20);  /* EOI */
	} else if (f->vector > 32) {
		/* Masked lines: only spurious IRQ 7/15 can arrive; they get no EOI on
		 * the PIC that raised them, but a slave spurious one needs the master's. */
		if (f->vector == 47)
			x86_outb(0x20, 0x20);
	} else {
		console_write("x86: exception ");
		console_dec(f->vector);
		console_write(" (");
		console_write(names[f->vector] ? names[f->vector] : "reserved");
		console_write(") error=");
		console_hex(f->error, 1);
		console_write(" EIP=");
		console_hex(f->eip, 8);
		console_write("\n");
		kernel_fail("unexpected CPU exception");
	}
}
