/* pmm.c — the x86 port's physical frame allocator: Multiboot memory map onto flat_pages bitmaps (see x86_pmm.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_pmm.h"

/* The map entry at byte `off`, or NULL past the end or at a malformed entry
 * (size below 20 or running past the map: stop rather than read garbage). */
static const struct multiboot_mmap_entry *entry_at(const void *map, uint32_t length, uint32_t off)
{
	if (off > length || length - off < sizeof(struct multiboot_mmap_entry))
		return NULL;
	const struct multiboot_mmap_entry *e = (const void *)((const char *)map + off);
	return e->size >= 20 && e->size <= length - off - 4 ? e : NULL;
}

#define FOR_EACH_ENTRY(map, length, e) \
	for (uint32_t off_ = 0; ((e) = entry_at((map), (length), off_)) != NULL; off_ += (e)->size + 4)

size_t x86_pmm_storage_words(uint64_t top)
{
	uint64_t frames = (top >> X86_FRAME_SHIFT) + ((top & (X86_FRAME_SIZE - 1)) != 0);  /* no wrap near 2^64 */
	return flat_pages_words(frames < X86_PMM_MAX_FRAMES ? (size_t)frames : X86_PMM_MAX_FRAMES);
}

uint64_t x86_mmap_top(const void *map, uint32_t length)
{
	const struct multiboot_mmap_entry *e;
	uint64_t top = 0;
	FOR_EACH_ENTRY(map, length, e) {
		if (e->type != MULTIBOOT_MEMORY_AVAILABLE || e->addr >= X86_PMM_PHYS_LIMIT || e->len == 0)
			continue;
		uint64_t end = e->len > X86_PMM_PHYS_LIMIT - e->addr ? X86_PMM_PHYS_LIMIT : e->addr + e->len;
		if (end > top)
			top = end;
	}
	return top;
}

/* The part of [addr, addr + len) below `limit`, as (start, bytes); false if none. */
static bool clip(uint64_t addr, uint64_t len, uint64_t limit, uint64_t *bytes)
{
	if (addr >= limit || len == 0)
		return false;
	*bytes = len > limit - addr ? limit - addr : len;
	return true;
}

size_t x86_pmm_init_mmap(struct x86_pmm *pmm, const void *map, uint32_t length, uint32_t *storage, size_t words)
{
	const struct multiboot_mmap_entry *e;
	uint64_t top = x86_mmap_top(map, length), frames = (top + X86_FRAME_SIZE - 1) >> X86_FRAME_SHIFT;
	uint64_t capacity = (uint64_t)(words / 2) * 32;
	if (frames > capacity)
		frames = capacity;
	if (frames > X86_PMM_MAX_FRAMES)
		frames = X86_PMM_MAX_FRAMES;
	uint64_t limit = frames << X86_FRAME_SHIFT, bytes;
	flat_pages_init(&pmm->frames, 0, (size_t)frames, X86_FRAME_SHIFT, storage);
	pmm->ignored = 0;
	/* Available first, unusable second: an overlap always ends up unusable. */
	FOR_EACH_ENTRY(map, length, e) {
		if (e->type != MULTIBOOT_MEMORY_AVAILABLE)
			continue;
		if (clip(e->addr, e->len, limit, &bytes))
			flat_pages_release(&pmm->frames, (uintptr_t)e->addr, bytes);
		uint64_t from = e->addr > limit ? e->addr : limit, end = e->addr + e->len;
		if (end < e->addr)  /* wraps past 2^64: malformed, count what is representable */
			end = UINT64_MAX;
		if (end > from)
			pmm->ignored += end - from;
	}
	FOR_EACH_ENTRY(map, length, e) {
		if (e->type != MULTIBOOT_MEMORY_AVAILABLE && clip(e->addr, e->len, limit, &bytes))
			flat_pages_reserve(&pmm->frames, (uintptr_t)e->addr, bytes);
	}
	pmm->usable = pmm->frames.free;
	flat_pages_reserve(&pmm->frames, 0, X86_PMM_LOW_RESERVED);
	return pmm->frames.free;
}

void x86_pmm_reserve(struct x86_pmm *pmm, uint64_t base, uint64_t bytes)
{
	uint64_t n;
	if (clip(base, bytes, X86_PMM_PHYS_LIMIT, &n))
		flat_pages_reserve(&pmm->frames, (uintptr_t)base, n);
}

/* Length of the string at physical `addr` including its NUL (bounded: a string
 * without NUL reserves at most a page past its start). */
static uint32_t string_bytes(x86_phys_reader phys, uint32_t addr)
{
	const char *s = phys(addr);
	uint32_t n = 0;
	while (n < X86_FRAME_SIZE && s[n])
		n++;
	return n + 1;
}

size_t x86_pmm_init_multiboot(struct x86_pmm *pmm, uint32_t mbi_phys, x86_phys_reader phys,
			      uint32_t kernel_start, uint32_t kernel_end, uint32_t *storage, size_t words)
{
	const struct multiboot_info *mbi = phys(mbi_phys);
	if (mbi->flags & MULTIBOOT_INFO_MMAP) {
		x86_pmm_init_mmap(pmm, phys(mbi->mmap_addr), mbi->mmap_length, storage, words);
		x86_pmm_reserve(pmm, mbi->mmap_addr, mbi->mmap_length);
	} else if (mbi->flags & MULTIBOOT_INFO_MEMORY) {
		/* Old boot loaders: conventional memory from 0, extended from 1 MiB. */
		struct multiboot_mmap_entry map[2] = {
			{20, 0, (uint64_t)mbi->mem_lower << 10, MULTIBOOT_MEMORY_AVAILABLE},
			{20, X86_PMM_LOW_RESERVED, (uint64_t)mbi->mem_upper << 10, MULTIBOOT_MEMORY_AVAILABLE},
		};
		x86_pmm_init_mmap(pmm, map, sizeof map, storage, words);
	} else {
		flat_pages_init(&pmm->frames, 0, 0, X86_FRAME_SHIFT, storage);
		pmm->usable = 0;
		pmm->ignored = 0;
		return 0;
	}
	x86_pmm_reserve(pmm, kernel_start, kernel_end > kernel_start ? kernel_end - kernel_start : 0);
	x86_pmm_reserve(pmm, mbi_phys, sizeof *mbi);
	if (mbi->flags & MULTIBOOT_INFO_CMDLINE)
		x86_pmm_reserve(pmm, mbi->cmdline, string_bytes(phys, mbi->cmdline));
	if (mbi->flags & MULTIBOOT_INFO_LOADER)
		x86_pmm_reserve(pmm, mbi->boot_loader_name, string_bytes(phys, mbi->boot_loader_name));
	if (mbi->flags & MULTIBOOT_INFO_ELF)
		x86_pmm_reserve(pmm, mbi->syms[2], (uint64_t)mbi->syms[0] * mbi->syms[1]);
	if ((mbi->flags & MULTIBOOT_INFO_MODS) && mbi->mods_count) {
		const struct multiboot_module *mod = phys(mbi->mods_addr);
		x86_pmm_reserve(pmm, mbi->mods_addr, (uint64_t)mbi->mods_count * sizeof *mod);
		for (uint32_t i = 0; i < mbi->mods_count; i++) {
			if (mod[i].mod_end > mod[i].mod_start)
				x86_pmm_reserve(pmm, mod[i].mod_start, mod[i].mod_end - mod[i].mod_start);
			if (mod[i].string)
				x86_pmm_reserve(pmm, mod[i].string, string_bytes(phys, mod[i].string));
		}
	}
	return pmm->frames.free;
}

x86_paddr x86_pmm_alloc(struct x86_pmm *pmm)
{
	return (x86_paddr)(uintptr_t)flat_pages_alloc(&pmm->frames, 1, UINTPTR_MAX);
}

x86_paddr x86_pmm_alloc_run(struct x86_pmm *pmm, size_t count)
{
	return (x86_paddr)(uintptr_t)flat_pages_alloc(&pmm->frames, count, UINTPTR_MAX);
}

x86_paddr x86_pmm_alloc_below(struct x86_pmm *pmm, size_t count, uint64_t limit)
{
	uintptr_t lim = limit > (uint64_t)UINTPTR_MAX ? UINTPTR_MAX : (uintptr_t)limit;
	return (x86_paddr)(uintptr_t)flat_pages_alloc(&pmm->frames, count, lim);
}

int x86_pmm_free(struct x86_pmm *pmm, x86_paddr phys, size_t count)
{
	return flat_pages_free(&pmm->frames, (void *)(uintptr_t)phys, count);
}

bool x86_pmm_allocated(const struct x86_pmm *pmm, x86_paddr phys)
{
	return flat_pages_given(&pmm->frames, phys);
}
