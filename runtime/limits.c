/* limits.c - names, defaults and parsing of the run's resource limits. */
#include "tx_limits.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const limit_names[TX_LIMIT__COUNT] = {
    [TX_LIMIT_INSTRUCTIONS] = "instructions",
    [TX_LIMIT_MEMORY] = "memory",
    [TX_LIMIT_STRING] = "string",
    [TX_LIMIT_OUTPUT] = "output",
    [TX_LIMIT_DEPTH] = "depth",
    [TX_LIMIT_HOST_CALLS] = "host_calls",
    [TX_LIMIT_TIMEOUT] = "timeout",
    [TX_LIMIT_CPUS] = "cpus",
    [TX_LIMIT_PIDS] = "pids",
    [TX_LIMIT_FILES] = "files",
    [TX_LIMIT_FILE_SIZE] = "file_size",
    [TX_LIMIT_TMP] = "tmp",
    [TX_LIMIT_JOURNAL] = "journal",
    [TX_LIMIT_DISK] = "disk",
};

#define MIB (1024ULL * 1024ULL)

void tx_limits_default(tx_limits *l)
{
    memset(l, 0, sizeof *l);
    l->allowed[TX_LIMIT_INSTRUCTIONS] = 0; /* unlimited: the wall clock is the backstop */
    l->allowed[TX_LIMIT_MEMORY] = 256 * MIB;
    l->allowed[TX_LIMIT_STRING] = 64 * MIB;
    l->allowed[TX_LIMIT_OUTPUT] = 8 * MIB;
    l->allowed[TX_LIMIT_DEPTH] = 1000;
    l->allowed[TX_LIMIT_HOST_CALLS] = 10000;
    l->allowed[TX_LIMIT_TIMEOUT] = 600 * 1000;
    l->allowed[TX_LIMIT_CPUS] = 1;
    l->allowed[TX_LIMIT_PIDS] = 32;
    l->allowed[TX_LIMIT_FILES] = 64;
    l->allowed[TX_LIMIT_FILE_SIZE] = 64 * MIB;
    l->allowed[TX_LIMIT_TMP] = 64 * MIB;
    l->allowed[TX_LIMIT_JOURNAL] = 256 * MIB;
    l->allowed[TX_LIMIT_DISK] = 1024 * MIB;
}

const char *tx_limit_name(tx_limit_id id)
{
    if ((int)id < 0 || id >= TX_LIMIT__COUNT)
        return "unknown";
    return limit_names[id];
}

int tx_limit_by_name(const char *name)
{
    for (int i = 0; i < TX_LIMIT__COUNT; i++)
        if (strcmp(limit_names[i], name) == 0)
            return i;
    return -1;
}

int tx_limit_is_size(tx_limit_id id)
{
    return id == TX_LIMIT_MEMORY || id == TX_LIMIT_STRING || id == TX_LIMIT_OUTPUT ||
           id == TX_LIMIT_FILE_SIZE || id == TX_LIMIT_TMP || id == TX_LIMIT_JOURNAL ||
           id == TX_LIMIT_DISK;
}

int tx_parse_size(const char *text, uint64_t *out)
{
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0)
        return -1;
    uint64_t mult = 1;
    switch (tolower((unsigned char)*end)) {
    case '\0':
        break;
    case 'k':
        mult = 1024ULL;
        end++;
        break;
    case 'm':
        mult = MIB;
        end++;
        break;
    case 'g':
        mult = 1024ULL * MIB;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0')
        return -1;
    if (mult > 1 && v > UINT64_MAX / mult)
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}
