/* boot.S — the x86_64 example kernel's Multiboot header, 32-bit entry into long mode, boot page tables, AP trampoline and interrupt stubs. */
/* SPDX-License-Identifier: MIT */
/*
 * QEMU's Multiboot loader (hw/i386/multiboot.c, QEMU 7.2) refuses an x86-64 ELF
 * ("Cannot load x86-64 image, give a 32bit one") unless the header sets the
 * address fields flag (bit 16, the "a.out kludge"): then it ignores the ELF
 * headers and copies the file from the header's offset to load_addr, up to
 * load_end_addr, and zeroes up to bss_end_addr. link.ld lays the loaded
 * sections out contiguously in the file, in physical order, for that.
 *
 * The loader starts us in 32-bit protected mode, paging off. _start enables
 * PAE, loads the boot page tables below, sets EFER.LME and NXE, enables paging
 * and far-jumps into 64-bit code, which jumps to kmain in the higher half.
 * The boot tables map, with 2 MiB pages, the first 4 GiB three times: identity
 * (this code), at PHYS_MAP (0xFFFF800000000000: the kernel reads boot
 * structures and ACPI there) and at KERNEL_VMA (0xFFFFFFFF80000000: the kernel
 * image, linked at -2 GiB for -mcmodel=kernel). kmain then builds its own 4 KiB
 * page tables with the port's VMM and switches to them; the boot tables stay
 * for the application processors' trampoline.
 */
#include "layout.h"

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010003   /* page-align modules, memory information, address fields valid */

#define EFER 0xC0000080
#define EFER_LME_NXE 0x900    /* long mode enable (bit 8), no-execute enable (bit 11) */
#define CR0_PG_WP_PE 0x80010001
#define CR4_PAE 0x20

/* ---- low memory: Multiboot header, 32-bit entry, boot tables --------------- */

	.section .boot, "awx"
	.code32
	.balign 8
multiboot_header:
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
	.long multiboot_header      /* header_addr */
	.long kernel_phys_start     /* load_addr */
	.long kernel_load_end_phys  /* load_end_addr: end of .data */
	.long kernel_phys_end       /* bss_end_addr */
	.long _start                /* entry_addr */

	.global _start
	.type _start, @function
/* EAX = Multiboot magic, EBX = physical address of the boot information. */
_start:
	cli
	cld
	movl %eax, %ebp
	movl %ebx, %esi
	movl $kernel_bss_start_phys, %edi   /* zero the bss ourselves: not every loader does */
	movl $kernel_phys_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	/* Long mode and NX present? (CPUID 0x80000001: EDX bits 29 and 20) */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode
	btl $20, %edx
	jnc no_long_mode
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $EFER, %ecx
	rdmsr
	orl $EFER_LME_NXE, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG_WP_PE, %eax
	movl %eax, %cr0             /* paging on: long mode active (compatibility mode) */
	lgdt boot_gdtr
	ljmp $0x08, $long_entry

/* Print a line on COM1 and leave QEMU with the failure status (35). */
no_long_mode:
	movl $no_long_mode_msg, %esi
1:	lodsb
	testb %al, %al
	jz 2f
	movw $0x3F8, %dx
	outb %al, %dx
	jmp 1b
2:	movl $0x11, %eax
	movw $0xF4, %dx
	outl %eax, %dx
3:	hlt
	jmp 3b

	.code64
long_entry:
	movl $0x10, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movabsq $boot_stack_top, %rsp
	movl %ebp, %edi             /* kmain(magic, mbi): zero-extended */
	movl %esi, %esi
	xorl %ebp, %ebp
	movabsq $kmain, %rax
	callq *%rax
4:	cli
	hlt
	jmp 4b

no_long_mode_msg:
	.asciz "liballoc-selftest: FAIL this CPU has no long mode or no NX\n"

/* Flat segments: 0x08 64-bit code, 0x10 data, 0x18 32-bit code. */
	.balign 16
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0x00CF9A000000FFFF
boot_gdt_end:
boot_gdtr:
	.word boot_gdt_end - boot_gdt - 1
	.quad boot_gdt

	.balign 4096
	.global boot_pml4
boot_pml4:
	.quad boot_pdpt_low + 3             /* [0]: identity, 0..4 GiB */
	.fill 255, 8, 0
	.quad boot_pdpt_low + 3             /* [256]: PHYS_MAP, 0..4 GiB */
	.fill 254, 8, 0
	.quad boot_pdpt_kernel + 3          /* [511]: KERNEL_VMA, 0..2 GiB */
boot_pdpt_low:
	.quad boot_pd + 3, boot_pd + 0x1003, boot_pd + 0x2003, boot_pd + 0x3003
	.fill 508, 8, 0
boot_pdpt_kernel:
	.fill 510, 8, 0
	.quad boot_pd + 3, boot_pd + 0x1003
boot_pd:                                /* 2048 x 2 MiB pages: present, writable, PS */
	.set page, 0
	.rept 2048
	.quad (page << 21) | 0x83
	.set page, page + 1
	.endr

/* ---- AP trampoline: copied to TRAMPOLINE_PHYS, entered by a SIPI ------------ */
/* Real mode at CS:IP = (TRAMPOLINE_PHYS >> 4):0. Everything it addresses is at a
 * fixed physical address inside the copy, computed with TR(). The BSP fills in
 * tr_cr3 (the boot PML4, which maps this page and the kernel), tr_stack, tr_entry
 * and tr_cpu before each start. */
#define TR(label) (TRAMPOLINE_PHYS + (label) - trampoline_start)

	.section .rodata
	.balign 16
	.global trampoline_start, trampoline_end, tr_cr3, tr_stack, tr_entry, tr_cpu
	.code16
trampoline_start:
	cli
	cld
	ljmpl $0, $TR(tr_real)
tr_real:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	lgdtl TR(tr_gdtr)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x18, $TR(tr_prot)
	.code32
tr_prot:
	movl $0x10, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl TR(tr_cr3), %eax
	movl %eax, %cr3
	movl $EFER, %ecx
	rdmsr
	orl $EFER_LME_NXE, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG_WP_PE, %eax
	movl %eax, %cr0
	ljmpl $0x08, $TR(tr_long)
	.code64
tr_long:
	movl $0x10, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq TR(tr_stack), %rsp
	movl TR(tr_cpu), %edi
	movq TR(tr_entry), %rax
	jmpq *%rax                  /* ap_main(cpu): never returns */
	.balign 16
tr_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0x00CF9A000000FFFF
tr_gdtr:
	.word 31
	.long TR(tr_gdt)
	.balign 8
tr_cr3:	.quad 0
tr_stack: .quad 0
tr_entry: .quad 0
tr_cpu:	.quad 0
trampoline_end:

/* ---- the BSP's stack ----------------------------------------------------------- */

	.section .bss
	.balign 16
boot_stack:
	.skip 16384
boot_stack_top:

/* ---- interrupt stubs ----------------------------------------------------------- */
/* Every vector pushes a dummy error code where the CPU pushes none, then its
 * number, so every trap frame has the layout of struct trap_frame. */
	.text
	.altmacro
.macro isr_stub n
isr\n:
	.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
.endm
	.set vec, 0
	.rept 256
	isr_stub %vec
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi             /* struct trap_frame *: 16-byte aligned here */
	call trap_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp              /* vector and error code */
	iretq

	.section .rodata
	.balign 8
	.global isr_table
.macro isr_entry n
	.quad isr\n
.endm
isr_table:
	.set vec, 0
	.rept 256
	isr_entry %vec
	.set vec, vec + 1
	.endr

	.section .note.GNU-stack, "", @progbits
