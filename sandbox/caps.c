/*
 * caps.c - child: drops every privilege the sandbox's user namespace granted.
 *
 * After clone(CLONE_NEWUSER) the child holds a full capability set inside its namespace; it
 * needs it for mounts and sethostname, then gives up everything: securebits locked so that
 * exec can never regain capabilities (even as uid 0), the bounding set emptied, ambient
 * cleared, effective/permitted/inheritable zeroed, no_new_privs set (setuid bits and file
 * capabilities are ignored from now on) and the process made non-dumpable (no ptrace attach,
 * no core). Async-signal-safe.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox_int.h"

void tx_sb_child_drop_privileges(int errfd)
{
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                         SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_SECUREBITS", "", errno);
    /* /proc/sys/kernel/cap_last_cap is not reachable any more: drop until EINVAL. */
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break;
            tx_sb_child_fail(errfd, "prctl PR_CAPBSET_DROP", "", errno);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        tx_sb_child_fail(errfd, "prctl PR_CAP_AMBIENT_CLEAR_ALL", "", errno);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capset, &hdr, data) < 0)
        tx_sb_child_fail(errfd, "capset (drop all capabilities)", "", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_NO_NEW_PRIVS", "", errno);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_DUMPABLE", "", errno);
}
