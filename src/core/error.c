/* error.c — owns the status-code messages (from the one table in flywheel.h) and fw_err helpers. */
#include "flywheel.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *fw_strerror(fw_status st) {
    switch (st) {
#define FW__STATUS_MSG(name, value, msg) \
    case name:                           \
        return msg;
        FW_STATUS_TABLE(FW__STATUS_MSG)
#undef FW__STATUS_MSG
    }
    return "unknown error";
}

const char *fw_status_name(fw_status st) {
    switch (st) {
#define FW__STATUS_NAME(name, value, msg) \
    case name:                            \
        return #name;
        FW_STATUS_TABLE(FW__STATUS_NAME)
#undef FW__STATUS_NAME
    }
    return "FW_EUNKNOWN";
}

void fw_err_clear(fw_err *err) {
    if (!err) return;
    err->status = FW_OK;
    err->msg[0] = '\0';
}

fw_status fw_err_set(fw_err *err, fw_status st, const char *fmt, ...) {
    if (!err) return st;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return st;
}

fw_status fw_err_prefix(fw_err *err, const char *fmt, ...) {
    if (!err) return FW_EINVAL;
    char old[FW_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    char pre[FW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    /* Truncation is acceptable here: the message is for people, and the prefix comes first. */
    size_t n = strlen(pre);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, pre, n);
    err->msg[n] = ':';
    err->msg[n + 1] = ' ';
    size_t rest = sizeof err->msg - n - 3;
    size_t ol = strnlen(old, sizeof old);
    if (ol > rest) ol = rest;
    memcpy(err->msg + n + 2, old, ol);
    err->msg[n + 2 + ol] = '\0';
    return err->status;
}
