/* acpi.c — find the processors of the x86_64 example kernel's machine: RSDP, RSDT/XSDT, then the MADT's local APIC entries. */
/* SPDX-License-Identifier: MIT */
/*
 * ACPI 6.4: the RSDP (5.2.5) lies on a 16-byte boundary in the first KiB of the
 * EBDA or in 0xE0000..0xFFFFF; it points to the RSDT (32-bit entries) or, from
 * revision 2, the XSDT (64-bit entries); the table signed "APIC" is the MADT
 * (5.2.12), whose type-0 entries are the processors' local APICs. Reads go
 * through PHYS_MAP, which the boot page tables map for the first 4 GiB, so this
 * runs before the kernel's own page tables replace them. Every table's checksum
 * is verified; a table that fails it is ignored.
 */
#include "kernel.h"

struct sdt {
	char sig[4];
	uint32_t length;
	uint8_t revision, checksum;
	char oem[6], oem_table[8];
	uint32_t oem_revision, creator, creator_revision;
} __attribute__((packed));

static const uint8_t *phys(uint64_t pa) { return (const uint8_t *)(uintptr_t)(PHYS_MAP + pa); }

static bool sum_ok(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s == 0;
}

static bool sig_is(const void *p, const char *sig, size_t n)
{
	const char *a = p;
	for (size_t i = 0; i < n; i++)
		if (a[i] != sig[i])
			return false;
	return true;
}

static const uint8_t *find_rsdp(uint64_t from, uint64_t to)
{
	for (uint64_t a = from & ~15ull; a + 20 <= to; a += 16) {
		const uint8_t *p = phys(a);
		if (sig_is(p, "RSD PTR ", 8) && sum_ok(p, 20))
			return p;
	}
	return NULL;
}

/* A table at physical `pa`, if its length is sane and its checksum right. */
static const struct sdt *table_at(uint64_t pa)
{
	if (pa == 0 || pa >= BOOT_MAP_LIMIT - 0x10000)
		return NULL;
	const struct sdt *t = (const struct sdt *)phys(pa);
	if (t->length < sizeof *t || t->length > 0x10000 || !sum_ok((const uint8_t *)t, t->length))
		return NULL;
	return t;
}

unsigned acpi_cpus(uint32_t *apic_ids, unsigned max, uint64_t *lapic_phys)
{
	uint64_t ebda = (uint64_t)*(const uint16_t *)phys(0x40E) << 4;
	const uint8_t *rsdp = ebda >= 0x80000 && ebda < 0xA0000 ? find_rsdp(ebda, ebda + 1024) : NULL;
	if (!rsdp)
		rsdp = find_rsdp(0xE0000, 0x100000);
	if (!rsdp)
		return 0;
	uint32_t rsdt = *(const uint32_t *)(rsdp + 16);
	uint64_t xsdt = rsdp[15] >= 2 ? *(const uint64_t *)(rsdp + 24) : 0;
	const struct sdt *root = xsdt ? table_at(xsdt) : NULL;
	unsigned entry = 8;
	if (!root) {
		root = table_at(rsdt);
		entry = 4;
	}
	if (!root)
		return 0;
	const uint8_t *e = (const uint8_t *)(root + 1), *end = (const uint8_t *)root + root->length;
	for (; e + entry <= end; e += entry) {
		uint64_t pa = entry == 8 ? *(const uint64_t *)e : *(const uint32_t *)e;
		const struct sdt *t = table_at(pa);
		if (!t || !sig_is(t->sig, "APIC", 4) || t->length < sizeof *t + 8)
			continue;
		const uint8_t *m = (const uint8_t *)(t + 1), *mend = (const uint8_t *)t + t->length;
		*lapic_phys = *(const uint32_t *)m;
		unsigned n = 0;
		for (m += 8; m + 2 <= mend && m[1] >= 2 && m + m[1] <= mend; m += m[1]) {
			if (m[0] == 0 && m[1] >= 8 && (*(const uint32_t *)(m + 4) & 1) && n < max)
				apic_ids[n++] = m[3];           /* processor local APIC, enabled */
			else if (m[0] == 5 && m[1] >= 12)
				*lapic_phys = *(const uint64_t *)(m + 4);  /* address override */
		}
		return n;
	}
	return 0;
}
