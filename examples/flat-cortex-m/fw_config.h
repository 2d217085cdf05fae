/* fw_config.h — liballoc configuration of the Cortex-M3 firmware (LIBALLOC_CONFIG_HEADER for every firmware source). */
/* SPDX-License-Identifier: MIT */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

/* Interrupt handlers allocate: mask interrupts (PRIMASK) around the heap. */
#define LIBALLOC_FLAT_LOCK LIBALLOC_FLAT_LOCK_IRQ
/* The heap is [__heap_start, __heap_end) from link.ld; no init call needed. */
#define LIBALLOC_FLAT_HEAP_SYMBOLS 1

/* Small RAM: cap chunks at 256 KiB. The core grows chunks geometrically (each
 * half of what it holds) and fails an allocation when the region has no free run
 * that long, so the cap bounds what small allocations cannot reach at exhaustion
 * (with the default 4 MiB cap, about a third of this 4 MiB heap). */
#define LIBALLOC_CHUNK_MAX (256u * 1024u)

/* Misuse is printed on the UART (the self-test then fails on stats.errors). */
void fw_on_error(int error, void *ptr);
#define LIBALLOC_ERROR_HANDLER fw_on_error

#endif
