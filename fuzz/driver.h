/* driver.h — owns the plain replay driver every fuzz target gets when compiled with
 * -DFW_FUZZ_DRIVER (no libFuzzer): main() runs LLVMFuzzerTestOneInput over every file named on
 * the command line and every file inside every directory named (one level, dot files skipped),
 * so a corpus or a crasher can be replayed under gcc, ASan or a debugger. Include it once, at the
 * end of a target file, after the target's LLVMFuzzerTestOneInput. Inputs are read whole (any size). */
#ifndef FW_FUZZ_DRIVER_H
#define FW_FUZZ_DRIVER_H
#ifdef FW_FUZZ_DRIVER

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Runs the target over one file; returns 1 when it ran, 0 when the file could not be read. */
static int fw_fuzz_driver_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return 0;
    /* an exact-size copy, so ASan sees reads one byte past the input */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact) {
        memcpy(exact, buf, n);
        LLVMFuzzerTestOneInput(exact, n);
    }
    free(exact);
    free(buf);
    return exact != NULL;
}

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz driver: %s: not found\n", argv[i]);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            n += fw_fuzz_driver_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            n += fw_fuzz_driver_file(p);
        }
        if (d) closedir(d);
    }
    printf("fuzz driver: %d inputs ran\n", n);
    return 0;
}

#endif
#endif
