/* fuzz_serve_v1.c — libFuzzer target for the server's fast /v1 and /v2 body decoders
 * (src/serve/v1_decode.c): each input goes through both the zero-allocation decoder and the jansson
 * path of a server that never listens, and any difference in the HTTP code or reply bytes aborts
 * (fw_serve_fuzz_v1_decode). Seeds: fuzz/corpus/serve_v1/ (from tests/serve/fixtures/v1_bodies/).
 * Build and run: fuzz/README.md. */
#include "serve/v1_fuzz.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fw_serve_fuzz_v1_decode(data, size); }

#include "driver.h"
