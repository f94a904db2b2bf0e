/* fingerprint.h — owns the fingerprint of dataset rows as read (every column's raw values), the
 * identity of "the same test data" that the promotion rule compares: it does not depend on the
 * fitted pipeline, the seed or the model, only on the rows and their values. */
#ifndef FW_DATA_FINGERPRINT_H
#define FW_DATA_FINGERPRINT_H

#include "data/dataset.h"

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of rows[0..n) of ds (in that order), over every column's name, type and values
 * (numbers by value with -0 and every NaN folded, strings by their bytes, missing as missing).
 * Returns 0 only when out of memory. */
uint64_t fw_dataset_fingerprint(const fw_dataset *ds, const uint32_t *rows, size_t n);

#endif
