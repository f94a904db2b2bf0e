/* hybrid.h — owns hybrid answers: a request naming an entity_id is answered from the precomputed
 * batch answer (`flywheel batch --output store`, table batch_answers, store/store.h) when
 * one exists for the served model name AND version and is younger than serving.batch_max_age_s.
 * Lookups go through a small direct-mapped cache (hits and misses kept batch_cache_ttl_s) in front
 * of a pool of SQLite handles, so a flood of requests for the same entities costs one query each
 * per TTL.
 *
 * Thread safety: every function may be called from any number of threads. */
#ifndef FW_SERVE_HYBRID_H
#define FW_SERVE_HYBRID_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_hybrid fw_hybrid;

/* Opens the batch answers of the store under home (NULL: $FLYWHEEL_HOME or ./.flywheel) lazily:
 * creation never touches the database. max_age_s > 0. FW_OK or FW_ENOMEM. */
fw_status fw_hybrid_new(const char *home, double max_age_s, double cache_ttl_s, fw_hybrid **out, fw_err *err);
void fw_hybrid_free(fw_hybrid *h);

/* A batch answer handed to the caller (strings fw_malloc'd; free with fw_hybrid_answer_free). */
typedef struct fw_hybrid_answer {
    char *prediction;     /* the answer's text (label / value) */
    char *scores_json;    /* the scores as JSON text */
    int64_t scored_ms;    /* when batch scored it (Unix ms) */
    int64_t run_id;
} fw_hybrid_answer;
void fw_hybrid_answer_free(fw_hybrid_answer *a);

/* True (and *out filled) when a fresh answer of model@version exists for entity. A store error
 * counts as no answer (the request is then answered online) and is counted in *errors. */
bool fw_hybrid_get(fw_hybrid *h, const char *model, const char *version, const char *entity,
                   fw_hybrid_answer *out);

typedef struct fw_hybrid_stats {
    uint64_t hits, misses, stale, cache_hits, queries, errors;
} fw_hybrid_stats;
void fw_hybrid_get_stats(const fw_hybrid *h, fw_hybrid_stats *s);

#endif
