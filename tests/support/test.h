/* test.h — owns the tiny test harness every test program uses: CHECK macros that record a failure
 * with file:line and go on, TEST_RUN to run one test function, and a closing line per program
 * ("<program>: N passed, N failed") that tests/run.sh adds up. */
#ifndef FW_TEST_H
#define FW_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

extern int fw_test_failed_checks; /* failures in the running test */
extern const char *fw_test_name;

void fw_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fw_test_run(const char *name, void (*fn)(void));
int fw_test_report(const char *program); /* prints the closing line; returns the exit code */
/* A path under ../shared/datasets, or NULL (test skips) when it is not there. */
const char *fw_test_shared(const char *file);
/* A fresh empty temporary directory for this test program (removed at exit). */
const char *fw_test_tmpdir(void);
/* The flywheel binary under test ($FLYWHEEL_BIN, set by tests/run.sh), or NULL. */
const char *fw_test_bin(void);
/* Runs a /bin/sh command line (printf-style) with stdout and stderr captured; returns the exit
 * code (128 + signal when killed) and, when out is not NULL, the captured output in *out
 * (malloc'd, NUL-terminated; caller frees). In the command, "$FW" is the binary under test and
 * "$T" the test's temporary directory. */
int fw_test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The shell functions every fw_test_sh command line can use (the set-up the black-box tests share):
 *   fw_project EXAMPLE FILE [SED-EXPRESSION...]
 *       writes FILE from examples/EXAMPLE/flywheel.yaml with its data path made absolute (the copy
 *       works from any directory), then applies each sed expression; one that changes nothing
 *       fails (a test must not pass on an edit that missed its line). */
extern const char fw_test_sh_functions[];
/* The next n values in [-1, 1) of the tests' small linear congruential generator (state *s): the
 * synthetic data sets draw from it, so a seed gives the same file in every test. */
void fw_test_uniforms(unsigned *s, double *v, size_t n);
/* The whole file (malloc'd, NUL-terminated) or NULL; *len gets its size when len is not NULL. */
char *fw_test_slurp(const char *path, size_t *len);
/* True when both files exist and hold the same bytes. */
bool fw_test_same_file(const char *a, const char *b);
/* <tmpdir>/name in one of 4 rotating buffers (valid until the 4th call after). */
const char *fw_test_tmp_file(const char *name);
/* Splits a text of CSV lines in place (a trailing \r dropped): the first line into header (copied,
 * truncated to hcap), the next ones into lines[0..cap); returns how many data lines. */
size_t fw_test_csv_lines(char *text, char *header, size_t hcap, char **lines, size_t cap);
/* Splits one unquoted CSV line at its commas in place into f[0..cap); returns the field count. */
size_t fw_test_split_commas(char *line, char **f, size_t cap);
/* One unquoted CSV data line (e.g. a pima row) under its header line as a /v1 predict body of one
 * instance, {"instances":[{"col":cell,...}]} with cells written as JSON as they are (an empty cell
 * null), the last column left out: it is the label, copied into label. At most 16 columns; neither
 * line is modified. */
void fw_test_v1_row_body(const char *header, const char *line, char *body, size_t cap, char *label, size_t lcap);

#define CHECK(c) \
    do { if (!(c)) fw_test_fail(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define CHECK_MSG(c, ...) \
    do { if (!(c)) fw_test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ(a, b) \
    do { long long _a = (long long)(a), _b = (long long)(b); \
         if (_a != _b) fw_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); } while (0)
#define CHECK_OK(st) \
    do { int _s = (int)(st); \
         if (_s != 0) fw_test_fail(__FILE__, __LINE__, "%s returned %d", #st, _s); } while (0)
#define CHECK_NEAR(a, b, tol) \
    do { double _a = (double)(a), _b = (double)(b); \
         if (!(fabs(_a - _b) <= (tol))) fw_test_fail(__FILE__, __LINE__, "%s ~= %s: %.17g vs %.17g (tol %g)", #a, #b, _a, _b, (double)(tol)); } while (0)
#define CHECK_STR(a, b) \
    do { const char *_a = (a), *_b = (b); \
         if (!_a || !_b || strcmp(_a, _b) != 0) fw_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)
#define CHECK_CONTAINS(hay, needle) \
    do { const char *_h = (hay), *_n = (needle); \
         if (!_h || !strstr(_h, _n)) fw_test_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, _n, _h ? _h : "(null)"); } while (0)

#define TEST_RUN(fn) fw_test_run(#fn, fn)

#endif
