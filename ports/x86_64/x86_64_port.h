/* x86_64_port.h — the x86_64 SMP port in one include: PMM, VMM, heap hooks, spinlock, TLB shootdown and the glue between them. */
/* SPDX-License-Identifier: MIT */
/*
 * The stack every 64-bit SMP hobby OS ends up with, bottom up:
 *   ports/x86/pmm.c  physical frames from the Multiboot memory map (x86_pmm.h;
 *                    built with X86_PMM_PHYS_BITS=52: memory above 4 GiB too)
 *   vmm.c            4-level page tables, 4 KiB pages          (x86_64_vmm.h)
 *   spinlock.c       ticket lock, interrupts off, nesting       (x86_64_spinlock.h)
 *   tlb.c            TLB shootdown by IPI or spin-loop polling  (x86_64_tlb.h)
 *   hooks.c          liballoc's four hooks over any PMM/VMM      (x86_64_heap.h)
 *   glue.c           hooks.c's ops with pmm.c, vmm.c, tlb.c      (this header)
 * and liballoc.c on top, configured by liballoc_x86_64.h (kmalloc, kfree, ...).
 * examples/x86_64-kernel boots all of it in QEMU on every CPU.
 */
#ifndef X86_64_PORT_H
#define X86_64_PORT_H

#include <stdbool.h>

#include "x86_64_heap.h"
#include "x86_64_tlb.h"
#include "x86_64_vmm.h"
#include "x86_pmm.h"

#if X86_PMM_PHYS_BITS != 52
#error "build the x86_64 port with -DX86_PMM_PHYS_BITS=52 (pmm.c and every file including x86_pmm.h)"
#endif

/* The managers the heap draws from. */
struct x86_64_mm {
	struct x86_pmm *pmm;
	struct x86_64_vmm *vmm;
	bool smp;                /* shoot unmapped heap pages down on the other CPUs */
};

/* Fill *ops so that the heap hooks take single frames from mm->pmm (asking its
 * free count first), map them
 * supervisor read/write, no-execute (the kernel must set EFER.NXE) with
 * mm->vmm (page tables from the VMM's own table_alloc), and, if mm->smp, shoot
 * unmapped pages down with x86_64_tlb_shootdown. `mm` must outlive the heap.
 * O(1). */
void x86_64_heap_ops_init(struct x86_64_heap_ops *ops, struct x86_64_mm *mm);

#endif
