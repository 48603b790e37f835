/*
 * fork_storm.c - forks N children that exit at once, and reports any that
 * does not end within a deadline (invariant 10: no Argus thread holds a lock
 * across the program's fork() that a child could need).
 *
 * Usage: fork_storm N DEADLINE_MS
 * Each child calls exit(0), which runs the atexit handlers it inherited
 * (OpenSSL's cleanup among them once libcurl has initialised it). The parent
 * waits for each on a pidfd with poll(), so a hung child is seen at its
 * deadline, killed and counted. Prints "forked N hung H" and exits 0 only
 * if H is 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int pidfd_of(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fork_storm N DEADLINE_MS\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    int deadline_ms = (int)strtol(argv[2], NULL, 10);
    long hung = 0, forked = 0;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0)
            exit(0);
        forked++;
        int fd = pidfd_of(pid);
        if (fd < 0) {
            perror("pidfd_open");
            return 2;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r;
        while ((r = poll(&p, 1, deadline_ms)) < 0 && errno == EINTR)
            ;
        if (r == 0) {
            hung++;
            fprintf(stderr, "child %ld (pid %d) did not exit within %d ms\n", i, (int)pid,
                    deadline_ms);
            kill(pid, SIGKILL);
        }
        close(fd);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    printf("forked %ld hung %ld\n", forked, hung);
    return hung == 0 ? 0 : 1;
}
