/* fuzz_serve_config.c — libFuzzer target for the server's configuration parser (src/serve/config.c:
 * the `serving:` section of a YAML file): arbitrary bytes give FW_OK or a clean FW_ECONFIG-style
 * error with a message, never a crash, leak or sanitizer report. Build and run: fuzz/README.md. */
#include "serve/config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fw_serve_config c;
    fw_serve_config_init(&c);
    fw_err err;
    fw_err_clear(&err);
    if (fw_serve_config_parse(&c, (const char *)data, size, "fuzz.yaml", &err) != FW_OK && !err.msg[0])
        abort(); /* every refusal says why */
    fw_serve_config_free(&c);
    return 0;
}

#include "driver.h"
