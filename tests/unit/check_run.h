/* SPDX-License-Identifier: ISC */
/*
 * check_run.h - the one way every unit-test binary runs its suite and turns
 * the outcome into an exit status (tests/run reads check's summary line).
 */
#ifndef OUTPOST_CHECK_RUN_H
#define OUTPOST_CHECK_RUN_H

#include <check.h>

static inline int
check_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif
