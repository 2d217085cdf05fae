/* libc-diag.h — glibc's internal warning-control macros, as the malloc tests use them (pragmas around deliberate misuse). */
/* SPDX-License-Identifier: MIT */
#ifndef LIBC_DIAG_H
#define LIBC_DIAG_H
#define DIAG_PRAGMA_(x) _Pragma(#x)
#define DIAG_PUSH_NEEDS_COMMENT _Pragma("GCC diagnostic push")
#define DIAG_POP_NEEDS_COMMENT _Pragma("GCC diagnostic pop")
/* version: the GCC version the warning appeared in (unused here) */
#define DIAG_IGNORE_NEEDS_COMMENT(version, option) DIAG_PRAGMA_(GCC diagnostic ignored option)
#define DIAG_IGNORE_Os_NEEDS_COMMENT(version, option)
#endif
