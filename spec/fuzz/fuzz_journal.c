/*
 * fuzz_journal.c - a journal file is outside data too (a disk, a crash, or someone with write
 * access to the run directory). Any bytes must open cleanly: repaired, refused as corrupt, or
 * read; never a crash, a hang or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/tx-fuzz-journal-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    tx_journal *j = NULL;
    tx_journal_report report;
    tx_error err;
    tx_journal_meta meta = {"fuzz", "sha256:0", "sha256:0", "0"};
    if (tx_journal_open(path, &meta, TX_DURABILITY_NONE, &j, &report, &err) == 0) {
        long n = tx_journal_count(j);
        for (long pos = 1; pos <= n; pos++)
            json_decref(tx_journal_read(j, pos, &err));
        tx_journal_close(j);
    }
    unlink(path);
    return 0;
}
