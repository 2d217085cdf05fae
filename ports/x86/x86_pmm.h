/* x86_pmm.h — physical memory manager of the x86 port: 4 KiB frames from the Multiboot memory map. */
/* SPDX-License-Identifier: MIT */
/*
 * The PMM tracks the frames of physical memory below 2^X86_PMM_PHYS_BITS (4 GiB
 * by default: 32-bit paging has no more; the x86_64 port builds it with 52) in
 * the two bitmaps of ports/flat/flat_pages (free / handed out), so it can tell a
 * frame it handed out from one it never did: freeing a frame twice, freeing a
 * reserved frame or one it never handed out is detected and refused.
 *
 * Units: physical addresses are x86_paddr BYTES (uint32_t by default, uint64_t
 * when X86_PMM_PHYS_BITS > 32); counts are FRAMES of X86_FRAME_SIZE (4096)
 * bytes. A valid frame is never at physical address 0 (low memory is always
 * reserved), so 0 means "no frame".
 *
 * Policy: first fit from the lowest address. Memory-map overlaps are resolved
 * in favour of "unusable": every AVAILABLE range is released first (rounded
 * inwards to whole frames), then every other range is reserved (rounded
 * outwards), whatever the order of the entries.
 *
 * Thread-safety: none. Callers serialise: the liballoc hooks run under the heap
 * lock (interrupts off); any other user must disable interrupts or hold its own
 * lock. Not callable from an interrupt handler that may interrupt a PMM call.
 */
#ifndef X86_PMM_H
#define X86_PMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flat_pages.h"
#include "multiboot.h"

#define X86_FRAME_SIZE  4096u
#define X86_FRAME_SHIFT 12u

/* Physical address bits the PMM manages: 32 (i686 without PAE, the default) or,
 * on a 64-bit build, up to 52 (x86_64). Define it the same way for pmm.c and
 * every file that includes this header. */
#ifndef X86_PMM_PHYS_BITS
#define X86_PMM_PHYS_BITS 32
#endif
#if X86_PMM_PHYS_BITS == 32
typedef uint32_t x86_paddr;
/* Frames the PMM can manage at most: [0, 0xFFFFF000). The last frame of the
 * 32-bit space is the reset vector's ROM, never RAM; leaving it out keeps every
 * run's end address, and the bitmap region's, representable in 32 bits. */
#define X86_PMM_MAX_FRAMES 0xFFFFFu
#elif X86_PMM_PHYS_BITS > 32 && X86_PMM_PHYS_BITS <= 52 && UINTPTR_MAX > 0xFFFFFFFFu
typedef uint64_t x86_paddr;
/* The same rule: the last frame below the limit is left out. */
#define X86_PMM_MAX_FRAMES ((size_t)(((uint64_t)1 << (X86_PMM_PHYS_BITS - X86_FRAME_SHIFT)) - 1))
#else
#error "X86_PMM_PHYS_BITS: 32, or 33..52 on a 64-bit build"
#endif
/* Physical memory at or above this is never managed (counted in `ignored`). */
#define X86_PMM_PHYS_LIMIT ((uint64_t)1 << X86_PMM_PHYS_BITS)
/* Physical memory below this is never handed out (IVT, BDA, EBDA, VGA, BIOS). */
#define X86_PMM_LOW_RESERVED 0x100000u

struct x86_pmm {
	struct flat_pages frames;  /* page i = frame at physical i * 4096 */
	size_t usable;             /* frames the map offers that the PMM manages (before
	                              low memory and boot reservations) */
	uint64_t ignored;          /* bytes of AVAILABLE ranges beyond the bitmap's capacity
	                              or X86_PMM_PHYS_LIMIT, summed over entries: never handed out */
};

/* 32-bit words of bitmap storage needed to manage the frames below `top` (a
 * physical byte address, clamped to the PMM's maximum): 64 KiB per GiB. O(1). */
size_t x86_pmm_storage_words(uint64_t top);
/* The same for a static array: words for `frames` frames (a constant expression;
 * X86_PMM_STORAGE_WORDS(X86_PMM_MAX_FRAMES) covers all 4 GiB in 256 KiB with
 * the default 32 bits). */
#define X86_PMM_STORAGE_WORDS(frames) (2 * (((frames) + 31) / 32))

/* End (exclusive, bytes) of the highest AVAILABLE range of a Multiboot memory
 * map below X86_PMM_PHYS_LIMIT (4 GiB by default): pass it to
 * x86_pmm_storage_words. `map` points to `length` bytes of entries. 0 if there
 * is none. O(entries). */
uint64_t x86_mmap_top(const void *map, uint32_t length);

/* Start managing physical memory from a Multiboot memory map (`length` bytes of
 * entries at `map`), with `words` words of `storage` for the bitmaps (their
 * capacity bounds the frames managed; memory beyond is counted in `ignored`).
 * Afterwards the AVAILABLE frames are free, except low memory (below 1 MiB).
 * The storage itself must be reserved by the caller if it lies in available
 * memory (it normally lives in the kernel image, which the caller reserves).
 * Returns the number of free frames, or 0 when the map has no usable frame.
 * O(entries * frames / 32). Not thread-safe. */
size_t x86_pmm_init_mmap(struct x86_pmm *pmm, const void *map, uint32_t length, uint32_t *storage, size_t words);

/* Translates a physical address of a boot structure into a pointer the caller
 * can read (identity before paging; a test buffer on the host). */
typedef const void *(*x86_phys_reader)(uint32_t phys);

/* Start managing physical memory from the Multiboot information at physical
 * address `mbi` (EBX at entry): the
 * memory map if the boot loader gave one, else mem_lower/mem_upper. Reserves,
 * besides low memory: [kernel_start, kernel_end) (the kernel image, with its bss
 * and the storage if it lives there), the information structure, the memory map,
 * the command line, the module list, each module and its string, the ELF section
 * headers and the boot loader name. `phys` reads the structures.
 * Returns the number of free frames; 0 when no memory information is present or
 * nothing is usable. Not thread-safe; call once, before anything else. */
size_t x86_pmm_init_multiboot(struct x86_pmm *pmm, uint32_t mbi, x86_phys_reader phys,
			      uint32_t kernel_start, uint32_t kernel_end, uint32_t *storage, size_t words);

/* Mark every frame touching [base, base + bytes) reserved (rounds outwards;
 * frames currently handed out stay handed out). For ranges the PMM cannot know:
 * initrd, ACPI tables found later, device memory. O(frames in range). */
void x86_pmm_reserve(struct x86_pmm *pmm, uint64_t base, uint64_t bytes);

/* One frame: its physical address (4 KiB aligned), or 0 when none is free.
 * Content unspecified. O(1) typically (the search starts at the lowest free
 * frame), O(frames / 32) worst case. Not thread-safe. */
x86_paddr x86_pmm_alloc(struct x86_pmm *pmm);

/* `count` (>= 1) physically contiguous frames: the address of the first, or 0
 * when no free run is that long. First fit. O(frames / 32). Not thread-safe. */
x86_paddr x86_pmm_alloc_run(struct x86_pmm *pmm, size_t count);

/* `count` contiguous frames whose run ENDS at or below the physical byte address
 * `limit` (e.g. 16 MiB for ISA DMA, or what the kernel can reach through its
 * identity map): the address of the first, or 0. O(frames / 32). */
x86_paddr x86_pmm_alloc_below(struct x86_pmm *pmm, size_t count, uint64_t limit);

/* Return `count` frames starting at `phys` (any sub-range of runs handed out,
 * in any order). Returns 0, or -1 without changing anything when `phys` is not
 * frame aligned, `count` is 0, or any frame in the range is not currently handed
 * out: a double free, a reserved frame, one never handed out, out of range.
 * O(count / 32). Not thread-safe. */
int x86_pmm_free(struct x86_pmm *pmm, x86_paddr phys, size_t count);

/* Frames free right now. O(1). */
static inline size_t x86_pmm_free_frames(const struct x86_pmm *pmm) { return pmm->frames.free; }

/* Is the frame containing `phys` handed out? O(1). */
bool x86_pmm_allocated(const struct x86_pmm *pmm, x86_paddr phys);

#endif
