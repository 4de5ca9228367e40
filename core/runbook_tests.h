/*
 * salve test: runbook tests run offline. A test file (NAME.test.yaml) names a runbook and
 * its tests; each test runs the runbook through the one launch path with its plugin calls
 * answered from a fixture (replay.h: recorded with `salve run --record`, or written by
 * hand), in a private state dir and audit log, and checks what happened:
 *
 *   runbook: ../restart-service.lua      # relative to the test file, or builtin:NAME
 *   fixture: restart-service.fixture.json # default for every test (relative)
 *   tests:
 *     - name: restarts a stopped service
 *       params: { service: nginx }
 *       mode: apply                       # or dry-run
 *       fixture: other.json               # or calls: [...] inline
 *       inject: [{ call: ssh-patch.service, n: 1, error: "connection reset" }]
 *       fail_at: STEP                     # a drill, as --fail-at
 *       approve: true                     # as --approve
 *       partial: true                     # the run may stop before the fixture's end
 *       expect:
 *         exit: 1
 *         outcome: rolled_back
 *         steps: { restart: rolled_back, verify: failed }
 *         calls: [host.disk, ssh-patch.service]   # every plugin call, in order
 *         undone: [ssh-patch.service]             # what the rollback undid, in order
 *         notifications: 1                        # notify actions sent
 *         args: [{ call: ssh-patch.service, n: 1, has: { state: restarted } }]
 *         error: "connection reset"               # in a failed step's error
 *
 * Fixture calls the run never asked for fail the test unless it injects, drills or says
 * partial (then the path is meant to change).
 *
 * Thread-unsafe (one run at a time); the env is borrowed.
 */
#ifndef SALVE_RUNBOOK_TESTS_H
#define SALVE_RUNBOOK_TESTS_H

#include <stdio.h>

#include "launch.h"

enum salve_test_format { SALVE_TEST_TAP, SALVE_TEST_JUNIT };

/* Runs the tests in paths (files, or directories searched for *.test.yaml). Writes TAP to
 * out, or JUnit XML when format says so. verbose shows each run's progress. Returns 0 when
 * every test passed, 1 when one failed (or a test file could not be read: reported as a
 * failed test naming file and reason), 64 when no test was found. */
int salve_runbook_tests(const salve_env *env, char *const *paths, size_t npaths,
                        enum salve_test_format format, int verbose, FILE *out);

#endif
