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
 * FW_TEST_ENV("NAME"): getenv("NAME") in a test build, NULL in a shipped one.
 * FW_TEST_COUNT(FW_TC_X): counts one event of kind X in a test build (fw__test_counts[], any
 * thread), nothing in a shipped one: tests check how much work an operation does (artifact opens
 * and store reads per registration, body parses and request-id model lookups per feedback; the
 * server's /metrics shows them in a test build). FW_TEST_ADD(FW_TC_X, n) counts n at once (bytes read
 * by the spool's ingest). */
#ifndef FW_CORE_TEST_HOOKS_H
#define FW_CORE_TEST_HOOKS_H

typedef enum fw_test_counter {
    FW_TC_ARTIFACT_OPEN,    /* fw_artifact_open */
    FW_TC_ARTIFACT_READ,    /* fw_store_artifact_read */
    FW_TC_FEEDBACK_PARSE,   /* a /v1/feedback body parsed */
    FW_TC_REQID_MODEL,      /* fw__request_id_model */
    FW_TC_SPOOL_READ_BYTES, /* bytes the prediction log spool's ingest read from spool files */
    FW_TC_SPOOL_WRAPS,      /* a drained spool started again after its header (log_spool.c) */
    FW_TC_COUNT
} fw_test_counter;

#ifdef FW_TEST
#include <stdatomic.h>
#include <stdlib.h>
void fw__crash_point(const char *name);
extern _Atomic unsigned long long fw__test_counts[FW_TC_COUNT];
extern const char *const fw__test_counter_names[FW_TC_COUNT];
#define FW_CRASH_POINT(name) fw__crash_point(name)
#define FW_TEST_ENV(name) getenv(name)
#define FW_TEST_COUNT(c) ((void)atomic_fetch_add_explicit(&fw__test_counts[c], 1, memory_order_relaxed))
#define FW_TEST_ADD(c, n) ((void)atomic_fetch_add_explicit(&fw__test_counts[c], (n), memory_order_relaxed))
#else
#define FW_CRASH_POINT(name) ((void)0)
#define FW_TEST_ENV(name) ((const char *)0)
#define FW_TEST_COUNT(c) ((void)0)
#define FW_TEST_ADD(c, n) ((void)0)
#endif

#endif
