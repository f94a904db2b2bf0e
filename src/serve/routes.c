/* routes.c — owns the URL router (see routes.h). */
#include "serve/routes.h"

#include <string.h>

bool fw_route_name_ok(const char *s, int len) {
    if (len <= 0 || len >= FW_ROUTE_NAME_MAX || s[0] == '.') return false;
    for (int i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool take(fw_route *r, char *dst, const char *s, int len) {
    if (len > FW_ROUTE_NAME_LONGEST) { /* refused by name, not "no route": it is not cut to fit */
        r->status = 400;
        r->too_long = len;
        return false;
    }
    if (!fw_route_name_ok(s, len)) return false;
    memcpy(dst, s, (size_t)len);
    dst[len] = 0;
    return true;
}

/* Sets kind and checks the method: a wrong method gives 405 with Allow. */
static void hit(fw_route *r, fw_route_kind k, const char *method, const char *allowed) {
    r->kind = k;
    r->allow = allowed;
    if (strstr(allowed, method) && strlen(method) >= 3) r->status = 0;
    else r->status = 405;
}

/* Parses "{name}[/versions/{v}|/aliases/{a}]" occupying s[0..len). */
static bool model_ref(fw_route *r, const char *s, int len, bool allow_alias) {
    const char *slash = memchr(s, '/', (size_t)len);
    if (!slash) return take(r, r->name, s, len);
    if (!take(r, r->name, s, (int)(slash - s))) return false;
    const char *rest = slash + 1;
    int rl = len - (int)(rest - s);
    if (rl > 9 && strncmp(rest, "versions/", 9) == 0) return take(r, r->version, rest + 9, rl - 9);
    if (allow_alias && rl > 8 && strncmp(rest, "aliases/", 8) == 0) return take(r, r->alias, rest + 8, rl - 8);
    return false;
}

void fw_route_match(const char *method, const char *path, fw_route *r) {
    memset(r, 0, sizeof *r);
    r->status = 404;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* tolerate a trailing slash */
    int len = (int)n;
#define IS(lit) (n == sizeof(lit) - 1 && strncmp(path, lit, n) == 0)
    if (IS("/healthz")) return hit(r, FW_ROUTE_HEALTHZ, method, "GET");
    if (IS("/metrics")) return hit(r, FW_ROUTE_METRICS, method, "GET");
    if (IS("/v1/models")) return hit(r, FW_ROUTE_V1_MODELS, method, "GET");
    if (IS("/v1/rank")) return hit(r, FW_ROUTE_V1_RANK, method, "POST");
    if (IS("/v1/feedback")) return hit(r, FW_ROUTE_V1_FEEDBACK, method, "POST");
    if (IS("/v1/bandits")) return hit(r, FW_ROUTE_V1_BANDITS, method, "GET");
    if (IS("/v2")) return hit(r, FW_ROUTE_V2_SERVER, method, "GET");
    if (IS("/v2/health/live")) return hit(r, FW_ROUTE_V2_LIVE, method, "GET");
    if (IS("/v2/health/ready")) return hit(r, FW_ROUTE_V2_READY, method, "GET");
    if (IS("/admin/reload")) return hit(r, FW_ROUTE_ADMIN_RELOAD, method, "POST");
#undef IS
    if (n > 11 && strncmp(path, "/v1/models/", 11) == 0) {
        const char *s = path + 11;
        const char *colon = memchr(s, ':', (size_t)(len - 11));
        if (!colon && len - 11 > 8 && strncmp(path + len - 8, "/monitor", 8) == 0) {
            if (!model_ref(r, s, len - 11 - 8, true)) return;
            return hit(r, FW_ROUTE_V1_MONITOR, method, "GET");
        }
        if (!colon && len - 11 > 8 && strncmp(path + len - 8, "/rollout", 8) == 0) {
            if (!model_ref(r, s, len - 11 - 8, false)) return;
            return hit(r, FW_ROUTE_V1_ROLLOUT, method, "GET");
        }
        if (!colon) return;
        const char *verb = colon + 1;
        int vl = len - (int)(verb - path);
        fw_route_kind k = FW_ROUTE_NONE;
        if (vl == 7 && strncmp(verb, "predict", 7) == 0) k = FW_ROUTE_V1_PREDICT;
        else if (vl == 7 && strncmp(verb, "explain", 7) == 0) k = FW_ROUTE_V1_EXPLAIN;
        if (k == FW_ROUTE_NONE || !model_ref(r, s, (int)(colon - s), true)) return;
        return hit(r, k, method, "POST");
    }
    if (n > 11 && strncmp(path, "/v2/models/", 11) == 0) {
        const char *s = path + 11;
        int sl = len - 11;
        fw_route_kind k = FW_ROUTE_V2_MODEL;
        const char *allow = "GET";
        if (sl > 6 && strncmp(s + sl - 6, "/ready", 6) == 0) {
            k = FW_ROUTE_V2_MODEL_READY;
            sl -= 6;
        } else if (sl > 6 && strncmp(s + sl - 6, "/infer", 6) == 0) {
            k = FW_ROUTE_V2_INFER;
            allow = "POST";
            sl -= 6;
        }
        if (!model_ref(r, s, sl, false)) return;
        return hit(r, k, method, allow);
    }
    if (n > 15 && strncmp(path, "/admin/models/", 14) == 0) {
        const char *s = path + 14;
        int sl = len - 14;
        const char *colon = memchr(s, ':', (size_t)sl);
        if (colon) {
            const char *verb = colon + 1;
            int vl = sl - (int)(verb - s);
            fw_route_kind k = FW_ROUTE_NONE;
            int nl = (int)(colon - s);
            if (vl == 7 && strncmp(verb, "restart", 7) == 0 && nl > 8 && strncmp(colon - 8, "/rollout", 8) == 0) {
                if (!take(r, r->name, s, nl - 8)) return;
                return hit(r, FW_ROUTE_ADMIN_ROLLOUT_RESTART, method, "POST");
            }
            if (vl == 4 && strncmp(verb, "load", 4) == 0) k = FW_ROUTE_ADMIN_LOAD;
            else if (vl == 6 && strncmp(verb, "unload", 6) == 0) k = FW_ROUTE_ADMIN_UNLOAD;
            if (k == FW_ROUTE_NONE || !take(r, r->name, s, (int)(colon - s))) return;
            return hit(r, k, method, "POST");
        }
        if (!model_ref(r, s, sl, true) || !r->alias[0]) return;
        return hit(r, FW_ROUTE_ADMIN_ALIAS, method, "PUT, POST");
    }
}
