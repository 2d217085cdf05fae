/* x86_port.h — the x86 paged-kernel port in one include: PMM, VMM, heap hooks and the glue between them. */
/* SPDX-License-Identifier: MIT */
/*
 * The stack every hobby OS ends up with, bottom up:
 *   pmm.c    physical frames from the Multiboot memory map   (x86_pmm.h)
 *   vmm.c    page directory and page tables, 4 KiB pages      (x86_vmm.h)
 *   hooks.c  liballoc's four hooks over any PMM/VMM            (x86_heap.h)
 *   glue.c   hooks.c's ops implemented with pmm.c and vmm.c   (this header)
 * and liballoc.c on top, configured by liballoc_x86.h (kmalloc, kfree, ...).
 * examples/x86-kernel is a Multiboot kernel that boots all of it in QEMU.
 */
#ifndef X86_PORT_H
#define X86_PORT_H

#include "x86_heap.h"
#include "x86_pmm.h"
#include "x86_vmm.h"

/* The managers the heap draws from. */
struct x86_mm {
	struct x86_pmm *pmm;
	struct x86_vmm *vmm;
};

/* Fill *ops so that the heap hooks take single frames from mm->pmm and map
 * them supervisor read/write with mm->vmm (page tables from the VMM's own
 * table_alloc). `mm` must outlive the heap. O(1). */
void x86_heap_ops_init(struct x86_heap_ops *ops, struct x86_mm *mm);

#endif
