/* test_hooks.h — owns the compile-time test controls (SQLite's SQLITE_TEST): hooks that let a test
 * stop a process at an exact step, slow an operation down or reach an internal path exist only in
 * builds with -DFW_TEST — the test library and binary (build/libflywheel-test.a,
 * build/flywheel-test) the tests and fuzzers link. The shipped library and binary are built
 * without it: there the hooks compile to nothing and no test environment variable is read.
 * A source file that uses them includes this header; the Makefile builds such files twice.
 *
 * FW_CRASH_POINT("name"): when the environment variable FW_CRASH_POINT equals name, the process
 * kills itself with SIGKILL right there (the SQLite way of testing crashes), so a test can stop a
 * registration or a deletion at an exact step and check what the store looks like after. Points:
 * "artifact:temp-written" (before the rename), "register:file-written", "register:before-commit",
 * "delete:before-commit", "delete:after-commit".
 * FW_TEST_ENV("NAME"): getenv("NAME") in a test build, NULL in a shipped one. */
#ifndef FW_CORE_TEST_HOOKS_H
#define FW_CORE_TEST_HOOKS_H

#ifdef FW_TEST
#include <stdlib.h>
void fw__crash_point(const char *name);
#define FW_CRASH_POINT(name) fw__crash_point(name)
#define FW_TEST_ENV(name) getenv(name)
#else
#define FW_CRASH_POINT(name) ((void)0)
#define FW_TEST_ENV(name) ((const char *)0)
#endif

#endif
