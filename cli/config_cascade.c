/*
 * config_cascade.c - which trusted configuration files a command reads, in order.
 *
 *   1. $TACTUS_HOME/config.yml (default ~/.tactus/config.yml): the user's own defaults;
 *   2. with --policy FILE: that file only, nothing from the procedure's tree, and the policy is
 *      the ceiling: the user config may narrow it, never widen it (tx_config_ceiling);
 *      otherwise <procedure dir>/.tactus/config.yml, then the sidecar FILE.tac.yml.
 * Later files merge on top of earlier ones (docs/sidecar.md has the merge rules).
 */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "commands.h"
#include "home.h"

/* Loads path into cfg when it exists; 0 when it does not. */
static int load_if_present(tx_config *cfg, const char *path, tx_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    return tx_config_load_file(cfg, path, err);
}

int tx_cli_load_config(const char *policy, const char *file, const char *proc_dir, tx_config *cfg,
                       tx_error *err)
{
    char path[PATH_MAX + 32], home[PATH_MAX];
    tx_error home_err;
    tx_error_clear(&home_err);
    if (tx_home_dir(home, sizeof home, &home_err) == 0) {
        snprintf(path, sizeof path, "%s/config.yml", home);
        if (load_if_present(cfg, path, err) != 0)
            return -1;
    }
    if (policy != NULL) {
        tx_config pol;
        tx_config_init(&pol);
        int rc = tx_config_load_file(&pol, policy, err);
        if (rc == 0)
            rc = tx_config_ceiling(cfg, &pol, err);
        tx_config_free(&pol);
        return rc;
    }
    snprintf(path, sizeof path, "%s/.tactus/config.yml", proc_dir);
    if (load_if_present(cfg, path, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s.yml", file);
    return load_if_present(cfg, path, err);
}
