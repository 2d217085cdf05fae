/* multiboot.h — the Multiboot v1 boot information the x86 port's PMM reads (memory map, modules, command line). */
/* SPDX-License-Identifier: MIT */
/*
 * Layout from the Multiboot Specification 0.6.96, section 3.3. Only the fields
 * up to boot_loader_name are declared: the PMM reads no further. Every address
 * in these structures is PHYSICAL and 32-bit; map entries carry 64-bit ranges.
 */
#ifndef X86_MULTIBOOT_H
#define X86_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC     0x1BADB002u  /* in the kernel image */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u  /* in EAX at entry */

/* multiboot_info.flags: which fields are valid. */
#define MULTIBOOT_INFO_MEMORY  (1u << 0)  /* mem_lower, mem_upper */
#define MULTIBOOT_INFO_CMDLINE (1u << 2)
#define MULTIBOOT_INFO_MODS    (1u << 3)
#define MULTIBOOT_INFO_ELF     (1u << 5)  /* syms = ELF section header table */
#define MULTIBOOT_INFO_MMAP    (1u << 6)
#define MULTIBOOT_INFO_LOADER  (1u << 9)  /* boot_loader_name */

/* Memory map entry types; anything but AVAILABLE is treated as unusable. */
#define MULTIBOOT_MEMORY_AVAILABLE 1u
#define MULTIBOOT_MEMORY_RESERVED  2u
#define MULTIBOOT_MEMORY_ACPI      3u
#define MULTIBOOT_MEMORY_NVS       4u
#define MULTIBOOT_MEMORY_BADRAM    5u

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;        /* KiB of memory from 0 */
	uint32_t mem_upper;        /* KiB of memory from 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;          /* physical address of a NUL-terminated string */
	uint32_t mods_count;
	uint32_t mods_addr;        /* physical address of mods_count struct multiboot_module */
	uint32_t syms[4];          /* ELF: num, size, addr, shndx */
	uint32_t mmap_length;      /* bytes of memory map */
	uint32_t mmap_addr;        /* physical address of the first struct multiboot_mmap_entry */
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
};

/* One memory map entry. `size` counts the bytes after itself (20 or more), so the
 * next entry is at (char *)entry + size + 4. Not naturally aligned: packed. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

struct multiboot_module {
	uint32_t mod_start;        /* physical [mod_start, mod_end) */
	uint32_t mod_end;
	uint32_t string;           /* physical address of its command line */
	uint32_t reserved;
};

_Static_assert(offsetof(struct multiboot_info, mmap_length) == 44 && sizeof(struct multiboot_info) == 68,
	       "multiboot_info layout (spec offsets)");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "mmap entry layout");

#endif
