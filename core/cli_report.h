/*
 * The reading side of the audit log on the command line (core/cli_report.c):
 * `salve audit show RUN`, `salve audit tail [-f] [FILE]` and `salve report`.
 * Each takes argv[0] = its own name ("show", "tail", "report") and returns an exit status
 * (exitcodes.h): 0; 1 when the audit log's hash chain is not intact (the output says so
 * first); 64 usage or an unreadable log.
 */
#ifndef SALVE_CLI_REPORT_H
#define SALVE_CLI_REPORT_H

#include "cli.h"

int salve_cmd_audit_show(const struct salve_cli_globals *g, int argc, char **argv);
int salve_cmd_audit_tail(const struct salve_cli_globals *g, int argc, char **argv);
int salve_cmd_report(const struct salve_cli_globals *g, int argc, char **argv);

#endif
