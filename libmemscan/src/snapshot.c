/* SPDX-License-Identifier: MIT */
/* placeholder */
typedef int ms_placeholder_snapshot;
