/* monitor_int.h — owns the private layout of fw_monitor (monitor.h), shared by monitor.c (building,
 * observing, testing) and monitor_json.c (the JSON views). Not for other areas. */
#ifndef FW_MONITOR_MONITOR_INT_H
#define FW_MONITOR_MONITOR_INT_H

#include "monitor/detector.h"
#include "monitor/monitor.h"
#include "monitor/perf.h"

#include "core/hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extra counters of a column in a block, after its detector slots: unseen categories, out of range,
 * expectation violations, then the hits of each tracked unseen value. */
enum { UNSEEN_TRACK = 8 };
enum { X_UNSEEN = 0, X_OOR, X_EXPECT, X_TRACK, X_COUNT = X_TRACK + UNSEEN_TRACK };

/* An unseen category value followed on its own (a new value that keeps coming back, unlike the
 * rare one-off values of a long tail): its key is read by request threads (atomic), the rest is the
 * test thread's. */
typedef struct mon_track {
    _Atomic uint64_t key;      /* fw_hash64 of the text; 0 = free */
    char text[48];
    fw_rate_cusum cusum;
    uint64_t hits, rows;       /* since it is followed */
} mon_track;

/* Alarm slots: per watched input, one per kind drift / quality / schema (indexed by the kind);
 * then the model-level ones. */
enum { MON_COL_ALARMS = 3 };
enum { MON_SLICE_SLOTS = 32 }; /* slices' performance alarms active at once (the tracker's beyond
                                  these are not forwarded: raised again once a slot frees) */
enum { MA_PREDICTION = 0, MA_LATENCY, MA_PERFORMANCE, MA_ESTIMATE, MA_SLICE0,
       MON_MODEL_ALARMS = MA_SLICE0 + MON_SLICE_SLOTS };

typedef struct mon_alarm {
    bool active;
    fw_alarm rec;              /* as raised */
} mon_alarm;

typedef struct mon_col {
    size_t input;              /* input index (or output index when output) */
    const char *name;          /* the model's (or the reference's) string */
    fw_col_type type;
    bool output;               /* a prediction histogram, not an input */
    fw_detector *det;          /* NULL: no reference column (or drift off) */
    fw_detector_state *dst;
    uint32_t n_slots, missing_slot;
    size_t off;                /* first cell in a block's counts */
    double ref_min, ref_max;
    fw_rate_cusum unseen, oor, expect;
    bool unseen_on, oor_on, expect_on;
    double unseen_ref_n;       /* non-missing training rows (the tracks' reference) */
    double ex_min, ex_max, ex_max_missing;
    fw_strmap ex_allowed;
    bool ex_allowed_on;
    uint64_t *q_rows, *q_missing, *q_unseen, *q_oor; /* ring of the quality window's blocks */
    /* the latest figures (test_mu) */
    const char *stat;
    double drift, drift_thr, missing_rate, unseen_rate, oor_rate;
    uint64_t last_schema_row, schema_rows;
    mon_track track[UNSEEN_TRACK];
    uint8_t *top_known;        /* categorical with unseen_on: per top value of the detector (its slot),
                                  whether the pipeline knows it — looked up once at the build, so a
                                  top value costs one hash lookup per row, not two; NULL: none */
    uint32_t n_top_known;
} mon_col;

/* What the per-row loop of fw_monitor_observe reads of a column, side by side (one array for all
 * columns, not the ~1 KiB mon_col each), numeric inputs first, then outputs, then the others: for
 * a numeric input or an output it finds the cells inline — the slot by the unrolled search of the
 * detector's inner edges padded to a power of two (bins.h), the out-of-range and expectation cells
 * by two comparisons each — exactly the cells col_cells gives; every other column (categorical,
 * timestamp, edges out of order or over 1,024) goes through col_cells. Built with the body. */
typedef struct mon_hot {
    const double *edges;       /* 2^k sorted inner edges then NaN pads (numeric inputs, outputs) */
    uint32_t k;
    uint32_t col;              /* its index in cols */
    uint32_t input;            /* the value's index (an output's index for an output) */
    uint32_t base, missing;    /* cells: slot 0, the missing slot */
    uint32_t oor, expect;      /* cells: out of range, expectation violated */
    bool ex_on;                /* an expectation range to test */
    double lo, hi;             /* in range: lo <= x <= hi (-inf / +inf when not tested) */
    double ex_lo, ex_hi;       /* the expectation's range, the same way */
} mon_hot;

/* An unseen value not followed yet, met in a block (the last one met wins). */
typedef struct mon_newcomer {
    uint64_t key;
    char text[48];
} mon_newcomer;

enum { MON_SHARDS = 4 };
enum { MON_SPARES = MON_SHARDS };  /* empty count arrays a block's close swaps in (monitor_int.h mon_counts) */
enum { MON_RING = 16, MON_RING_INLINE = 4 }; /* blocks in the ring: with a closer (settings.on_blocks), without */

/* A count array observing threads add their rows' cells to: the array of a shard (fw_monitor.shard)
 * while its block is open, then, swapped out at the close for an empty spare, the closing thread
 * adds it into the block's counts outside count_mu and gives it back zeroed. Its busy flag travels
 * with it: set (under count_mu) by the thread that adds a row's cells to it after letting count_mu
 * go, cleared by a release store when the adds are done; whoever sums it waits for it to be idle. */
typedef struct mon_counts {
    _Atomic unsigned busy;
    char pad[64 - sizeof(unsigned)]; /* the cells start on their own cache line */
    uint64_t c[];              /* n_cells */
} mon_counts;

/* One block of the ring: the open one (its rows, latencies, errors, newcomers and times under
 * count_mu; its cells in the shards), then closed (last_row set, its shards' arrays being summed
 * into counts by the closing thread, outside any lock), then ready (summed: a release store), then
 * tested in row order (test_mu) and emptied for reuse. */
typedef struct mon_block {
    uint64_t *counts;          /* n_cells, zero while open */
    mon_newcomer *newcomer;    /* n_cols */
    double *lat;               /* step_rows latencies */
    size_t n_lat;
    uint64_t rows, errors;
    int64_t first_ts;          /* its first observation's timestamp (Unix ms; 0 = unknown: no time close) */
    int64_t last_ts;
    uint64_t last_row;         /* set at the close */
    _Atomic int ready;         /* closed and summed: its tests may run */
} mon_block;

/* What fw_monitor_new keeps of the caller's settings for the lazy build: owned copies. */
typedef struct mon_recipe {
    char **columns;            /* NULL: every input */
    size_t n_columns;
    fw_monitor_expect *expect; /* column and allowed strings owned */
    size_t n_expect;
    char **groups;             /* NULL: the recorded project's data.groups */
    size_t n_groups;
} mon_recipe;

struct fw_monitor {
    const fw_srv_model *model;
    fw_monitor_settings s;     /* columns / expect / groups not kept (the recipe has copies) */
    /* lazy building (monitor.c): fw_monitor_new checks the settings and keeps the recipe; everything
     * below is built at the first observation, label or state request (an idle version costs the
     * size of this struct and the recipe) */
    _Atomic int built;         /* 0 not yet, 1 built, -1 failed (the monitor then stays inert) */
    pthread_mutex_t build_mu;
    mon_recipe recipe;
    char build_error[FW_ERR_MSG_MAX];
    fw_status build_status;
    double budget[3];          /* p50, p90, p99 ms; 0 = none */
    double alpha_row;
    mon_col *cols;             /* watched inputs, then outputs */
    mon_hot *hot;              /* n_cols: the per-row loop's view of cols (n_hot_num numeric inputs,
                                  then n_hot_out outputs, then the others) */
    size_t n_hot_num, n_hot_out;
    double *hot_edges;         /* the padded edges mon_hot.edges point into */
    size_t n_cols, n_inputs_watched, n_cells;
    size_t qb, wb;             /* blocks per quality / drift window */
    /* count_mu: rows, the open block (ring[closed % ring_cap]), which shards are used (shard_used), the
     * shards' arrays (shard) */
    pthread_mutex_t count_mu;
    uint64_t rows;
    /* the blocks (MON_RING with a closer, MON_RING_INLINE without): the open one, and the closed
     * ones not tested yet, oldest first (tested .. closed - 1). A close (count_mu held) only
     * records the block's last row, swaps its shards' arrays for spares and moves on to the next
     * block of the ring (which the tests freed); the closing thread then sums the arrays into the
     * block outside count_mu and hands the block to the tests: settings.on_blocks' thread, or its
     * own after letting every lock go (monitor.h). The ring is full only when the tests are
     * ring_cap - 1 blocks behind: the close then runs them itself (count_mu held: the old way).
     * Memory: ring_cap x (n_cells x 8 + step_rows x 8 + n_cols x 56) bytes (16 KiB a block for
     * spam's 57 inputs: 0.3 MiB at 16). */
    mon_block *ring;
    uint32_t ring_cap;
    _Atomic uint64_t closed;   /* blocks closed (written under count_mu) */
    _Atomic uint64_t tested;   /* blocks tested (written under test_mu) */
    /* the open block's cell counts, one array per observing thread (MON_SHARDS, chosen by a thread's
     * number): two server threads would otherwise pass the block's ~100 touched cache lines back
     * and forth at every prediction. An observing thread marks its shard's array busy while it
     * still holds count_mu (its row number given, its block decided), releases count_mu, adds its
     * ~60-100 cells and marks the array idle (a release store). The close swaps each used shard's
     * array for an empty spare (spare: taken and given back without a lock) and the closing thread,
     * outside count_mu, waits for each swapped array to be idle before adding it into the block's
     * counts (an acquire load): a row's cells land in the block of its row number, and the sum holds
     * no lock. Without a spare (the closing threads lag) the close sums that array itself, count_mu
     * held, as before. A thread that finds its own shard's array still busy (a 5th thread sharing
     * it) waits the same way before marking it. */
    mon_counts *shard[MON_SHARDS];
    _Atomic(mon_counts *) spare[MON_SPARES];
    uint32_t shard_used;       /* bit per shard written since the block opened */
    int64_t block_ms;          /* settings.block_seconds in ms (0: blocks close by count only) */
    /* test_mu: everything below */
    pthread_mutex_t test_mu;
    uint64_t blocks, errors;
    mon_alarm *alarms;         /* n_cols * MON_COL_ALARMS + MON_MODEL_ALARMS */
    uint64_t raised[FW_ALARM_KIND_COUNT];
    double *lat_ring, *lat_tmp;
    size_t lat_cap, lat_n, lat_next;
    double lat_q[3];
    bool lat_q_fresh;          /* lat_q is of the ring as it is (computed only when read or tested) */
    fw_perf *perf;             /* NULL for tasks the tracker does not take */
    fw_perf_store_lookup *perf_lookup; /* settings.perf_home's prediction log (NULL: none) */
    uint64_t *hist_row;        /* settings.history */
    double *hist_val;
    size_t n_hist, cap_hist;
};

/* Runs the tests of the closed blocks waiting for them, in row order (test_mu held): what a reader
 * of the tested figures calls first. Returns how many blocks were tested. */
size_t fw__monitor_drain_locked(fw_monitor *mon);

/* lat_q of the ring as it is now (test_mu held): the latency test and the state JSON. */
void fw__monitor_latency_quantiles(fw_monitor *mon);

#endif
