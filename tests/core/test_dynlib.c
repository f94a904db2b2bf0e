/* test_dynlib.c — tests for src/core/dynlib.c (the run-time loader serve/mhd.c and serve/curl.c
 * share): a table of symbols lands in the API struct's fields and the functions work; a missing
 * symbol names itself and leaves the struct untouched; a library that is not there says so. */
#include "core/dynlib.h"
#include "test.h"

#include <string.h>

typedef struct libm_api {
    double (*cos)(double);
    double (*sqrt)(double);
} libm_api;

static void test_load_table(void) {
    static const fw_dynsym syms[] = {FW_DYNSYM(libm_api, cos, "cos"), FW_DYNSYM(libm_api, sqrt, "sqrt")};
    libm_api a = {0};
    void *h = NULL;
    char why[256] = "";
    CHECK_OK(fw_dynlib_load("libm.so.6", syms, 2, &a, &h, why, sizeof why));
    CHECK(h != NULL);
    CHECK(a.cos && a.sqrt);
    if (a.cos && a.sqrt) {
        CHECK_EQ(a.cos(0.0), 1.0);
        CHECK_EQ(a.sqrt(16.0), 4.0);
    }
    fw_dynlib_close(h);
}

static void test_missing_symbol(void) {
    static const fw_dynsym syms[] = {FW_DYNSYM(libm_api, cos, "cos"),
                                     FW_DYNSYM(libm_api, sqrt, "fw_no_such_function")};
    libm_api a = {0};
    void *h = (void *)&a;
    char why[256] = "";
    CHECK_EQ(fw_dynlib_load("libm.so.6", syms, 2, &a, &h, why, sizeof why), FW_EIO);
    CHECK_STR(why, "libm.so.6 has no fw_no_such_function");
    CHECK(h == NULL);
    CHECK(a.cos == NULL && a.sqrt == NULL); /* all or nothing */
}

static void test_missing_library(void) {
    static const fw_dynsym syms[] = {FW_DYNSYM(libm_api, cos, "cos")};
    libm_api a = {0};
    void *h;
    char why[256] = "";
    CHECK_EQ(fw_dynlib_load("libfw-not-there.so.9", syms, 1, &a, &h, why, sizeof why), FW_EIO);
    CHECK_CONTAINS(why, "libfw-not-there.so.9");
    CHECK(h == NULL);
}

int main(void) {
    TEST_RUN(test_load_table);
    TEST_RUN(test_missing_symbol);
    TEST_RUN(test_missing_library);
    return fw_test_report("test_dynlib");
}
