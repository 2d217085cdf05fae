/* fuzz_config.h — liballoc configuration of the fuzz port: errno and the recording error handler. */
/* SPDX-License-Identifier: MIT */
#ifndef FUZZ_CONFIG_H
#define FUZZ_CONFIG_H

void fuzz_port_set_errno(int e);
void fuzz_port_on_error(int error, void *ptr);

#define LIBALLOC_SET_ERRNO(e) fuzz_port_set_errno(e)
#define LIBALLOC_ERROR_HANDLER fuzz_port_on_error

#endif
