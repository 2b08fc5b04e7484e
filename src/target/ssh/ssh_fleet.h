/*
 * ssh_fleet: SSH sessions to many hosts at once, driven by one poll() loop. Private to
 * src/target/ssh/.
 *
 * One libssh2 session per host, non-blocking, opened once (ssh_fleet_connect) and reused for
 * every command of the run, so a fault costs one channel, not a handshake. At most `parallel`
 * hosts are worked on at once; every host has a deadline (connect timeout, command timeout), so
 * a host that does not answer is reported by name and never hangs the loop.
 *
 * Authentication is OpenSSH's order for what is configured: the key file when one is given
 * (its passphrase only from the environment variable the scenario names), else ssh-agent
 * (SSH_AUTH_SOCK), else ~/.ssh/id_ed25519. Host keys are checked against known_hosts (plain,
 * hashed and [host]:port entries) before anything is sent: unknown or changed keys stop that
 * host with the key type and the SHA256 fingerprint as OpenSSH prints them; with accept_new
 * an unknown key (never a changed one) is appended to known_hosts.
 */
#ifndef ZD_SSH_FLEET_H
#define ZD_SSH_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSH_MAX_OUTPUT (64u << 10) /* per stream of one command */

struct ssh_opts {
    const char *user;
    const char *key;            /* NULL: agent, then ~/.ssh/id_ed25519 */
    const char *passphrase_env; /* name of the variable holding the key's passphrase; NULL */
    const char *known_hosts;
    bool strict;     /* false: unknown keys are accepted for this run (not written) */
    bool accept_new; /* unknown keys appended to known_hosts */
    uint64_t connect_timeout_us;
    int parallel;
};

struct ssh_fleet;

/* Copies what o points to. Never NULL. */
struct ssh_fleet *ssh_fleet_new(const struct ssh_opts *o);
void ssh_fleet_free(struct ssh_fleet *f);
/* Adds a host; returns its index. host is a name or address; port 1..65535. */
size_t ssh_fleet_add(struct ssh_fleet *f, const char *host, int port);
size_t ssh_fleet_count(const struct ssh_fleet *f);
/* "host:port" of host i. */
const char *ssh_fleet_name(const struct ssh_fleet *f, size_t i);

/* Connects (TCP, handshake, host key, auth) every host not connected yet, in parallel.
 * Returns 0 when all are up; else -1 and *err lists every host that failed, one per line
 * ("10.213.2.1:22: connection refused"). Hosts that did connect stay connected. */
int ssh_fleet_connect(struct ssh_fleet *f, char **err);
/* Whether host i is connected; its last error otherwise (NULL when none). */
bool ssh_fleet_up(const struct ssh_fleet *f, size_t i);
const char *ssh_fleet_error(const struct ssh_fleet *f, size_t i);
/* Where host i failed: 0 not failed, 1 TCP (unreachable), 2 handshake or host key, 3 auth,
 * 4 later (a command timed out). */
int ssh_fleet_failed_at(const struct ssh_fleet *f, size_t i);
/* What host i's server said about itself: "SSH-2.0-OpenSSH_9.2p1 ..." (NULL before connect). */
const char *ssh_fleet_banner(const struct ssh_fleet *f, size_t i);
/* "ED25519 SHA256:..." of host i's key (NULL before the handshake). */
const char *ssh_fleet_hostkey(const struct ssh_fleet *f, size_t i);

/* One command on one host. Filled by ssh_fleet_exec. */
struct ssh_job {
    size_t host;
    const char *cmd;
    /* results */
    int status;   /* exit status; -1 when it did not run to the end (see error) */
    char *out;    /* stdout, at most SSH_MAX_OUTPUT (caller frees) */
    char *errout; /* stderr, the same */
    char *error;  /* why it did not run (not connected, timeout, channel error); NULL when ran */
    uint64_t started_us, done_us; /* zd_now_us() when its channel opened / it finished */
};
/* Runs the jobs, jobs of different hosts in parallel (at most `parallel` at once), jobs of one
 * host one after the other in the order given. Every job ends within timeout_us. Returns the
 * number of jobs that did not run to the end (error set). */
size_t ssh_fleet_exec(struct ssh_fleet *f, struct ssh_job *jobs, size_t n, uint64_t timeout_us);

/* Starts on every connected host a long-lived shell (shell_cmd, run once by sshd: "exec /bin/sh",
 * or "exec sudo -n /bin/sh" for root through sudo) on a channel of its own, kept for the run,
 * and runs one `true` through each to prove it works. From then on ssh_fleet_exec writes each
 * command of that host to its shell: one write, no channel to open, no session child or shell
 * for sshd to start. Each command still has its own stdout, stderr and exit status (an end
 * marker with a nonce per command, see shell_frame), runs in a subshell with stdin from
 * /dev/null, and ends within the timeout (after a timeout the host's session is closed). A shell
 * that ends (the host died, sudo wanted a password) fails its command and the host, by name.
 * Returns 0, or -1 with *err listing each host whose shell did not start and why, with the
 * first line of its stderr ("10.0.0.1:22: ...: sudo: a password is required"). */
int ssh_fleet_shells(struct ssh_fleet *f, const char *shell_cmd, uint64_t timeout_us, char **err);
/* Whether host i's commands go through its shell (then they run as the shell's user). */
bool ssh_fleet_has_shell(const struct ssh_fleet *f, size_t i);
void ssh_jobs_free(struct ssh_job *jobs, size_t n); /* frees the results, not jobs itself */

/* OpenSSH's fingerprint text of a raw key: "SHA256:" + unpadded base64 of its SHA-256.
 * buf of at least 64 bytes. Pure (tests). */
const char *ssh_fingerprint(const unsigned char *sha256, char *buf, size_t n);
/* Base64 (padded) of data; caller frees. */
char *ssh_base64(const unsigned char *data, size_t n);

#endif
