/* learn_store.c — owns the store interface's continual-learning block (store.h): the fw_store_learn_*
 * wrappers over the back end's operations, and the training-set snapshots, content-addressed files
 * under <home>/snapshots/ab/cdef....EXT that every back end keeps the same way (the trainer reads
 * a file; a retrained version's recorded project names its snapshots, so `flywheel reproduce`
 * finds them). */
#include "store/store.h"

#include "core/alloc.h"
#include "core/files.h"
#include "core/hash.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>

fw_status fw_store_learn_scan(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms,
                              fw_learn_row_fn fn, void *ud, fw_err *err) {
    if (!model || !fn) return fw_err_set(err, FW_EINVAL, "learn scan: no model or callback");
    if (!s->ops->learn_scan)
        return fw_err_set(err, FW_EUNSUPPORTED, "the %s store has no labelled-row scan", s->ops->kind);
    return s->ops->learn_scan(s, model, since_ms, until_ms, fn, ud, err);
}

fw_status fw_store_learn_lock(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                              char *holder, size_t holder_size, fw_err *err) {
    if (!model || !*model || !owner || !*owner || strlen(model) > 200 || ttl_ms <= 0)
        return fw_err_set(err, FW_EINVAL, "retrain lock: a model, an owner and a positive time to live are needed");
    if (!s->ops->learn_lock) return fw_err_set(err, FW_EUNSUPPORTED, "the %s store has no retrain lock", s->ops->kind);
    return s->ops->learn_lock(s, model, owner, now_ms, ttl_ms, holder, holder_size, err);
}

fw_status fw_store_learn_unlock(fw_store *s, const char *model, const char *owner, fw_err *err) {
    if (!model || !owner) return fw_err_set(err, FW_EINVAL, "retrain lock: no model or owner");
    if (!s->ops->learn_unlock) return FW_OK;
    return s->ops->learn_unlock(s, model, owner, err);
}

static bool valid_ext(const char *ext) {
    size_t n = ext ? strlen(ext) : 0;
    if (n == 0 || n > 16) return false;
    for (size_t i = 0; i < n; i++)
        if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9') || ext[i] == '.')) return false;
    return ext[0] != '.';
}

void fw_store_learn_snapshot_path(const fw_store *s, const char *hash, const char *ext, char *path, size_t size) {
    char local[4096];
    fw_store_local_dir(fw_store_home(s), local, sizeof local);
    snprintf(path, size, "%s/snapshots/%.2s/%s.%s", local, hash, hash + (strlen(hash) >= 2 ? 2 : 0),
             ext);
}

fw_status fw_store_learn_snapshot_put(fw_store *s, const void *data, size_t len, const char *ext, char hash_out[33],
                                      char *path, size_t path_size, fw_err *err) {
    if (!valid_ext(ext)) return fw_err_set(err, FW_EINVAL, "snapshot extension '%s': [a-z0-9.]{1,16}", ext ? ext : "");
    fw_hash128_hex(data, len, hash_out);
    fw_store_learn_snapshot_path(s, hash_out, ext, path, path_size);
    /* an intact file with this name is the same bytes (content address): keep it */
    uint8_t *old = NULL;
    size_t old_len = 0;
    fw_err ignore;
    if (fw_read_file(path, &old, &old_len, &ignore) == FW_OK) {
        char h[33];
        fw_hash128_hex(old, old_len, h);
        fw_free(old);
        if (strcmp(h, hash_out) == 0) return FW_OK;
    }
    char dir[4200], local[4096];
    fw_store_local_dir(fw_store_home(s), local, sizeof local);
    snprintf(dir, sizeof dir, "%s/snapshots/%.2s", local, hash_out);
    fw_status st = fw_mkdirs(dir, err);
    if (st) return st;
    return fw_write_file_atomic(path, data, len, err);
}
