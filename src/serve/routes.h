/* routes.h — owns URL routing: one pure function maps a method + path to an endpoint and its
 * parameters (model name, version or alias), or says 404 (no such path) / 405 (path exists, the
 * method does not). No allocation; names are copied into fixed buffers and validated
 * ([A-Za-z0-9._-], at most 200 characters). */
#ifndef FW_SERVE_ROUTES_H
#define FW_SERVE_ROUTES_H

#include <stdbool.h>

typedef enum fw_route_kind {
    FW_ROUTE_NONE = 0,
    FW_ROUTE_HEALTHZ,
    FW_ROUTE_METRICS,
    FW_ROUTE_V1_MODELS,      /* GET /v1/models */
    FW_ROUTE_V1_PREDICT,     /* POST /v1/models/{name}[/versions/{v}|/aliases/{a}]:predict */
    FW_ROUTE_V1_EXPLAIN,     /* POST ...:explain */
    FW_ROUTE_V1_RANK,        /* POST /v1/rank */
    FW_ROUTE_V1_FEEDBACK,    /* POST /v1/feedback */
    FW_ROUTE_V2_SERVER,      /* GET /v2 */
    FW_ROUTE_V2_LIVE,        /* GET /v2/health/live */
    FW_ROUTE_V2_READY,       /* GET /v2/health/ready */
    FW_ROUTE_V2_MODEL,       /* GET /v2/models/{name}[/versions/{v}] */
    FW_ROUTE_V2_MODEL_READY, /* GET /v2/models/{name}[/versions/{v}]/ready */
    FW_ROUTE_V2_INFER,       /* POST /v2/models/{name}[/versions/{v}]/infer */
    FW_ROUTE_ADMIN_LOAD,     /* POST /admin/models/{name}:load */
    FW_ROUTE_ADMIN_UNLOAD,   /* POST /admin/models/{name}:unload */
    FW_ROUTE_ADMIN_ALIAS,    /* PUT|POST /admin/models/{name}/aliases/{a} */
    FW_ROUTE_ADMIN_RELOAD,   /* POST /admin/reload */
    FW_ROUTE_V1_MONITOR,     /* GET /v1/models/{name}[/versions/{v}|/aliases/{a}]/monitor */
    FW_ROUTE_V1_BANDITS,     /* GET /v1/bandits */
    FW_ROUTE_V1_ROLLOUT,     /* GET /v1/models/{name}/rollout */
    FW_ROUTE_ADMIN_ROLLOUT_RESTART, /* POST /admin/models/{name}/rollout:restart */
} fw_route_kind;

#define FW_ROUTE_NAME_MAX 201
/* The registry's longest model name or alias (registry.h FW_NAME_MAX): a longer one in a path is
 * refused with 400 (status 400, too_long set), never cut to fit. */
#define FW_ROUTE_NAME_LONGEST 128

typedef struct fw_route {
    fw_route_kind kind;
    int status;               /* 0 = matched; 400 a name over FW_ROUTE_NAME_LONGEST; 404 unknown path;
                                 405 wrong method */
    int too_long;             /* status 400: the length of the name refused */
    const char *allow;        /* for 405: the allowed method(s) */
    char name[FW_ROUTE_NAME_MAX];
    char version[FW_ROUTE_NAME_MAX]; /* "" when absent */
    char alias[FW_ROUTE_NAME_MAX];   /* "" when absent */
} fw_route;

/* Matches method + path (no query string). Always fills r; check r->status. */
void fw_route_match(const char *method, const char *path, fw_route *r);
/* True for a valid model / alias / version name. */
bool fw_route_name_ok(const char *s, int len);

#endif
