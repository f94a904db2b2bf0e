/* feedback_labels.h — owns the server's memory of which request ids already have a label: the
 * first label per request stands unless the feedback says "update": true, and a conflicting
 * second label is answered 409 at once. A fixed table of 64-bit keyed hashes (lock-free inserts,
 * 8 MiB for FW_LABEL_SLOTS slots, filled to 3/4): ids it cannot hold (full) or labelled by an
 * earlier process are settled by the store instead, which keeps the first label in force and
 * stores the second with status 'ignored' (fw_store_log_put_feedback, store/store.h).
 *
 * Example:
 *   fw_label_set *ls = fw_label_set_new();
 *   if (fw_label_set_claim(ls, rid) == 0) -> 409
 *   ... the label could not be stored: fw_label_set_release(ls, rid); */
#ifndef FW_SERVE_FEEDBACK_LABELS_H
#define FW_SERVE_FEEDBACK_LABELS_H

#include <stddef.h>

#define FW_LABEL_SLOTS ((size_t)1 << 20)

typedef struct fw_label_set fw_label_set;

fw_label_set *fw_label_set_new(void);
void fw_label_set_free(fw_label_set *s);
/* 1: claimed (no label before); 0: the id already has one; -1: unknown (the table is full). */
int fw_label_set_claim(fw_label_set *s, const char *request_id);
/* Gives a claim back (its label was not stored). */
void fw_label_set_release(fw_label_set *s, const char *request_id);

#endif
