/*
 * proc: running one command for the lab (nft, ip, ssh-keygen) with a deadline and its output
 * captured, in a unit of its own so lab.c and hosts.c both use it without calling each other.
 */
#include "lab/lab.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

#include "base/banned.h"

int lab_run(char *const argv[], uint64_t timeout_us, char **out, char **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return zd_err(err, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return zd_err(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    struct sbuf sb = SBUF_INIT;
    sbuf_init(&sb, 64u << 10);
    uint64_t deadline = zd_now_us() + timeout_us;
    bool timed_out = false;
    for (;;) {
        uint64_t now = zd_now_us();
        if (now >= deadline) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int pr = poll(&pf, 1, (int)((deadline - now) / 1000 + 1));
        if (pr <= 0)
            continue;
        char buf[4096];
        ssize_t r = read(p[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        sbuf_add(&sb, buf, (size_t)r); /* beyond 64 KiB: the rest is dropped */
    }
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        sbuf_free(&sb);
        return zd_err(err, "'%s' did not finish within %llus", argv[0],
                      (unsigned long long)(timeout_us / 1000000));
    }
    if (out)
        *out = sbuf_detach(&sb);
    sbuf_free(&sb);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    if (WEXITSTATUS(status) == 127 && out && !**out) {
        return zd_err(err, "cannot run '%s'", argv[0]);
    }
    return WEXITSTATUS(status);
}
