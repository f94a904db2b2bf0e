/* log_spool.h — owns the prediction log's disk spool: a sink that puts the store's cost off the
 * request path. The log writer hands it batches; it appends them to a spool file with one write
 * per batch (~2 µs a record) and returns. An ingest thread of its own, at SCHED_IDLE (it runs only
 * on a CPU no request thread wants), moves them into the real sink (the store: ~7 µs a record of
 * SQLite) in small transactions, in order, and records in the file how far it got.
 *
 * Why: at 30-45k predictions/s on two cores, writing every record into SQLite as it arrived took a
 * third of a core and pushed the server's p99 at 16 connections from ~1-2 ms to ~9 ms (bench/serve,
 * docs/bench/serve.md). With the spool, a burst costs a file append and the store catches up when
 * the CPU has time; the lag is in /metrics. Since session 17 (fw_log_spool_direct, on in the
 * server) the writer skips the file while it is empty and hands the batch to the sink itself:
 * the store's transactions got cheap enough that the spool's own work was a large part of the
 * log's cost; the spool takes what the sink cannot take at once.
 *
 * Guarantees:
 *   - bounded: past max_bytes of records not yet in the store, new records are dropped and counted
 *     (never an unbounded file); a drained file is reused from its start past 8 MiB, and cut back to
 *     its header when a backlog grew it past 32 MiB;
 *   - a process crash loses nothing already appended: a later server on the same directory finds
 *     the spool (its owner's flock is gone), ingests the rest and deletes it; the record checksums
 *     find a torn tail or damaged bytes, recovery goes on at the next valid record, the first
 *     recovered batch skips what the store already holds (the sink's contains hook) so nothing is
 *     stored twice; a file whose header is damaged is renamed *.damaged and reported;
 *   - what a crash does lose is counted: two counters, records the queue accepted and records it
 *     settled (handed over, dropped or freed), live in /dev/shm/flywheel-spool-<dev>-<inode>.count
 *     (16 bytes, mapped: kill -9 leaves them, and tmpfs never makes a request thread wait for disk
 *     writeback); the recovering server reports accepted - settled as lost and removes the file;
 *   - a full disk never reaches the store from the writer's thread: the batch is dropped, marked
 *     lost and counted, and the next batch tries the disk again;
 *   - sync (fdatasync) is the group commit of durable pushes (logq.h);
 *   - close drains everything into the sink before it returns (SIGTERM: nothing lost).
 *
 * File (little-endian, fixed width, like every Flywheel serializer: core/buf.h):
 *   header 32 bytes: "FWSPOOL2", u64 offset of the first record not yet in the sink, u64 offset of
 *     the end of the records (written after them), 8 zero bytes. A drained spool past 8 MiB starts
 *     again after its header over its own pages (log_spool.c live_step), so the file may hold an
 *     earlier lap's records past the end: they are never read. Files of earlier versions
 *     ("FWSPOOL1", 16 zero bytes after the offset; never wrapped) end at the file's end and are
 *     still recovered;
 *   records: u32 body length, u32 checksum (low 32 bits of fw_hash64 of the body), body:
 *     u8 kind, u8 matched, u8 flags (feedback: bit 0 "update"; prediction: bit 1 the inputs are
 *     compact, i.e. without whitespace between tokens: the writer strips it before appending, so
 *     the spool is smaller and ingestion only copies them; files of earlier versions have 0), 1 zero
 *     byte, i64 ts_ms, i64 latency_us, f64 value, u32 n_rows, u32 n_out,
 *     12 strings (u32 length or 0xFFFFFFFF for none, then the bytes): request_id, model, version,
 *     entity_id, variant, source, protocol, outcome, inputs, answers, label_json, event;
 *     then n_rows x n_out f64 outputs (a prediction) or, optionally, a 13th string: the feedback's
 *     source (files of earlier versions end after the 12).
 *
 * Example:
 *   fw_log_sink store, spool;
 *   fw_log_sink_store(home, NULL, NULL, &store, &err);
 *   fw_log_sink_spool("H/spool", &store, 1 << 30, 256, false, &spool, &err);   // owns store from here
 *   fw_logq_new(&spool, ...);                                       // the queue's writer appends */
#ifndef FW_SERVE_LOG_SPOOL_H
#define FW_SERVE_LOG_SPOOL_H

#include "serve/logq.h"

#include <stdint.h>

/* Opens a new spool file in dir (created if missing) owned by this process (flock), starts the
 * ingest thread, and fills *out with a sink whose write appends and whose close drains, closes
 * inner and removes the file. inner is owned on success (on failure the caller still has it, e.g.
 * to write the store directly). Spools in
 * dir left by processes that are gone are ingested first. max_bytes bounds the records not yet in
 * inner; ingest_batch records go to inner per transaction (64 when 0). catch_up: past half of
 * max_bytes a second thread at normal priority ingests too, down to a quarter (the store keeps up
 * under sustained overload at the request threads' expense); without it the bound drops. */
fw_status fw_log_sink_spool(const char *dir, const fw_log_sink *inner, uint64_t max_bytes, size_t ingest_batch,
                            bool catch_up, fw_log_sink *out, fw_err *err);

/* Direct writes on (the server's default, serving.log.direct) or off (the default of a new spool):
 * while the spool holds nothing not yet in the sink, and the dead processes' spools are in, the
 * writer's batch goes to the sink at once (inner's write_now, on the writer's thread) instead of
 * through the file; a sink without write_now never does. No-op on a sink that is not a spool. */
void fw_log_spool_direct(const fw_log_sink *sink, bool on);

/* A record's checksum: the low 32 bits of fw_hash64 of its body with the spool's seed. */
uint32_t fw_log_spool_checksum(const void *body, size_t n);
/* Encodes r as one spool record (length, checksum, body) appended to out. */
void fw_log_spool_encode(const fw_log_record *r, fw_buf *out);
/* Decodes the record at p (n bytes available): *used = its size in bytes. Returns the record (one
 * fw_malloc, as from fw_log_prediction_new / fw_log_feedback_new), or NULL with *used = 0 when the
 * bytes do not hold a whole valid record (short, bad length or checksum), or NULL with *used > 0
 * when it is valid but memory ran out. */
fw_log_record *fw_log_spool_decode(const unsigned char *p, size_t n, size_t *used);

#endif
