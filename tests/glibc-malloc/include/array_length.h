/* array_length.h — glibc's internal array_length macro, for its malloc tests. */
/* SPDX-License-Identifier: MIT */
#ifndef ARRAY_LENGTH_H
#define ARRAY_LENGTH_H
#define array_length(a) (sizeof(a) / sizeof((a)[0]))
#endif
