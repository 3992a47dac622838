/* test_files.c - the File primitive's broker side: everything stays beneath the workspace. */
#include <check.h>

#include "check_main.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "config.h"

/* A fresh workspace holding secret.txt *outside* it (in its parent) for links to aim at. */
static char outer[64], base[80];

static void setup(void)
{
    snprintf(outer, sizeof outer, "/tmp/tx_files_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(outer));
    snprintf(base, sizeof base, "%s/ws", outer);
    ck_assert_int_eq(mkdir(base, 0755), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/secret.txt", outer);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("top secret", f);
    ck_assert_int_eq(fclose(f), 0);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outer);
    ck_assert_int_eq(system(cmd), 0);
}

static void link_in_base(const char *target, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", base, name);
    ck_assert_int_eq(symlink(target, path), 0);
}

START_TEST(write_then_read_and_stat)
{
    char emsg[256];
    const char *kind = NULL;
    ck_assert_int_eq(tx_files_write(base, NULL, "a/b/c.txt", (const unsigned char *)"hi", 2, &kind,
                                    emsg, sizeof emsg),
                     0);
    json_t *r = tx_files_read(base, NULL, "a/b/c.txt", &kind, emsg, sizeof emsg);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")), "hi");
    ck_assert_ptr_null(json_object_get(r, "base64"));
    json_decref(r);
    json_t *st = tx_files_stat(base, NULL, "a/b/c.txt", &kind, emsg, sizeof emsg);
    ck_assert(json_is_true(json_object_get(st, "exists")));
    ck_assert_int_eq(json_integer_value(json_object_get(st, "size")), 2);
    json_decref(st);
    st = tx_files_stat(base, NULL, "a/b", &kind, emsg, sizeof emsg); /* a directory is not a file */
    ck_assert(json_is_false(json_object_get(st, "exists")));
    json_decref(st);
}
END_TEST

START_TEST(binary_comes_back_as_base64)
{
    char emsg[256];
    const char *kind = NULL;
    const unsigned char bytes[] = {0x00, 0xff, 0x01};
    ck_assert_int_eq(
        tx_files_write(base, NULL, "b.bin", bytes, sizeof bytes, &kind, emsg, sizeof emsg), 0);
    json_t *r = tx_files_read(base, NULL, "b.bin", &kind, emsg, sizeof emsg);
    ck_assert_ptr_nonnull(r);
    ck_assert(json_is_true(json_object_get(r, "base64")));
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")), "AP8B");
    json_decref(r);
}
END_TEST

START_TEST(absolute_and_dotdot_refused_by_name)
{
    char emsg[256];
    const char *kind = NULL;
    ck_assert_ptr_null(tx_files_read(base, NULL, "/etc/passwd", &kind, emsg, sizeof emsg));
    ck_assert_str_eq(emsg, "Absolute paths not allowed: /etc/passwd");
    ck_assert_str_eq(kind, TX_FILES_BAD_PATH);
    const char *climbs[] = {"..", "../secret.txt", "a/../../secret.txt", "a/.."};
    for (size_t i = 0; i < sizeof climbs / sizeof climbs[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, NULL, climbs[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "Path traversal detected") != NULL, "%s: %s", climbs[i], emsg);
        ck_assert_int_eq(tx_files_write(base, NULL, climbs[i], (const unsigned char *)"x", 1, &kind,
                                        emsg, sizeof emsg),
                         -1);
    }
    /* ".." inside a name is an ordinary name. */
    ck_assert_int_eq(
        tx_files_write(base, NULL, "a..b", (const unsigned char *)"x", 1, &kind, emsg, sizeof emsg),
        0);
}
END_TEST

START_TEST(links_never_followed)
{
    char emsg[256], target[128];
    const char *kind = NULL;
    snprintf(target, sizeof target, "%s/secret.txt", outer);
    link_in_base(target, "abs_link");
    link_in_base("../secret.txt", "rel_link");
    link_in_base(outer, "dir_link");
    const char *reads[] = {"abs_link", "rel_link", "dir_link/secret.txt"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, NULL, reads[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "Path traversal detected") != NULL, "%s: %s", reads[i], emsg);
        ck_assert_str_eq(kind, TX_FILES_BAD_PATH);
    }
    /* Writing through a link must not replace the file it points at. */
    ck_assert_int_eq(tx_files_write(base, NULL, "abs_link", (const unsigned char *)"pwned", 5,
                                    &kind, emsg, sizeof emsg),
                     -1);
    ck_assert_int_eq(tx_files_write(base, NULL, "dir_link/new.txt", (const unsigned char *)"x", 1,
                                    &kind, emsg, sizeof emsg),
                     -1);
    char path[160];
    snprintf(path, sizeof path, "%s/new.txt", outer);
    ck_assert_int_eq(access(path, F_OK), -1);
    json_t *r = tx_files_read(outer, NULL, "secret.txt", &kind, emsg, sizeof emsg);
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")), "top secret");
    json_decref(r);
}
END_TEST

START_TEST(large_and_special_files_refused)
{
    char emsg[256], path[128];
    const char *kind = NULL;
    snprintf(path, sizeof path, "%s/big", base);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (2 << 20)), 0);
    close(fd);
    ck_assert_ptr_null(tx_files_read(base, NULL, "big", &kind, emsg, sizeof emsg));
    ck_assert_ptr_nonnull(strstr(emsg, "at most"));
    snprintf(path, sizeof path, "%s/fifo", base);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    json_t *st = tx_files_stat(base, NULL, "fifo", &kind, emsg, sizeof emsg);
    ck_assert(json_is_false(json_object_get(st, "exists")));
    json_decref(st);
    /* Neither reading nor writing a FIFO may block the broker. */
    ck_assert_ptr_null(tx_files_read(base, NULL, "fifo", &kind, emsg, sizeof emsg));
    ck_assert_int_eq(
        tx_files_write(base, NULL, "fifo", (const unsigned char *)"x", 1, &kind, emsg, sizeof emsg),
        -1);
}
END_TEST

START_TEST(trusted_paths_protected)
{
    char emsg[256], home[128];
    const char *kind = NULL;
    snprintf(home, sizeof home, "%s/state/home", base);
    ck_assert_int_eq(tx_files_write(base, NULL, "state/home/key", (const unsigned char *)"k", 1,
                                    &kind, emsg, sizeof emsg),
                     0);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);
    const char *unreadable[] = {".tactus/runs/r/journal.jsonl", "./.tactus", "a//.tactus/x",
                                "state/home/key", "./state//home"};
    for (size_t i = 0; i < sizeof unreadable / sizeof unreadable[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, NULL, unreadable[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "is protected") != NULL, "%s: %s", unreadable[i], emsg);
        ck_assert_str_eq(kind, TX_FILES_FAILED);
        ck_assert_ptr_null(tx_files_stat(base, NULL, unreadable[i], &kind, emsg, sizeof emsg));
    }
    const char *unwritable[] = {".tactus/config.yml", ".git/hooks/pre-commit", "proc.tac.yml",
                                "sub/x.tac.yaml", "state/home/secrets.json"};
    for (size_t i = 0; i < sizeof unwritable / sizeof unwritable[0]; i++) {
        ck_assert_int_eq(tx_files_write(base, NULL, unwritable[i], (const unsigned char *)"x", 1,
                                        &kind, emsg, sizeof emsg),
                         -1);
        ck_assert_msg(strstr(emsg, "is protected") != NULL, "%s: %s", unwritable[i], emsg);
    }
    /* Near misses are ordinary files. */
    ck_assert_int_eq(tx_files_write(base, NULL, ".tactusx/a.tac.yml.txt",
                                    (const unsigned char *)"x", 1, &kind, emsg, sizeof emsg),
                     0);
    ck_assert_int_eq(unsetenv("TACTUS_HOME"), 0);
}
END_TEST

/* Writes text to base/rel (parents must exist). */
static void put(const char *rel, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(close(fd), 0);
}

static int wr(const tx_files_guard *g, const char *rel, const char *text, char *emsg, size_t cap)
{
    const char *kind = NULL;
    return tx_files_write(base, g, rel, (const unsigned char *)text, strlen(text), &kind, emsg,
                          cap);
}

/* Issue 8: File.write truncated in place, so a tool script kept its exec bit and ran the
 * procedure's code. Now the name gets a new inode of mode 0644; other links keep the old. */
START_TEST(write_replaces_the_inode)
{
    char emsg[256], path[256], other_path[256];
    put("tool.sh", "#!/bin/sh\necho original\n", 0755);
    snprintf(path, sizeof path, "%s/tool.sh", base);
    snprintf(other_path, sizeof other_path, "%s/other-name", base);
    ck_assert_int_eq(link(path, other_path), 0);
    struct stat before, after, other;
    ck_assert_int_eq(stat(path, &before), 0);
    ck_assert_int_eq(wr(NULL, "tool.sh", "#!/bin/sh\necho pwned\n", emsg, sizeof emsg), 0);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_ne(before.st_ino, after.st_ino);
    ck_assert_int_eq(after.st_mode & 07777, 0644);
    ck_assert_int_eq(stat(other_path, &other), 0);
    ck_assert_int_eq(other.st_ino, before.st_ino);
    ck_assert_int_eq(other.st_mode & 07777, 0755);
    const char *kind = NULL;
    json_t *r = tx_files_read(base, NULL, "other-name", &kind, emsg, sizeof emsg);
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")),
                     "#!/bin/sh\necho original\n");
    json_decref(r);
    /* No temporary file is left behind. */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q tactus-write", base);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST

/* Issue 8: File.read(".git/config") handed CI checkout credentials to the procedure. */
START_TEST(credential_files_not_read)
{
    char emsg[256];
    const char *kind = NULL;
    ck_assert_int_eq(mkdir(strcat(strcpy((char[200]){0}, base), "/.git"), 0755), 0);
    ck_assert_int_eq(mkdir(strcat(strcpy((char[200]){0}, base), "/.docker"), 0755), 0);
    put(".git/config", "[http] extraheader = AUTHORIZATION: basic c2VjcmV0\n", 0644);
    put(".git/HEAD", "ref: refs/heads/main\n", 0644);
    put(".npmrc", "//registry/:_authToken=secret\n", 0644);
    put(".docker/config.json", "{}", 0644);
    put(".NETRC", "machine x password y\n", 0644);
    const char *denied[] = {".git/config", "./.git//config", ".npmrc", ".docker/config.json",
                            ".NETRC"};
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, NULL, denied[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "is protected: it may hold") != NULL, "%s: %s", denied[i], emsg);
    }
    /* Deep paths are checked to their last component. */
    char deep[1100] = "";
    for (int i = 0; i < 300; i++)
        strcat(deep, "d/");
    strcat(deep, ".npmrc");
    ck_assert_ptr_null(tx_files_read(base, NULL, deep, &kind, emsg, sizeof emsg));
    ck_assert_msg(strstr(emsg, "is protected: it may hold credentials") != NULL, "%s", emsg);
    json_t *r = tx_files_read(base, NULL, ".git/HEAD", &kind, emsg, sizeof emsg);
    ck_assert_ptr_nonnull(r);
    json_decref(r);
    /* files.read_credentials allows the named one, and only it. */
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    const char *yml = "files: {read_credentials: [./.npmrc]}\n";
    ck_assert_int_eq(tx_config_load_string(&cfg, "t.yml", yml, strlen(yml), &err), 0);
    tx_files_guard g = {&cfg, NULL, NULL};
    r = tx_files_read(base, &g, ".npmrc", &kind, emsg, sizeof emsg);
    ck_assert_msg(r != NULL, "%s", emsg);
    json_decref(r);
    ck_assert_ptr_null(tx_files_read(base, &g, ".git/config", &kind, emsg, sizeof emsg));
    tx_config_free(&cfg);
}
END_TEST

/* Issue 8: protection went by component names, so `.tactus -> evidence` or `.TACTUS` let File
 * write the project configuration and other runs' run.json. */
START_TEST(protection_follows_the_object)
{
    char emsg[256], path[256];
    snprintf(path, sizeof path, "%s/evidence", base);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    link_in_base("evidence", ".tactus");
    const char *refused[] = {"evidence/config.yml", "evidence/runs/r/run.json", ".TACTUS/x",
                             "deploy.lua.yml", "ci.tac.YAML"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_int_eq(wr(NULL, refused[i], "tools: [evil]", emsg, sizeof emsg), -1);
        ck_assert_msg(strstr(emsg, "is protected") != NULL, "%s: %s", refused[i], emsg);
    }
    snprintf(path, sizeof path, "%s/evidence/config.yml", base);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* The sidecar of any existing file is configuration; of a missing plain name it is not. */
    put("deploy.sh", "#!/bin/sh\n", 0644);
    ck_assert_int_eq(wr(NULL, "deploy.sh.yml", "tools: [evil]", emsg, sizeof emsg), -1);
    ck_assert_msg(strstr(emsg, "sidecar") != NULL, "%s", emsg);
    ck_assert_int_eq(wr(NULL, "report.yml", "a: 1", emsg, sizeof emsg), 0);
    /* With HOME inside the workspace, its dotfiles (git's, the shell's) are configuration too. */
    const char *saved = getenv("HOME");
    char saved_home[256] = "";
    if (saved != NULL)
        snprintf(saved_home, sizeof saved_home, "%s", saved);
    snprintf(path, sizeof path, "%s/home", base);
    ck_assert_int_eq(setenv("HOME", path, 1), 0);
    ck_assert_int_eq(wr(NULL, "home/.gitconfig", "[core]\n\tfsmonitor = evil\n", emsg, sizeof emsg),
                     -1);
    ck_assert_msg(strstr(emsg, "dotfile of HOME") != NULL, "%s", emsg);
    ck_assert_int_eq(wr(NULL, "home/.config/git/config", "x", emsg, sizeof emsg), -1);
    ck_assert_int_eq(wr(NULL, "home/notes.txt", "fine", emsg, sizeof emsg), 0);
    /* A workspace below HOME (HOME not inside it): its own dot files are ordinary files. */
    ck_assert_int_eq(setenv("HOME", outer, 1), 0);
    ck_assert_int_eq(wr(NULL, ".hidden-but-ours", "fine", emsg, sizeof emsg), 0);
    if (saved != NULL)
        ck_assert_int_eq(setenv("HOME", saved_home, 1), 0);
    else
        ck_assert_int_eq(unsetenv("HOME"), 0);
}
END_TEST

/* git runs hooks from core.hooksPath (husky's .husky/_, a repository's .githooks) like those in
 * .git/hooks: a procedure must not plant them there either. */
START_TEST(git_hooks_path_protected)
{
    char emsg[256], path[256];
    snprintf(path, sizeof path, "%s/.git", base);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    put(".git/config", "[core]\n\trepositoryformatversion = 0\n\thooksPath = .husky/_\n", 0644);
    ck_assert_int_eq(wr(NULL, ".husky/_/pre-commit", "#!/bin/sh\nevil\n", emsg, sizeof emsg), -1);
    ck_assert_msg(strstr(emsg, "core.hooksPath") != NULL, "%s", emsg);
    snprintf(path, sizeof path, "%s/.husky", base);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(wr(NULL, ".husky/notes.txt", "fine", emsg, sizeof emsg), 0);
}
END_TEST

/* Issue 8: a hard link in the workspace to a file of TACTUS_HOME (the secrets store, its key)
 * must not make it readable or writable under the other name. */
START_TEST(hard_links_to_home_refused)
{
    char emsg[256], home[200], key[260], alias[260];
    const char *kind = NULL;
    snprintf(home, sizeof home, "%s/home", outer);
    ck_assert_int_eq(mkdir(home, 0700), 0);
    snprintf(key, sizeof key, "%s/secrets.key", home);
    FILE *f = fopen(key, "w");
    ck_assert_ptr_nonnull(f);
    fputs("KEYMATERIAL", f);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(alias, sizeof alias, "%s/innocent.txt", base);
    ck_assert_int_eq(link(key, alias), 0);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);
    ck_assert_ptr_null(tx_files_read(base, NULL, "innocent.txt", &kind, emsg, sizeof emsg));
    ck_assert_msg(strstr(emsg, "it is TACTUS_HOME") != NULL, "%s", emsg);
    ck_assert_int_eq(wr(NULL, "innocent.txt", "x", emsg, sizeof emsg), -1);
    ck_assert_int_eq(unsetenv("TACTUS_HOME"), 0);
}
END_TEST

/* Issue 8: a TACTUS_HOME inside the workspace that did not exist yet was unprotected, so a
 * procedure could plant the next run's user config. */
START_TEST(home_protected_before_it_exists)
{
    char emsg[256], home[200], path[256];
    snprintf(home, sizeof home, "%s/later/home", base);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);
    ck_assert_int_eq(wr(NULL, "later/home/config.yml", "tools: [evil]", emsg, sizeof emsg), -1);
    ck_assert_msg(strstr(emsg, "TACTUS_HOME") != NULL, "%s", emsg);
    snprintf(path, sizeof path, "%s/later/home", base);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(unsetenv("TACTUS_HOME"), 0);
}
END_TEST

/* Issue 8: the files a host tool's command names are protected, so a procedure cannot
 * replace the program (or a script an interpreter runs) before the next Host.call. */
START_TEST(tool_programs_protected)
{
    char emsg[256], path[256];
    snprintf(path, sizeof path, "%s/scripts", base);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    put("scripts/post-comment", "#!/bin/sh\n", 0755);
    put("scripts/x.sh", "echo hi\n", 0644);
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    const char *yml = "host_tools:\n  post: {command: [./scripts/post-comment]}\n"
                      "  sh: {command: [bash, x.sh, --flag], cwd: scripts}\n";
    ck_assert_int_eq(tx_config_load_string(&cfg, "t.yml", yml, strlen(yml), &err), 0);
    tx_files_guard g = {&cfg, base, NULL};
    ck_assert_int_eq(wr(&g, "scripts/post-comment", "#!/bin/sh\nevil\n", emsg, sizeof emsg), -1);
    ck_assert_msg(strstr(emsg, "host tool") != NULL, "%s", emsg);
    ck_assert_int_eq(wr(&g, "./scripts//x.sh", "evil\n", emsg, sizeof emsg), -1);
    ck_assert_int_eq(wr(&g, "scripts/other.sh", "fine\n", emsg, sizeof emsg), 0);
    tx_config_free(&cfg);
}
END_TEST

static Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, write_then_read_and_stat);
    tcase_add_test(tc, binary_comes_back_as_base64);
    tcase_add_test(tc, absolute_and_dotdot_refused_by_name);
    tcase_add_test(tc, links_never_followed);
    tcase_add_test(tc, large_and_special_files_refused);
    tcase_add_test(tc, trusted_paths_protected);
    tcase_add_test(tc, write_replaces_the_inode);
    tcase_add_test(tc, credential_files_not_read);
    tcase_add_test(tc, protection_follows_the_object);
    tcase_add_test(tc, home_protected_before_it_exists);
    tcase_add_test(tc, hard_links_to_home_refused);
    tcase_add_test(tc, git_hooks_path_protected);
    tcase_add_test(tc, tool_programs_protected);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(files_suite)
