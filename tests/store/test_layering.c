/* test_layering.c — the store interface is the only way to the tables, and arrows point down: over
 * every file under src/ (run from the project root), no `sqlite3_` call, no <sqlite3.h> and no
 * store-internal header (store/store_int.h, store/store_backend.h, store/log_db.h) outside
 * src/store/; no include of a layer above from data/ (data/split.h used to include
 * project/project.h for one enum) or core/; serve/ does not read batch's files. */
#include "test.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static int n_files;

/* Checks one source file against the rules of its directory. */
static void check_file(const char *path) {
    char *text = slurp(path);
    if (!text) {
        fw_test_fail(__FILE__, __LINE__, "cannot read %s", path);
        return;
    }
    n_files++;
    bool in_store = strncmp(path, "src/store/", 10) == 0;
    if (!in_store) {
        CHECK_MSG(!strstr(text, "sqlite3_"), "%s calls SQLite (sqlite3_) outside src/store", path);
        CHECK_MSG(!strstr(text, "<sqlite3.h>"), "%s includes <sqlite3.h> outside src/store", path);
        static const char *const internal[] = {"\"store/store_int.h\"", "\"store/store_backend.h\"", "\"store/log_db.h\""};
        for (size_t i = 0; i < sizeof internal / sizeof *internal; i++)
            CHECK_MSG(!strstr(text, internal[i]), "%s includes %s outside src/store", path, internal[i]);
    }
    /* the lowest layers include nothing above them */
    static const struct { const char *dir; const char *const above[8]; } down[] = {
        {"src/core/", {"\"data/", "\"project/", "\"store/", "\"serve/", "\"batch/", "\"train/", "\"registry/", NULL}},
        {"src/data/", {"\"project/", "\"store/", "\"serve/", "\"batch/", "\"train/", "\"registry/", "\"cli/", NULL}},
        {"src/store/", {"\"serve/", "\"batch/", "\"train/", "\"registry/", "\"cli/", NULL}},
        {"src/serve/", {"\"batch/", "\"cli/", NULL}},
    };
    for (size_t d = 0; d < sizeof down / sizeof *down; d++) {
        if (strncmp(path, down[d].dir, strlen(down[d].dir)) != 0) continue;
        for (const char *const *a = down[d].above; *a; a++) {
            char inc[64];
            snprintf(inc, sizeof inc, "#include %s", *a);
            CHECK_MSG(!strstr(text, inc), "%s includes %s... (a layer above or beside it)", path, *a);
        }
    }
    free(text);
}

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fw_test_fail(__FILE__, __LINE__, "cannot read %s (run from the project root)", dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) walk(path);
        else if (n > 2 && (strcmp(e->d_name + n - 2, ".c") == 0 || strcmp(e->d_name + n - 2, ".h") == 0)) check_file(path);
    }
    closedir(d);
}

static void test_layers(void) {
    walk("src");
    CHECK(n_files > 100);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_layers);
    return fw_test_report(argv[0]);
}
