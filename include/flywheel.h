/*
 * flywheel.h — the public API of libflywheel: status codes, the allocator hook, version.
 *
 * Flywheel runs the production ML loop: describe data, train models against a baseline,
 * version them, serve them online and in batch. The library is layered; this header exposes the
 * pieces every caller needs. Layer headers live next to their code under src/<area>/.
 *
 * Conventions (see ../shared/STYLE.md):
 *   - every function returns fw_status: 0 (FW_OK) on success, a negative code on failure;
 *   - detailed messages are kept in a caller-provided fw_err, never in a process global;
 *   - callers own output buffers; opaque handles are freed with their own _free().
 *
 * Example:
 *   fw_err err; fw_err_clear(&err);
 *   fw_status st = fw_something(..., &err);
 *   if (st < 0) fprintf(stderr, "flywheel: %s\n", err.msg);
 */
#ifndef FLYWHEEL_H
#define FLYWHEEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FW_VERSION_MAJOR 0
#define FW_VERSION_MINOR 1
#define FW_VERSION_PATCH 0
#define FW_VERSION_STRING "0.1.0"

/* X-macro table of status codes: name, value, message. One table makes the enum and fw_strerror. */
#define FW_STATUS_TABLE(X)                                                \
    X(FW_OK, 0, "success")                                                \
    X(FW_ENOMEM, -1, "out of memory")                                     \
    X(FW_EINVAL, -2, "invalid argument")                                  \
    X(FW_EIO, -3, "input/output error")                                   \
    X(FW_EPARSE, -4, "parse error")                                       \
    X(FW_ESCHEMA, -5, "schema violation")                                 \
    X(FW_ENOTFOUND, -6, "not found")                                      \
    X(FW_EEXIST, -7, "already exists")                                    \
    X(FW_ECORRUPT, -8, "corrupt data")                                    \
    X(FW_EVERSION, -9, "unsupported format version")                      \
    X(FW_EUNSUPPORTED, -10, "unsupported operation")                      \
    X(FW_ESTORE, -11, "store error")                                      \
    X(FW_EBUSY, -12, "resource busy")                                     \
    X(FW_ELIMIT, -13, "limit exceeded")                                   \
    X(FW_EDATA, -14, "unusable data")                                     \
    X(FW_ECONFIG, -15, "invalid configuration")                           \
    X(FW_EINTERRUPTED, -16, "interrupted")

typedef enum fw_status {
#define FW__STATUS_ENUM(name, value, msg) name = value,
    FW_STATUS_TABLE(FW__STATUS_ENUM)
#undef FW__STATUS_ENUM
} fw_status;

/* The generic message for a status code; never NULL. */
const char *fw_strerror(fw_status st);
/* The code's symbolic name, e.g. "FW_EPARSE"; never NULL. */
const char *fw_status_name(fw_status st);

/* A detailed error: status plus a human message naming file, line, column or field. */
#define FW_ERR_MSG_MAX 512
typedef struct fw_err {
    fw_status status;
    char msg[FW_ERR_MSG_MAX];
} fw_err;

void fw_err_clear(fw_err *err);
/* Sets err (when not NULL) with a printf-style message and returns st, for `return fw_err_set(...)`. */
fw_status fw_err_set(fw_err *err, fw_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with more context ("while loading x: <old message>"). */
fw_status fw_err_prefix(fw_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- allocator hook -------------------------------------------------------------------------- */
/* One hook for every allocation the library makes, in the manner of Lua's lua_Alloc:
 *   ptr == NULL, nsize > 0: allocate; nsize == 0: free ptr; otherwise realloc.
 * Returns NULL on failure (or after a free). */
typedef void *(*fw_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);
/* Installs a hook (NULL restores the default). Not thread-safe: call before any other use. */
void fw_set_allocator(fw_alloc_fn fn, void *ud);
/* Bytes currently allocated through the hook (the server reports it). Thread-safe. */
size_t fw_bytes_in_use(void);

/* Version string including the git commit, e.g. "0.1.0 (abc1234)". */
const char *fw_version(void);

#ifdef __cplusplus
}
#endif
#endif /* FLYWHEEL_H */
