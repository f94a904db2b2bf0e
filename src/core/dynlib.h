/* dynlib.h — owns loading a shared library at run time (serve/mhd.c's libmicrohttpd, serve/curl.c's
 * libcurl): dlopen one soname, then dlsym a table of symbols into the function-pointer fields of
 * the caller's API struct, all or nothing. The caller keeps the handle for the life of the process
 * (or closes it when its own set-up after the load fails).
 *
 * Example:
 *   static const fw_dynsym syms[] = {FW_DYNSYM(my_api, start, "lib_start"), ...};
 *   my_api a; void *h; char why[256];
 *   if (fw_dynlib_load("libx.so.1", syms, sizeof syms / sizeof *syms, &a, &h, why, sizeof why)) fail(why);
 */
#ifndef FW_CORE_DYNLIB_H
#define FW_CORE_DYNLIB_H

#include "flywheel.h"

#include <stddef.h>

typedef struct fw_dynsym {
    const char *name;          /* the symbol */
    size_t offset;             /* of its function-pointer field in the API struct */
} fw_dynsym;

/* One table entry: field of struct type T receives symbol name. */
#define FW_DYNSYM(T, field, name) {(name), offsetof(T, field)}

/* Opens soname (RTLD_NOW | RTLD_LOCAL) and resolves every syms[i] into api. FW_OK with *handle
 * set; else FW_EIO with why = dlerror()'s text, or "<soname> has no <symbol>" for the first
 * missing one (the library is closed again and api is untouched). */
fw_status fw_dynlib_load(const char *soname, const fw_dynsym *syms, size_t n, void *api, void **handle, char *why,
                         size_t why_len);
void fw_dynlib_close(void *handle);

#endif
