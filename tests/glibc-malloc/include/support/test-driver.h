/* support/test-driver.h — glibc's test header name, answered by our stand-in glibc_support.h. */
/* SPDX-License-Identifier: MIT */
#include "../glibc_support.h"
