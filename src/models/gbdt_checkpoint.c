/* gbdt_checkpoint.c — owns gbdt training checkpoints: the file that holds a fit's trees after its
 * last completed checkpoint round (with the early-stopping state and the column sampler's random
 * state), named by a hash of everything that determines the fit (rows, labels, weights,
 * validation rows, parameters, seed, and whether the fit runs under MPI), written atomically and
 * checked by a checksum when read. The trainer (gbdt_train.c) replays the trees over its rows to
 * rebuild the margins — the same additions in the same order — so a resumed fit ends with the
 * model an uninterrupted one builds, byte for byte. */
#include "models/gbdt_int.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/files.h"
#include "core/hash.h"
#include "dist/dist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CKPT_MAGIC "FWGBCKP1"

static void hash_matrix(fw_hasher *h, const fw_matrix *X) {
    uint64_t dims[2] = {X ? X->n_rows : 0, X ? X->n_dense : 0};
    fw_hasher_update(h, dims, sizeof dims);
    if (X && X->dense) fw_hasher_update(h, X->dense, X->n_rows * X->n_dense * sizeof(float));
}

uint64_t fw__gbdt_ckpt_key(const fw_train_data *d, const fw_fit_options *o, uint32_t node_size) {
    fw_hasher *h = fw_hasher_new(0x636b7074ull);
    if (!h) return 0;
    fw_hasher_update(h, CKPT_MAGIC, 8);
    uint64_t head[6] = {(uint64_t)d->task, d->n_classes, d->n_outputs, o->seed, node_size,
                        fw_dist_active() /* fixed-point gradients under MPI: another model */};
    fw_hasher_update(h, head, sizeof head);
    size_t n = d->X ? d->X->n_rows : 0, nv = d->X_valid ? d->X_valid->n_rows : 0;
    hash_matrix(h, d->X);
    if (d->y) fw_hasher_update(h, d->y, n * sizeof(double));
    fw_hasher_update(h, d->weight ? "w" : "-", 1);
    if (d->weight) fw_hasher_update(h, d->weight, n * sizeof(double));
    fw_hasher_update(h, d->query ? "q" : "-", 1);
    if (d->query) fw_hasher_update(h, d->query, n * sizeof(uint32_t));
    hash_matrix(h, d->X_valid);
    if (d->y_valid) fw_hasher_update(h, d->y_valid, nv * sizeof(double));
    if (d->query_valid) fw_hasher_update(h, d->query_valid, nv * sizeof(uint32_t));
    for (size_t i = 0; i < o->n_params; i++) fw_hasher_update(h, o->params[i], strlen(o->params[i]) + 1);
    uint64_t k = fw_hasher_digest(h);
    fw_hasher_free(h);
    return k;
}

static void ckpt_path(const char *dir, uint64_t key, char *out, size_t cap) {
    snprintf(out, cap, "%s/gbdt-%016llx.ckpt", dir, (unsigned long long)key);
}

typedef struct ckpt_head {
    char magic[8];
    uint64_t key;
    uint32_t rounds, n_trees, n_nodes, node_size;
    int32_t best_iter;
    uint32_t pad;
    double best_loss, best_err;
    uint64_t rng[4];
} ckpt_head;

fw_status fw__gbdt_ckpt_save(const char *dir, uint64_t key, const fw__gbdt_ckpt *c, fw_err *err) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fw_err_set(err, FW_EIO, "gbdt checkpoint: cannot create %s: %s", dir, strerror(errno));
    ckpt_head hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, CKPT_MAGIC, 8);
    hd.key = key;
    hd.rounds = c->rounds;
    hd.n_trees = c->n_trees;
    hd.n_nodes = c->n_nodes;
    hd.node_size = c->node_size;
    hd.best_iter = c->best_iter;
    hd.best_loss = c->best_loss;
    hd.best_err = c->best_err;
    memcpy(hd.rng, c->rng, sizeof hd.rng);
    fw_buf b;
    fw_buf_init(&b);
    fw_buf_put(&b, &hd, sizeof hd);
    fw_buf_put(&b, c->tree_start, ((size_t)c->n_trees + 1) * sizeof(uint32_t));
    fw_buf_put(&b, c->nodes, (size_t)c->n_nodes * c->node_size);
    uint64_t sum = fw_buf_ok(&b) ? fw_hash64(b.data, b.len, 0) : 0;
    fw_buf_put(&b, &sum, sizeof sum);
    if (!fw_buf_ok(&b)) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_ENOMEM, "gbdt checkpoint: out of memory");
    }
    char path[4096];
    ckpt_path(dir, key, path, sizeof path);
    fw_status st = fw_write_file_atomic(path, b.data, b.len, err);
    fw_buf_free(&b);
    return st;
}

fw_status fw__gbdt_ckpt_load(const char *dir, uint64_t key, uint32_t node_size, fw__gbdt_ckpt *c,
                             bool *found, fw_err *err) {
    memset(c, 0, sizeof *c);
    *found = false;
    char path[4096];
    ckpt_path(dir, key, path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0) return FW_OK; /* none yet: train from the start */
    uint8_t *data = NULL;
    size_t len = 0;
    fw_status st = fw_read_file(path, &data, &len, err);
    if (st) return st;
    ckpt_head hd;
    uint64_t sum;
    if (len < sizeof hd + sizeof sum) goto bad;
    memcpy(&hd, data, sizeof hd);
    memcpy(&sum, data + len - sizeof sum, sizeof sum);
    if (memcmp(hd.magic, CKPT_MAGIC, 8) != 0 || hd.key != key || hd.node_size != node_size ||
        fw_hash64(data, len - sizeof sum, 0) != sum)
        goto bad;
    size_t ts = ((size_t)hd.n_trees + 1) * sizeof(uint32_t), ns = (size_t)hd.n_nodes * node_size;
    if (sizeof hd + ts + ns + sizeof sum != len) goto bad;
    c->tree_start = fw_malloc(ts);
    c->nodes = fw_malloc(ns ? ns : 1);
    if (!c->tree_start || !c->nodes) {
        fw_free(c->tree_start);
        fw_free(c->nodes);
        fw_free(data);
        memset(c, 0, sizeof *c);
        return fw_err_set(err, FW_ENOMEM, "gbdt checkpoint: out of memory");
    }
    memcpy(c->tree_start, data + sizeof hd, ts);
    memcpy(c->nodes, data + sizeof hd + ts, ns);
    c->rounds = hd.rounds;
    c->n_trees = hd.n_trees;
    c->n_nodes = hd.n_nodes;
    c->node_size = node_size;
    c->best_iter = hd.best_iter;
    c->best_loss = hd.best_loss;
    c->best_err = hd.best_err;
    memcpy(c->rng, hd.rng, sizeof c->rng);
    fw_free(data);
    *found = true;
    return FW_OK;
bad:
    fw_free(data);
    return fw_err_set(err, FW_EDATA, "gbdt checkpoint %s: damaged or not this fit's (remove it to start over)",
                      path);
}
