/*
 * config_cascade.c - which trusted configuration files a command reads, in order.
 *
 *   1. $TACTUS_HOME/config.yml (default ~/.tactus/config.yml): the user's own defaults;
 *   2. with --policy FILE: that file only, nothing from the procedure's tree, and the policy is
 *      the ceiling: the user config may narrow it, never widen it (tx_config_ceiling); a tool
 *      whose command names a file in the tree or the workspace is refused;
 *      otherwise <procedure dir>/.tactus/config.yml, then the sidecar FILE.tac.yml.
 * Later files merge on top of earlier ones (docs/sidecar.md has the merge rules).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "commands.h"
#include "files.h"
#include "home.h"

/*
 * Under --policy the procedure's tree is untrusted, and so is the workspace it runs in: a host
 * tool whose command names a file there (its program, a script it runs) would run the pull
 * request's code on the host with the tool's secrets. Such a policy is refused, naming the
 * tool, the file and the rule (docs/host-tools.md#tools-that-run-workspace-code).
 */
static int refuse_tree_programs(const char *policy, const tx_config *cfg, const char *proc_dir,
                                tx_error *err)
{
    char tree[PATH_MAX], ws[PATH_MAX];
    if (tx_files_abs_path(proc_dir, tree, sizeof tree) != 0 ||
        tx_files_abs_path(".", ws, sizeof ws) != 0)
        return tx_fail(err, TACTUS_EUSAGE, "%s: cannot resolve the procedure's directory %s",
                       policy, proc_dir);
    for (size_t i = 0; i < cfg->nhost_tools; i++) {
        const tx_host_tool *t = &cfg->host_tools[i];
        char(*files)[PATH_MAX] = calloc(t->argc ? t->argc : 1, sizeof *files);
        if (files == NULL)
            return tx_fail(err, TACTUS_ESYSTEM, "out of memory checking %s", policy);
        size_t nf = tx_files_command_files(t, proc_dir, files, t->argc);
        for (size_t k = 0; k < nf; k++) {
            if (!tx_files_path_under(files[k], tree) && !tx_files_path_under(files[k], ws))
                continue;
            tx_fail(err, TACTUS_EUSAGE,
                    "%s: host_tools.%s: its command names %s, inside the untrusted tree or "
                    "workspace (%s): under --policy a tool's program and the files it runs must "
                    "come from outside them (docs/host-tools.md#tools-that-run-workspace-code)",
                    policy, t->name, files[k], tx_files_path_under(files[k], tree) ? tree : ws);
            free(files);
            return -1;
        }
        free(files);
    }
    return 0;
}

/* Loads path into cfg when it exists; 0 when it does not. */
static int load_if_present(tx_config *cfg, const char *path, tx_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    return tx_config_load_found(cfg, path, err);
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
        if (rc == 0)
            rc = refuse_tree_programs(policy, cfg, proc_dir, err);
        return rc;
    }
    snprintf(path, sizeof path, "%s/.tactus/config.yml", proc_dir);
    if (load_if_present(cfg, path, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s.yml", file);
    return load_if_present(cfg, path, err);
}
