/* Exit statuses of salve (sysexits-style where one fits). Never renumbered. */
#ifndef SALVE_EXITCODES_H
#define SALVE_EXITCODES_H

enum salve_exit {
	SALVE_EXIT_OK = 0,                  /* every step ok/changed/skipped */
	SALVE_EXIT_ROLLED_BACK = 1,         /* a step failed; everything it changed was undone */
	SALVE_EXIT_ROLLBACK_INCOMPLETE = 2, /* something could not be undone: a human must look */
	SALVE_EXIT_DEGRADED = 3, /* completed, but the runbook reported tolerated failures */
	SALVE_EXIT_USAGE = 64,   /* bad command line or parameters */
	SALVE_EXIT_INVALID_RUNBOOK = 65, /* the runbook (or a config file) is invalid */
	SALVE_EXIT_UNAVAILABLE = 69,     /* a plugin is missing, refused or failed to start */
	SALVE_EXIT_SOFTWARE = 70,        /* internal error */
	SALVE_EXIT_CANTCREAT = 73,       /* cannot create the audit log, journal or state dir */
	SALVE_EXIT_IOERR = 74,           /* the audit log or journal could not be written */
	SALVE_EXIT_TEMPFAIL = 75,        /* lock busy, or outside the maintenance window */
};

#endif
