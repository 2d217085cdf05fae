/* boot.S — Multiboot v1 header, entry point and interrupt stubs of the x86 example kernel. */
/* SPDX-License-Identifier: MIT */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003   /* page-align modules, provide memory information */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.section .bss
	.balign 16
stack_bottom:
	.skip 32768
	.global stack_top
stack_top:

	.text
	.global _start
	.type _start, @function
/* The boot loader leaves us in 32-bit protected mode, paging off, interrupts
 * off, EAX = Multiboot magic, EBX = physical address of the information. */
_start:
	cli
	movl %eax, %esi
	movl %ebx, %edx
	movl $bss_start, %edi   /* zero the bss ourselves: not every loader does */
	movl $kernel_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	cld
	rep stosb
	movl $stack_top, %esp
	xorl %ebp, %ebp
	pushl $0
	popfl                   /* known EFLAGS: IF=0, DF=0 */
	pushl %edx              /* kmain(magic, mbi) */
	pushl %esi
	call kmain
1:	cli
	hlt
	jmp 1b

/* Interrupt stubs: push a dummy error code where the CPU pushes none, then the
 * vector, so every trap frame has the same layout (struct trap_frame). */
.macro ISR_NOERR n
isr\n:
	pushl $0
	pushl $\n
	jmp isr_common
.endm
.macro ISR_ERR n
isr\n:
	pushl $\n
	jmp isr_common
.endm

.irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
	ISR_NOERR \n
.endr
.irp n, 8,10,11,12,13,14,17,21,29,30
	ISR_ERR \n
.endr
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	ISR_NOERR \n
.endr

isr_common:
	pushal
	pushl %ds
	pushl %es
	pushl %fs
	pushl %gs
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	cld
	pushl %esp              /* struct trap_frame * */
	call trap_dispatch
	addl $4, %esp
	popl %gs
	popl %fs
	popl %es
	popl %ds
	popal
	addl $8, %esp           /* vector and error code */
	iret

	.section .rodata
	.balign 4
	.global isr_table
isr_table:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	.long isr\n
.endr

	.section .note.GNU-stack, "", @progbits
