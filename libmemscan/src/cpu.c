/* SPDX-License-Identifier: MIT */
/* CPU features: whether the AVX2 paths (diff run finding, match filtering, snapfile checksums) may run. */
#include <stdatomic.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
static atomic_int g_simd_off;

void ms_set_simd(int on)
{
	atomic_store(&g_simd_off, !on);
}

int ms_have_avx2(void)
{
	static atomic_int have = -1; /* racing first callers store the same value */

	if (atomic_load(&g_simd_off))
		return 0;
	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx2") ? 1 : 0;
	}
	return have;
}
#else
void ms_set_simd(int on)
{
	(void)on;
}

int ms_have_avx2(void)
{
	return 0;
}
#endif
