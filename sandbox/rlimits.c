/*
 * rlimits.c - child: the per-process resource limits of the sandbox.
 *
 * Rlimits are the layer that works without cgroups (degraded mode), so they mirror the
 * cgroup limits where a per-process equivalent exists. Each is set with soft == hard so the
 * sandbox cannot raise it back. Async-signal-safe.
 */
#include <errno.h>
#include <sys/resource.h>

#include "sandbox_int.h"

/* AddressSanitizer reserves terabytes of shadow address space, so RLIMIT_AS would break every
 * allocation in a sanitizer build; those builds rely on the other layers. */
#if defined(__SANITIZE_ADDRESS__)
#define TX_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TX_UNDER_ASAN 1
#endif
#endif
#ifndef TX_UNDER_ASAN
#define TX_UNDER_ASAN 0
#endif

#define GIB (1024ULL * 1024ULL * 1024ULL)

/* child: sets resource r to soft `soft`, hard `hard`; fails via errfd. */
static void set_limit(int r, const char *name, rlim_t soft, rlim_t hard, int errfd)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    if (setrlimit(r, &rl) < 0)
        tx_sb_child_fail(errfd, "setrlimit ", name, errno);
}

void tx_sb_child_rlimits(const tx_sb_plan *plan, int have_pids_cgroup, int have_memory_cgroup,
                         int errfd)
{
    const uint64_t *l = plan->limits;
    /* No core files: a crash must not write sandbox memory anywhere (core_pattern pipes run
     * on the host). */
    set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0, errfd);
    set_limit(RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", 0, 0, errfd);
    set_limit(RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", 0, 0, errfd);
    if (l[TX_LIMIT_FILES] > 0)
        set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", l[TX_LIMIT_FILES], l[TX_LIMIT_FILES], errfd);
    /* A write past file_size raises SIGXFSZ, which the supervisor reports as limit file_size. */
    if (l[TX_LIMIT_FILE_SIZE] > 0)
        set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", l[TX_LIMIT_FILE_SIZE], l[TX_LIMIT_FILE_SIZE],
                  errfd);
    /* Address space only when no memory cgroup caps the sandbox: RLIMIT_AS counts
     * reservations (thread stacks, malloc arenas, sanitizer shadow), not use, so it is a
     * generous backstop for degraded mode, never the primary cap. */
    if (!have_memory_cgroup && l[TX_LIMIT_MEMORY] > 0 && l[TX_LIMIT_MEMORY] < 64 * GIB &&
        !TX_UNDER_ASAN) {
        rlim_t as = l[TX_LIMIT_MEMORY] + GIB;
        set_limit(RLIMIT_AS, "RLIMIT_AS", as, as, errfd);
    }
    /* CPU seconds as a backstop to the wall clock: SIGXCPU at the soft limit, SIGKILL at the
     * hard one. One second of slack per CPU over the timeout. */
    if (l[TX_LIMIT_TIMEOUT] > 0) {
        uint64_t cpus = l[TX_LIMIT_CPUS] > 0 ? l[TX_LIMIT_CPUS] : 1;
        rlim_t secs = (rlim_t)((l[TX_LIMIT_TIMEOUT] + 999) / 1000 * cpus + 1);
        set_limit(RLIMIT_CPU, "RLIMIT_CPU", secs, secs + 1, errfd);
    }
    /* RLIMIT_NPROC counts processes of the uid inside this user namespace (Linux 5.14+
     * ucounts), so it bounds the sandbox even without a pids cgroup (+1: init counts too).
     * With the cgroup it is a looser second fence, so that the cgroup, whose refusals the
     * supervisor can see in pids.events, is the one that trips. */
    if (l[TX_LIMIT_PIDS] > 0) {
        rlim_t n = l[TX_LIMIT_PIDS] + (have_pids_cgroup ? 2 : 1);
        set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", n, n, errfd);
    }
}
