/*
 * home.h - where user-level tactus state lives (TACTUS_HOME).
 *
 * TACTUS_HOME holds the encrypted secrets store, its key and the user config. It is the
 * environment variable TACTUS_HOME when set and non-empty, else $HOME/.tactus. Nothing here
 * falls back silently to another place: when neither variable is usable the caller gets an
 * error that names both.
 */
#ifndef TX_HOME_H
#define TX_HOME_H

#include <stddef.h>

#include "tx_error.h"

/*
 * Writes the TACTUS_HOME directory path into buf (cap bytes, NUL-terminated): $TACTUS_HOME if
 * set and non-empty, else "$HOME/.tactus". The directory need not exist (see tx_home_ensure).
 * Returns 0, or -1 with err filled (TACTUS_EUSAGE) when neither variable is set, or when the
 * path does not fit in cap bytes.
 */
int tx_home_dir(char *buf, size_t cap, tx_error *err);

/*
 * Makes sure the directory `home` exists: creates it with mode 0700 (and any missing parent
 * directories, also 0700) if missing. An existing directory is left as it is; an existing
 * non-directory at that path is an error. Returns 0, or -1 with err filled (TACTUS_ESYSTEM)
 * naming the path and the reason.
 */
int tx_home_ensure(const char *home, tx_error *err);

#define TX_RUN_KEY_BYTES 32 /* crypto_auth_KEYBYTES */

/*
 * The key that authenticates this host's run records (TACTUS_HOME/run.key: 32 random bytes,
 * mode 0600, created on first use when `create`). A key that is a link, not this user's, or
 * readable by others is refused. Returns 0, or -1 with err set (TACTUS_EUSAGE when there is
 * no key and `create` is 0).
 */
int tx_home_run_key(unsigned char key[TX_RUN_KEY_BYTES], int create, tx_error *err);

#endif
