/*
 * fuzz_sidecar.c - feeds arbitrary bytes to the trusted-configuration parser. Each input is
 * loaded twice onto the same config so the merge paths (tools union, host tool replacement,
 * mount append) run too; a crash, leak or sanitizer report is a bug. A failed load must leave
 * the config as it was, which the second load's outcome checks cheaply: it must succeed or
 * fail exactly like the first.
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    tx_error_clear(&err);
    int first = tx_config_load_string(&cfg, "fuzz.yml", (const char *)data, size, &err);
    size_t ntools = cfg.ntools;
    int second = tx_config_load_string(&cfg, "fuzz.yml", (const char *)data, size, &err);
    /* Loading the same text twice: same verdict, and the tools union adds nothing new. */
    if (first != second || cfg.ntools != ntools)
        abort();
    tx_config_free(&cfg);
    return 0;
}
