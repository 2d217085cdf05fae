/* layout.h — the x86_64 example kernel's address-space layout, shared by boot.S, link.ld's users and the C files. */
/* SPDX-License-Identifier: MIT */
/*
 *   0x0000000000000000 ..                  the lower half: nothing mapped (NULL faults)
 *   0xFFFF800000000000  PHYS_MAP           every frame of RAM at PHYS_MAP + physical address
 *   0xFFFFA00000000000  SCRATCH_VA         one page, for the VMM's checks on the real MMU
 *   0xFFFFC00000000000  HEAP_BASE          the kernel heap (liballoc's pages), HEAP_BYTES long
 *   0xFFFFFFFF80000000  KERNEL_VMA         + physical address: the kernel image (-mcmodel=kernel)
 *   0xFFFFFFFFFFE00000  LAPIC_VA           the local APIC's registers (uncached)
 */
#ifndef LAYOUT_H
#define LAYOUT_H

#ifdef __ASSEMBLER__
#define U64(x) x
#else
#define U64(x) x##ull
#endif

#define KERNEL_VMA      U64(0xFFFFFFFF80000000)
#define PHYS_MAP        U64(0xFFFF800000000000)
#define SCRATCH_VA      U64(0xFFFFA00000000000)
#define HEAP_BASE       U64(0xFFFFC00000000000)
#define HEAP_BYTES      U64(0x40000000)          /* 1 GiB of address space */
#define LAPIC_VA        U64(0xFFFFFFFFFFE00000)
#define TRAMPOLINE_PHYS 0x8000                   /* AP start page: SIPI vector 0x08 */
#define BOOT_MAP_LIMIT  U64(0x100000000)         /* the boot tables map physical 0..4 GiB */

#endif
