/* dynlib.c — owns loading a shared library at run time by a table of symbols (dynlib.h). */
#include "core/dynlib.h"

#include "core/alloc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

fw_status fw_dynlib_load(const char *soname, const fw_dynsym *syms, size_t n, void *api, void **handle, char *why,
                         size_t why_len) {
    *handle = NULL;
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, why_len, "%s", e ? e : soname);
        return FW_EIO;
    }
    /* resolved into a scratch copy first: api is written only when every symbol is there */
    size_t end = 0;
    for (size_t i = 0; i < n; i++)
        if (syms[i].offset + sizeof(void *) > end) end = syms[i].offset + sizeof(void *);
    unsigned char *tmp = fw_malloc(end ? end : 1);
    if (!tmp) {
        dlclose(h);
        snprintf(why, why_len, "out of memory");
        return FW_ENOMEM;
    }
    memcpy(tmp, api, end);
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(why, why_len, "%s has no %s", soname, syms[i].name);
            fw_free(tmp);
            dlclose(h);
            return FW_EIO;
        }
        /* dlsym returns void *; POSIX guarantees it converts to a function pointer */
        memcpy(tmp + syms[i].offset, &p, sizeof p);
    }
    memcpy(api, tmp, end);
    fw_free(tmp);
    *handle = h;
    return FW_OK;
}

void fw_dynlib_close(void *handle) {
    if (handle) dlclose(handle);
}
