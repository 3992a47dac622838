/*
 * maxrss.c - test helper: runs a command and prints the peak resident set size, in KiB, of it
 * and every descendant it waited for (wait4's ru_maxrss: the largest VmHWM among them), on
 * stderr as "maxrss_kib N". Exits with the command's exit status (128 + signal if killed).
 *
 *   maxrss PROGRAM [ARGS...]
 *
 * The tactus CLI waits for its broker, and the broker for its runner, so for `maxrss tactus run
 * ...` the figure bounds the broker's peak memory from above.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: maxrss PROGRAM [ARGS...]\n");
        return 99;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("maxrss: fork");
        return 99;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "maxrss: cannot run %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("maxrss: wait4");
            return 99;
        }
    }
    fprintf(stderr, "maxrss_kib %ld\n", ru.ru_maxrss);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
