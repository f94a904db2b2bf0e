/* learn_capture.h — owns online learning's join cache (issue 18; docs/LEARNING.md, "Where the
 * examples come from"): the inputs of a learning model's recent predictions, by request id, so the
 * learning thread joins a label to its example in memory instead of reading the prediction log
 * back from the store per label. Filled on the request path by the v1 predict routes (the first
 * instance of each request, the one online learning learns from), taken once by the learning
 * thread. A label whose prediction is not here (evicted, predicted by an earlier process, a route
 * that does not fill it) is joined through the store as before (serve/learning.c).
 *
 * A two-way set-associative table of `slots` fixed-size slots keyed by a keyed 64-bit hash of the
 * request id: a prediction goes to the free slot of its pair, else replaces one of the two (the
 * cache keeps roughly the last `slots` predictions, and two waiting ids that hash alike both stay). Each slot holds the values in the learner's input order — numbers, missing, and up
 * to FW_LEARN_CAPTURE_STR bytes of strings (a request with more is not kept) — with the answering
 * version. A put never allocates, never waits (a slot being written or read is skipped) and costs
 * one copy of the values; the served model's inputs are checked against the learner's once per
 * loaded model instance (their names in order must be the same: else nothing is kept for it).
 * Memory: slots x (32 + 9 x inputs + FW_LEARN_CAPTURE_STR) bytes, paid as slots fill.
 *
 * Example:
 *   fw_learn_capture *c = fw_learn_capture_new("churn", names, n, 16384);
 *   request thread:  fw_learn_capture_put(c, m, rid, vals);
 *   learning thread: if (fw_learn_capture_take(c, rid, version, vals, strs, sizeof strs)) ... learn vals
 *   fw_learn_capture_free(c); */
#ifndef FW_SERVE_LEARN_CAPTURE_H
#define FW_SERVE_LEARN_CAPTURE_H

#include "features/pipeline.h"
#include "serve/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_LEARN_CAPTURE_STR 256

typedef struct fw_learn_capture fw_learn_capture;

/* A cache for model `name` whose learner reads inputs[0..n) in that order (copied), with `slots`
 * slots (rounded up to a power of two, at least 64). NULL on out of memory. */
fw_learn_capture *fw_learn_capture_new(const char *name, const char *const *inputs, size_t n, size_t slots);
void fw_learn_capture_free(fw_learn_capture *c);
const char *fw_learn_capture_name(const fw_learn_capture *c);
/* True when the learner's inputs are names[0..n) in that order. */
bool fw_learn_capture_same_inputs(const fw_learn_capture *c, const char *const *names, size_t n);

/* One prediction of m (m->name must be the cache's model) for request rid: vals in m's input order.
 * Request threads; thread-safe; no allocation, no lock waited for. */
void fw_learn_capture_put(fw_learn_capture *c, const fw_srv_model *m, const char *rid, const fw_value *vals);

/* The inputs of rid's prediction by `version`, removed from the cache: true with vals[0..n) filled
 * in the learner's order (strings copied into strs[0..cap), which they point into); false when the
 * cache does not hold it. The learning thread. */
bool fw_learn_capture_take(fw_learn_capture *c, const char *rid, int64_t version, fw_value *vals, char *strs,
                           size_t cap);

/* Whether the cache holds rid's prediction, without taking it: true with *version the version that
 * answered. Request threads (the label's way to its learner without resolving the request id's
 * model); thread-safe; never waits (a slot being written or read reads as not held). */
bool fw_learn_capture_peek(fw_learn_capture *c, const char *rid, int64_t *version);

/* Counters: puts skipped (inputs differ, strings too long, slot busy), takes that found their
 * example, takes that did not. */
typedef struct fw_learn_capture_stats {
    uint64_t skipped, hits, misses;
} fw_learn_capture_stats;
void fw_learn_capture_stats_get(const fw_learn_capture *c, fw_learn_capture_stats *out);

#endif
