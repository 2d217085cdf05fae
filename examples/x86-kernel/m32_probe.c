/* m32_probe.c — configure-time probe: can the host gcc link -m32 freestanding code against the 32-bit libgcc? */
/* SPDX-License-Identifier: MIT */
unsigned long long probe_div(unsigned long long a, unsigned long long b);
unsigned long long probe_div(unsigned long long a, unsigned long long b) { return a / b; }  /* needs __udivdi3 */
void probe_start(void);
void probe_start(void) {}
