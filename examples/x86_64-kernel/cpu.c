/* cpu.c — GDT, IDT, traps, local APIC, IPIs and PIT timing of the x86_64 example kernel, with recoverable expected page faults per CPU. */
/* SPDX-License-Identifier: MIT */
#include "kernel.h"

/* The frame boot.S builds: the 15 general registers, vector, error code, then
 * what the CPU pushed (in 64-bit mode always RIP, CS, RFLAGS, RSP, SS). */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

void trap_dispatch(struct trap_frame *f);
extern const uint64_t isr_table[256];

/* ---- descriptor tables --------------------------------------------------------- */

static const uint64_t gdt[3] = {
	0,
	0x00AF9A000000FFFFull,  /* 0x08: ring 0 code, 64-bit */
	0x00CF92000000FFFFull,  /* 0x10: ring 0 data */
};

struct idt_gate {
	uint16_t offset0, selector;
	uint8_t ist, type;
	uint16_t offset1;
	uint32_t offset2, zero;
} __attribute__((packed));

static struct idt_gate idt[256];

struct table_reg {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

void idt_build(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t a = isr_table[i];
		idt[i].offset0 = (uint16_t)a;
		idt[i].offset1 = (uint16_t)(a >> 16);
		idt[i].offset2 = (uint32_t)(a >> 32);
		idt[i].selector = 0x08;
		idt[i].ist = 0;
		idt[i].type = 0x8E;  /* present, ring 0, 64-bit interrupt gate (IF cleared) */
		idt[i].zero = 0;
	}
}

void cpu_load_tables(void)
{
	struct table_reg g = {sizeof gdt - 1, (uint64_t)(uintptr_t)gdt};
	struct table_reg i = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
	/* Reload CS with a far return, then the data segments. Loading GS clears
	 * the GS base: callers set it (x86_64_cpu_set_local) after this. */
	__asm__ volatile("lgdt %0\n\t"
			 "pushq $0x08\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\tmovl $0x10, %%eax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movw %%ax, %%fs\n\t"
			 "movw %%ax, %%gs\n\t"
			 "lidt %1"
			 : : "m"(g), "m"(i) : "rax", "memory");
}

/* ---- 8259 PIC: remapped out of the exception vectors, then masked ------------------- */

void pic_disable(void)
{
	static const uint8_t seq[][2] = {
		{0x20, 0x11}, {0xA0, 0x11},  /* ICW1: init, ICW4 follows */
		{0x21, 0x20}, {0xA1, 0x28},  /* ICW2: vector bases 0x20, 0x28 */
		{0x21, 0x04}, {0xA1, 0x02},  /* ICW3: slave on IRQ 2 */
		{0x21, 0x01}, {0xA1, 0x01},  /* ICW4: 8086 mode */
		{0x21, 0xFF}, {0xA1, 0xFF},  /* mask everything: the local APICs take over */
	};
	for (unsigned i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		x86_64_outb(seq[i][0], seq[i][1]);
		x86_64_outb(0x80, 0);  /* I/O delay */
	}
}

/* ---- PIT channel 2: busy waits of known length ------------------------------------ */

void pit_wait_us(unsigned us)
{
	while (us) {
		unsigned chunk = us > 50000 ? 50000 : us;
		uint32_t count = (uint32_t)((uint64_t)chunk * 1193182u / 1000000u);
		if (count == 0)
			count = 1;
		/* Gate on, speaker off; channel 2 in mode 0 (interrupt on terminal
		 * count): OUT2 (port 0x61 bit 5) goes high when the count runs out. */
		x86_64_outb(0x61, (uint8_t)((x86_64_inb(0x61) & ~0x02) | 0x01));
		x86_64_outb(0x43, 0xB0);
		x86_64_outb(0x42, (uint8_t)count);
		x86_64_outb(0x42, (uint8_t)(count >> 8));
		while (!(x86_64_inb(0x61) & 0x20))
			x86_64_pause();
		us -= chunk;
	}
}

/* ---- local APIC ---------------------------------------------------------------------- */

#define LAPIC_ID      0x020u
#define LAPIC_TPR     0x080u
#define LAPIC_EOI     0x0B0u
#define LAPIC_SVR     0x0F0u
#define LAPIC_IRR     0x200u
#define LAPIC_ESR     0x280u
#define LAPIC_ICR_LO  0x300u
#define LAPIC_ICR_HI  0x310u
#define LAPIC_TIMER   0x320u
#define LAPIC_INIT    0x380u
#define LAPIC_CURRENT 0x390u
#define LAPIC_DIVIDE  0x3E0u
#define ICR_BUSY      (1u << 12)

static inline uint32_t lapic_read(unsigned reg) { return *(volatile uint32_t *)(uintptr_t)(LAPIC_VA + reg); }
static inline void lapic_write(unsigned reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(LAPIC_VA + reg) = v; }

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

static void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

bool lapic_pending(unsigned vector) { return lapic_read(LAPIC_IRR + 0x10 * (vector / 32)) >> (vector % 32) & 1; }

void lapic_init_cpu(uint32_t timer_count)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);  /* software enable */
	lapic_write(LAPIC_ESR, 0);
	lapic_write(LAPIC_DIVIDE, 0x3);                    /* divide by 16 */
	if (timer_count) {
		lapic_write(LAPIC_TIMER, 0x20000 | TIMER_VECTOR);  /* periodic */
		lapic_write(LAPIC_INIT, timer_count);
	}
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_TIMER, 0x10000 | TIMER_VECTOR);  /* masked */
	lapic_write(LAPIC_INIT, 0);
}

uint32_t lapic_calibrate(void)
{
	lapic_write(LAPIC_DIVIDE, 0x3);
	lapic_write(LAPIC_TIMER, 0x10000 | TIMER_VECTOR);  /* one-shot, masked */
	lapic_write(LAPIC_INIT, 0xFFFFFFFFu);
	pit_wait_us(10000);
	uint32_t elapsed = 0xFFFFFFFFu - lapic_read(LAPIC_CURRENT);
	lapic_write(LAPIC_INIT, 0);
	uint32_t per_tick = elapsed / (TIMER_HZ / 100);
	return per_tick ? per_tick : 1;
}

/* Write the ICR with interrupts off (a handler sending its own IPI between the
 * two writes would change the destination), after the previous IPI left. */
static void icr_send(uint32_t apic_id, uint32_t low)
{
	unsigned long f = x86_64_irq_save();
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		x86_64_pause();
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, low);
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		x86_64_pause();
	x86_64_irq_restore(f);
}

void lapic_send_ipi(uint32_t apic_id, unsigned vector) { icr_send(apic_id, 0x4000u | vector); }

/* INIT, 10 ms, SIPI, 200 us, SIPI (Intel SDM vol. 3A, 8.4.4.1); the second SIPI
 * is ignored by a processor the first one started. */
void lapic_send_init_sipi(uint32_t apic_id, unsigned page)
{
	icr_send(apic_id, 0x4500u);  /* INIT, level assert */
	pit_wait_us(10000);
	icr_send(apic_id, 0x4600u | page);
	pit_wait_us(200);
	icr_send(apic_id, 0x4600u | page);
}

/* ---- exits ----------------------------------------------------------------------------- */

_Noreturn void qemu_exit(uint32_t value)
{
	x86_64_outl(0xF4, value);
	for (;;)  /* no isa-debug-exit device: stop here */
		__asm__ volatile("cli; hlt");
}

_Noreturn void kernel_fail(const char *reason)
{
	x86_64_irq_save();
	kprintf("liballoc-selftest: FAIL %s\n", reason);
	qemu_exit(EXIT_FAIL);
}

/* ---- traps ------------------------------------------------------------------------------ */

static const char *const names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
	"device not available", "double fault", "coprocessor overrun", "invalid TSS", "segment not present",
	"stack fault", "general protection fault", "page fault", "reserved", "x87 error", "alignment check",
	"machine check", "SIMD error", "virtualization", "control protection",
};

bool cpu_touch_faults(volatile unsigned char *addr)
{
	struct cpu *c = this_cpu();
	uint32_t faulted;
	c->fault_addr = (uintptr_t)addr;
	/* Publish the resume label, read, and clear it; the page-fault handler
	 * resumes at 1: with every register as it was at the faulting read. */
	__asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
			 "movq %%rax, %[resume]\n\t"
			 "movb (%[a]), %%al\n\t"
			 "xorl %[f], %[f]\n\t"
			 "jmp 2f\n"
			 "1:\tmovl $1, %[f]\n"
			 "2:\tmovq $0, %[resume]"
			 : [f] "=&r"(faulted), [resume] "=m"(c->fault_resume)
			 : [a] "r"(addr)
			 : "rax", "memory", "cc");
	c->fault_addr = 0;
	return faulted;
}

static void page_fault(struct trap_frame *f)
{
	uint64_t cr2 = x86_64_read_cr2();
	struct cpu *c = this_cpu();
	/* Expected: a read (no W bit), of a not-present page (no P bit), at the
	 * address cpu_touch_faults is reading on this CPU, by its one instruction. */
	if (c->fault_resume && cr2 == c->fault_addr && (f->error & 3) == 0) {
		c->expected_faults++;
		kprintf("x86_64: cpu %u: expected page fault at CR2=%016lx error=%lx (not present, read, supervisor): "
			"recovered\n",
			c->local.index, cr2, f->error);
		f->rip = c->fault_resume;
		c->fault_resume = 0;
		return;
	}
	kprintf("x86_64: cpu %u: unexpected page fault at CR2=%016lx error=%lx (%s, %s, %s%s%s) RIP=%016lx\n",
		c->local.index, cr2, f->error, f->error & 1 ? "protection" : "not present", f->error & 2 ? "write" : "read",
		f->error & 4 ? "user" : "supervisor", f->error & 8 ? ", reserved bit" : "",
		f->error & 16 ? ", instruction fetch" : "", f->rip);
	kernel_fail("unexpected page fault");
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == 14) {
		page_fault(f);
	} else if (f->vector == TIMER_VECTOR) {
		timer_tick();
		lapic_eoi();
	} else if (f->vector == TLB_VECTOR) {
		x86_64_tlb_ipi();  /* takes no lock: see x86_64_tlb.h */
		lapic_eoi();
	} else if (f->vector == SPURIOUS_VECTOR || (f->vector >= 0x20 && f->vector < 0x30)) {
		/* APIC spurious: no EOI. The masked 8259s can still raise spurious
		 * IRQ 7/15; a slave one needs the master's EOI. */
		if (f->vector == 0x2F)
			x86_64_outb(0x20, 0x20);
	} else {
		kprintf("x86_64: cpu %u: exception %lu (%s) error=%lx RIP=%016lx\n", x86_64_cpu_index(), f->vector,
			f->vector < 32 && names[f->vector] ? names[f->vector] : "unexpected vector", f->error, f->rip);
		kernel_fail("unexpected CPU exception");
	}
}
