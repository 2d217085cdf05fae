/* test_config.h — liballoc configuration for the unit-test port (errno and error handler hooks). */
/* SPDX-License-Identifier: MIT */
#ifndef TEST_CONFIG_H
#define TEST_CONFIG_H

void test_port_set_errno(int e);
void test_port_on_error(int error, void *ptr);

#define LIBALLOC_SET_ERRNO(e) test_port_set_errno(e)
#define LIBALLOC_ERROR_HANDLER test_port_on_error

#endif
