/*
 * ssh_fleet: libssh2 sessions to many hosts from one poll() loop (contract in ssh_fleet.h).
 *
 * Each host is a small state machine: TCP connect (non-blocking) -> SSH handshake -> host key
 * check -> authentication -> READY; each command a second one on a READY host: open channel ->
 * exec -> read stdout/stderr to EOF -> close -> exit status. libssh2 in non-blocking mode
 * returns LIBSSH2_ERROR_EAGAIN whenever it would block; libssh2_session_block_directions then
 * says whether to wait for the socket to be readable or writable, which is what poll() waits
 * for. Every step carries the host's deadline.
 *
 * Key exchange prefers curve25519 (cheap: the handshake dominates a fleet-wide command).
 */
#include "target/ssh/ssh_fleet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>

#include "base/util.h"
#include "target/hostcmd.h"

#include "base/banned.h"

#define SHELL_GRACE_US 300000ull

enum cstate { C_IDLE, C_TCP, C_HANDSHAKE, C_AUTH, C_READY, C_FAILED };
enum jstate { J_WAIT, J_OPEN, J_EXEC, J_READ, J_CLOSE, J_DONE, J_WRITE, J_SHREAD };

struct conn {
    char *host;
    int port;
    char *name; /* host:port */
    int fd;
    LIBSSH2_SESSION *s;
    LIBSSH2_AGENT *agent;
    struct libssh2_agent_publickey *ident; /* the identity being tried */
    bool agent_listed;
    enum cstate st;
    uint64_t deadline_us;
    char *error;
    char *banner;
    char *hostkey;     /* "ED25519 SHA256:..." */
    char *keytype;     /* "ssh-ed25519" (known_hosts spelling) */
    bool rsa_user_key; /* the key offered is RSA (see the SHA-1 note in auth_failed) */
    int failed_at;     /* ssh_fleet_failed_at */
    /* the command running on it */
    LIBSSH2_CHANNEL *ch;
    struct ssh_job *job;
    enum jstate js;
    struct sbuf out, errout;
    /* the long-lived shell (ssh_fleet_shells): ch stays open between commands */
    bool shell, want_shell;
    bool corked;       /* TCP_CORK set while a pass of commands is written */
    uint64_t ended_us; /* when sshd said the shell had ended (its EOF may come later) */
    struct sbuf wbuf;  /* the framed command being written */
    size_t woff;
    char mark[48]; /* "\n" + this command's nonce */
    size_t marklen;
    bool marked[2];   /* the end marker seen on stdout / stderr */
    int mstatus;      /* the exit status the stdout marker carried */
    char tail[2][96]; /* the last bytes of each stream, for a marker split across reads */
    size_t taillen[2];
    size_t got[2]; /* bytes of each stream so far */
};

struct ssh_fleet {
    struct ssh_opts o;
    char *user, *key, *passenv, *known_hosts;
    struct conn *c;
    size_t n, cap;
    unsigned char seed[8]; /* of the shells' end markers */
    unsigned long long seq;
};

static int lib_ready;

struct ssh_fleet *ssh_fleet_new(const struct ssh_opts *o)
{
    if (!lib_ready) {
        libssh2_init(0);
        lib_ready = 1;
    }
    struct ssh_fleet *f = xcalloc(1, sizeof(*f));
    f->o = *o;
    f->user = xstrdup(o->user ? o->user : "root");
    f->key = o->key ? xstrdup(o->key) : NULL;
    f->passenv = o->passphrase_env ? xstrdup(o->passphrase_env) : NULL;
    f->known_hosts = xstrdup(o->known_hosts ? o->known_hosts : "/dev/null");
    f->o.user = f->user;
    f->o.key = f->key;
    f->o.passphrase_env = f->passenv;
    f->o.known_hosts = f->known_hosts;
    if (f->o.parallel < 1)
        f->o.parallel = 32;
    if (!f->o.connect_timeout_us)
        f->o.connect_timeout_us = 10000000;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, f->seed, sizeof(f->seed)) != (ssize_t)sizeof(f->seed)) {
        uint64_t t = zd_now_us() ^ ((uint64_t)getpid() << 32);
        memcpy(f->seed, &t, sizeof(f->seed));
    }
    if (fd >= 0)
        close(fd);
    return f;
}

static void conn_close(struct conn *c)
{
    if (c->ch) {
        libssh2_channel_free(c->ch);
        c->ch = NULL;
    }
    c->shell = c->want_shell = false;
    c->ended_us = 0;
    if (c->agent) {
        libssh2_agent_disconnect(c->agent);
        libssh2_agent_free(c->agent);
        c->agent = NULL;
    }
    if (c->s) {
        /* blocking for the goodbye, bounded: the peer may be gone */
        libssh2_session_set_timeout(c->s, 200);
        libssh2_session_set_blocking(c->s, 1);
        libssh2_session_disconnect(c->s, "zonedef done");
        libssh2_session_free(c->s);
        c->s = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void ssh_fleet_free(struct ssh_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        struct conn *c = &f->c[i];
        conn_close(c);
        free(c->host);
        free(c->name);
        free(c->error);
        free(c->banner);
        free(c->hostkey);
        free(c->keytype);
        sbuf_free(&c->out);
        sbuf_free(&c->errout);
        sbuf_free(&c->wbuf);
    }
    free(f->c);
    free(f->user);
    free(f->key);
    free(f->passenv);
    free(f->known_hosts);
    free(f);
}

size_t ssh_fleet_add(struct ssh_fleet *f, const char *host, int port)
{
    ZD_GROW(f->c, f->cap, f->n + 1);
    struct conn *c = &f->c[f->n];
    memset(c, 0, sizeof(*c));
    c->host = xstrdup(host);
    c->port = port;
    c->name = xasprintf("%s:%d", host, port);
    c->fd = -1;
    sbuf_init(&c->out, SSH_MAX_OUTPUT);
    sbuf_init(&c->errout, SSH_MAX_OUTPUT);
    return f->n++;
}

size_t ssh_fleet_count(const struct ssh_fleet *f)
{
    return f->n;
}
const char *ssh_fleet_name(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].name;
}
bool ssh_fleet_up(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].st == C_READY;
}
const char *ssh_fleet_error(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].error;
}
int ssh_fleet_failed_at(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].st == C_FAILED ? f->c[i].failed_at : 0;
}
const char *ssh_fleet_banner(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].banner;
}
const char *ssh_fleet_hostkey(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].hostkey;
}

static void fail(struct conn *c, const char *fmt, ...) ZD_PRINTF(2, 3);
static void fail(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(c->error);
    c->error = xvasprintf(fmt, ap);
    va_end(ap);
    c->failed_at = c->st == C_TCP || c->st == C_IDLE ? 1
                   : c->st == C_HANDSHAKE            ? 2
                   : c->st == C_AUTH                 ? 3
                                                     : 4;
    conn_close(c);
    c->st = C_FAILED;
}

static const char *lib_error(LIBSSH2_SESSION *s)
{
    char *m = NULL;
    libssh2_session_last_error(s, &m, NULL, 0);
    return m && *m ? m : "unknown error";
}

/* ---- base64, fingerprints ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ssh_base64(const unsigned char *d, size_t n)
{
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)d[i + 1] << 8;
        if (i + 2 < n)
            v |= d[i + 2];
        sbuf_addc(&sb, b64[(v >> 18) & 63]);
        sbuf_addc(&sb, b64[(v >> 12) & 63]);
        sbuf_addc(&sb, i + 1 < n ? b64[(v >> 6) & 63] : '=');
        sbuf_addc(&sb, i + 2 < n ? b64[v & 63] : '=');
    }
    return sbuf_detach(&sb);
}

const char *ssh_fingerprint(const unsigned char *sha256, char *buf, size_t n)
{
    char *b = ssh_base64(sha256, 32);
    size_t l = strlen(b);
    while (l && b[l - 1] == '=')
        b[--l] = '\0';
    snprintf(buf, n, "SHA256:%s", b);
    free(b);
    return buf;
}

/* ---- host keys ---- */

static void key_names(int type, const char **label, const char **kt, int *mask)
{
    switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA:
        *label = "RSA", *kt = "ssh-rsa", *mask = LIBSSH2_KNOWNHOST_KEY_SSHRSA;
        return;
    case LIBSSH2_HOSTKEY_TYPE_DSS:
        *label = "DSA", *kt = "ssh-dss", *mask = LIBSSH2_KNOWNHOST_KEY_SSHDSS;
        return;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
        *label = "ECDSA", *kt = "ecdsa-sha2-nistp256", *mask = LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
        return;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
        *label = "ECDSA", *kt = "ecdsa-sha2-nistp384", *mask = LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
        return;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
        *label = "ECDSA", *kt = "ecdsa-sha2-nistp521", *mask = LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
        return;
    case LIBSSH2_HOSTKEY_TYPE_ED25519:
        *label = "ED25519", *kt = "ssh-ed25519", *mask = LIBSSH2_KNOWNHOST_KEY_ED25519;
        return;
    default: *label = "UNKNOWN", *kt = "unknown", *mask = LIBSSH2_KNOWNHOST_KEY_UNKNOWN; return;
    }
}

/* Appends "host keytype base64" ([host]:port unless 22) to known_hosts. */
static int append_known(struct ssh_fleet *f, struct conn *c, const char *kt, const char *key,
                        size_t klen)
{
    char *b = ssh_base64((const unsigned char *)key, klen);
    char *line = c->port == 22 ? xasprintf("%s %s %s\n", c->host, kt, b)
                               : xasprintf("[%s]:%d %s %s\n", c->host, c->port, kt, b);
    free(b);
    int fd = open(f->known_hosts, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0) {
        size_t len = strlen(line);
        rc = write(fd, line, len) == (ssize_t)len ? 0 : -1;
        close(fd);
    }
    free(line);
    return rc;
}

/* 0 when the host key is acceptable; else the host failed (message set). */
static int check_hostkey(struct ssh_fleet *f, struct conn *c)
{
    size_t klen = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(c->s, &klen, &type);
    const unsigned char *h =
        (const unsigned char *)libssh2_hostkey_hash(c->s, LIBSSH2_HOSTKEY_HASH_SHA256);
    if (!key || !h) {
        fail(c, "no host key from the server");
        return -1;
    }
    const char *label, *kt;
    int mask;
    key_names(type, &label, &kt, &mask);
    char fp[80];
    ssh_fingerprint(h, fp, sizeof(fp));
    free(c->hostkey);
    c->hostkey = xasprintf("%s %s", label, fp);
    free(c->keytype);
    c->keytype = xstrdup(kt);
    LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(c->s);
    if (!kh) {
        fail(c, "cannot read known hosts");
        return -1;
    }
    libssh2_knownhost_readfile(kh, f->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    struct libssh2_knownhost *e = NULL;
    int r = libssh2_knownhost_checkp(
        kh, c->host, c->port, key, klen,
        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | mask, &e);
    libssh2_knownhost_free(kh);
    if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
        return 0;
    if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
        fail(c,
             "HOST KEY CHANGED: the %s key fingerprint is %s, which does not match %s "
             "(someone may be intercepting the connection, or the host was rebuilt; check it and "
             "remove the old line)",
             label, fp, f->known_hosts);
        return -1;
    }
    if (f->o.accept_new) {
        if (append_known(f, c, kt, key, klen) < 0) {
            fail(c, "cannot append the %s key %s to %s: %s", label, fp, f->known_hosts,
                 strerror(errno));
            return -1;
        }
        return 0;
    }
    if (!f->o.strict)
        return 0;
    fail(c,
         "unknown host key: the %s key fingerprint is %s, and %s has no entry for it (check the "
         "fingerprint, then run with --accept-new-hostkeys to add it)",
         label, fp, f->known_hosts);
    return -1;
}

/* ---- authentication ---- */

static bool file_is_rsa(const char *key)
{
    char *pub = xasprintf("%s.pub", key), *t = NULL;
    bool rsa = false;
    if (zd_read_file(pub, 16384, &t, NULL, NULL) == 0)
        rsa = zd_str_has_prefix(t, "ssh-rsa ");
    else if (zd_read_file(key, 65536, &t, NULL, NULL) == 0)
        rsa = strstr(t, "BEGIN RSA PRIVATE KEY") != NULL;
    free(pub);
    free(t);
    return rsa;
}

static void auth_failed(struct ssh_fleet *f, struct conn *c, const char *how)
{
    if (c->rsa_user_key)
        fail(c,
             "the server refused the RSA key %s: this libssh2 signs RSA keys with SHA-1 only "
             "(ssh-rsa), which OpenSSH 8.8 and later refuse; use an ed25519 key "
             "(ssh-keygen -t ed25519)",
             how);
    else
        fail(c, "authentication failed for user '%s' with %s", f->user, how);
}

/* One step of authentication. 1 = done, 0 = again (EAGAIN), -1 = failed (message set). */
static int auth_step(struct ssh_fleet *f, struct conn *c)
{
    const char *key = f->key;
    char *dflt = NULL;
    const char *sock = getenv("SSH_AUTH_SOCK");
    if (!key && sock && *sock) {
        if (!c->agent) {
            c->agent = libssh2_agent_init(c->s);
            if (!c->agent || libssh2_agent_connect(c->agent) != 0) {
                fail(c, "cannot reach ssh-agent at SSH_AUTH_SOCK (%s)", lib_error(c->s));
                return -1;
            }
        }
        if (!c->agent_listed) {
            int r = libssh2_agent_list_identities(c->agent);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return 0;
            if (r != 0) {
                fail(c, "ssh-agent: cannot list identities (%s)", lib_error(c->s));
                return -1;
            }
            c->agent_listed = true;
            c->ident = NULL;
            if (libssh2_agent_get_identity(c->agent, &c->ident, NULL) != 0) {
                fail(c, "ssh-agent holds no key");
                return -1;
            }
        }
        for (;;) {
            c->rsa_user_key =
                c->ident->blob_len > 11 && memcmp(c->ident->blob + 4, "ssh-rsa", 7) == 0;
            int r = libssh2_agent_userauth(c->agent, f->user, c->ident);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return 0;
            if (r == 0)
                return 1;
            struct libssh2_agent_publickey *prev = c->ident;
            if (libssh2_agent_get_identity(c->agent, &c->ident, prev) != 0) {
                auth_failed(f, c, "every key of ssh-agent");
                return -1;
            }
        }
    }
    if (!key) {
        const char *home = getenv("HOME");
        dflt = xasprintf("%s/.ssh/id_ed25519", home && *home ? home : "/root");
        key = dflt;
    }
    if (!zd_file_exists(key)) {
        fail(c, "no SSH key: '%s' does not exist and SSH_AUTH_SOCK is not set", key);
        free(dflt);
        return -1;
    }
    c->rsa_user_key = file_is_rsa(key);
    const char *pass = f->passenv ? getenv(f->passenv) : NULL;
    int r = libssh2_userauth_publickey_fromfile_ex(c->s, f->user, (unsigned)strlen(f->user), NULL,
                                                   key, pass ? pass : "");
    if (r == LIBSSH2_ERROR_EAGAIN) {
        free(dflt);
        return 0;
    }
    if (r == 0) {
        free(dflt);
        return 1;
    }
    char *how = xasprintf("the key %s", key);
    if (r == LIBSSH2_ERROR_FILE || r == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED)
        fail(c, "cannot use the key %s (%s)%s", key, lib_error(c->s),
             f->passenv && !pass ? "; its passphrase variable is not set" : "");
    else
        auth_failed(f, c, how);
    free(how);
    free(dflt);
    return -1;
}

/* ---- the connect loop ---- */

static int tcp_start(struct ssh_fleet *f, struct conn *c, uint64_t now)
{
    c->deadline_us = now + f->o.connect_timeout_us;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", c->port);
    int g = getaddrinfo(c->host, port, &hints, &ai);
    if (g != 0) {
        fail(c, "cannot resolve '%s': %s", c->host, gai_strerror(g));
        return -1;
    }
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        freeaddrinfo(ai);
        fail(c, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int r = connect(c->fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (r < 0 && errno != EINPROGRESS) {
        fail(c, "cannot connect: %s", strerror(errno));
        return -1;
    }
    c->st = C_TCP;
    return 0;
}

/* Sets the method preference of one kind to the names of want that this libssh2 supports:
 * libssh2_session_method_pref drops the others itself, with an overlapping memcpy (ASan
 * stops there), so it only ever gets names it knows. */
static void method_pref(LIBSSH2_SESSION *s, int kind, const char *want)
{
    const char **algs = NULL;
    int n = libssh2_session_supported_algs(s, kind, &algs);
    struct sbuf sb = SBUF_INIT;
    for (const char *p = want; *p;) {
        size_t l = strcspn(p, ",");
        for (int i = 0; i < n; i++)
            if (strlen(algs[i]) == l && strncmp(algs[i], p, l) == 0) {
                sbuf_addf(&sb, "%s%.*s", sb.len ? "," : "", (int)l, p);
                break;
            }
        p += l + (p[l] == ',');
    }
    if (n > 0)
        libssh2_free(s, (void *)algs);
    if (sb.len)
        libssh2_session_method_pref(s, kind, sbuf_str(&sb));
    sbuf_free(&sb);
}

static void session_start(struct conn *c)
{
    c->s = libssh2_session_init();
    if (!c->s) {
        fail(c, "cannot create an SSH session");
        return;
    }
    libssh2_session_set_blocking(c->s, 0);
    method_pref(c->s, LIBSSH2_METHOD_KEX,
                "curve25519-sha256,curve25519-sha256@libssh.org,"
                "ecdh-sha2-nistp256,diffie-hellman-group14-sha256");
    method_pref(c->s, LIBSSH2_METHOD_HOSTKEY,
                "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
                "ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
    c->st = C_HANDSHAKE;
}

static void connect_step(struct ssh_fleet *f, struct conn *c, short revents)
{
    if (c->st == C_TCP) {
        int e = 0;
        socklen_t l = sizeof(e);
        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l);
        if (e) {
            fail(c, "cannot connect: %s", strerror(e));
            return;
        }
        session_start(c);
        if (c->st != C_HANDSHAKE)
            return;
    }
    if (c->st == C_HANDSHAKE) {
        int r = libssh2_session_handshake(c->s, c->fd);
        if (r == LIBSSH2_ERROR_EAGAIN)
            return;
        if (r != 0) {
            fail(c, "SSH handshake failed: %s", lib_error(c->s));
            return;
        }
        const char *b = libssh2_session_banner_get(c->s);
        free(c->banner);
        c->banner = b ? xstrdup(b) : NULL;
        if (check_hostkey(f, c) < 0)
            return;
        c->st = C_AUTH;
    }
    if (c->st == C_AUTH) {
        int r = auth_step(f, c);
        if (r == 1) {
            if (c->agent) {
                libssh2_agent_disconnect(c->agent);
                libssh2_agent_free(c->agent);
                c->agent = NULL;
            }
            c->st = C_READY;
        }
    }
}

static short wanted(const struct conn *c)
{
    if (c->st == C_TCP)
        return POLLOUT;
    if (!c->s)
        return POLLIN;
    int d = libssh2_session_block_directions(c->s);
    short ev = 0;
    if (d & LIBSSH2_SESSION_BLOCK_INBOUND)
        ev |= POLLIN;
    if (d & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        ev |= POLLOUT;
    return ev ? ev : POLLIN;
}

int ssh_fleet_connect(struct ssh_fleet *f, char **err)
{
    struct pollfd *pf = xcalloc(f->n + 1, sizeof(*pf));
    size_t *who = xcalloc(f->n + 1, sizeof(*who));
    size_t next = 0;
    for (;;) {
        uint64_t now = zd_now_us();
        size_t active = 0;
        for (size_t i = 0; i < f->n; i++)
            active += f->c[i].st == C_TCP || f->c[i].st == C_HANDSHAKE || f->c[i].st == C_AUTH;
        while (next < f->n && active < (size_t)f->o.parallel) {
            struct conn *c = &f->c[next++];
            if (c->st != C_IDLE && c->st != C_FAILED)
                continue;
            free(c->error);
            c->error = NULL;
            if (tcp_start(f, c, now) == 0)
                active++;
        }
        size_t np = 0;
        uint64_t soonest = UINT64_MAX;
        for (size_t i = 0; i < f->n; i++) {
            struct conn *c = &f->c[i];
            if (c->st != C_TCP && c->st != C_HANDSHAKE && c->st != C_AUTH)
                continue;
            if (now >= c->deadline_us) {
                char d[32];
                fail(c, "no answer within %s (connect timeout)",
                     zd_fmt_duration(f->o.connect_timeout_us, d, sizeof(d)));
                continue;
            }
            if (c->deadline_us < soonest)
                soonest = c->deadline_us;
            pf[np] = (struct pollfd){.fd = c->fd, .events = wanted(c)};
            who[np++] = i;
        }
        if (np == 0 && next >= f->n)
            break;
        if (np == 0)
            continue;
        uint64_t wait = soonest > now ? soonest - now : 0;
        int ms = (int)(wait / 1000) + 1;
        if (ms > 100)
            ms = 100;
        int pr = poll(pf, np, ms);
        if (pr < 0 && errno != EINTR)
            break;
        for (size_t k = 0; k < np; k++) {
            /* libssh2 may have data buffered: step on timeouts too, and again while the host
             * makes progress */
            struct conn *c = &f->c[who[k]];
            for (int s = 0; s < 8; s++) {
                enum cstate before = c->st;
                connect_step(f, c, s ? POLLOUT : pf[k].revents);
                if (c->st == before || c->st == C_READY || c->st == C_FAILED)
                    break;
            }
        }
    }
    free(pf);
    free(who);
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < f->n; i++)
        if (f->c[i].st != C_READY)
            sbuf_addf(&sb, "%s%s: %s", sb.len ? "\n" : "", f->c[i].name,
                      f->c[i].error ? f->c[i].error : "not connected");
    return zd_err_collected(err, &sb);
}

/* ---- commands ---- */

static void job_end(struct conn *c, const char *error)
{
    struct ssh_job *j = c->job;
    j->done_us = zd_now_us();
    j->out = sbuf_detach(&c->out);
    j->errout = sbuf_detach(&c->errout);
    sbuf_init(&c->out, SSH_MAX_OUTPUT);
    sbuf_init(&c->errout, SSH_MAX_OUTPUT);
    if (error) {
        j->status = -1;
        j->error = xstrdup(error);
    }
    if (c->ch && !c->shell) {
        libssh2_channel_free(c->ch);
        c->ch = NULL;
    }
    sbuf_free(&c->wbuf);
    c->job = NULL;
    c->js = J_DONE;
}

/* Drains one stream into sb; returns 1 at EOF-or-EAGAIN handled, -1 on error. */
static int drain(struct conn *c, int stream, struct sbuf *sb)
{
    char buf[8192];
    for (;;) {
        ssize_t r = libssh2_channel_read_ex(c->ch, stream, buf, sizeof(buf));
        if (r > 0) {
            sbuf_add(sb, buf, (size_t)r); /* past the maximum the rest is dropped */
            continue;
        }
        if (r == 0 || r == LIBSSH2_ERROR_EAGAIN)
            return 0;
        return -1;
    }
}

static void exec_once(struct conn *c);

/* ---- the long-lived shell ----
 * A command goes to the shell as one line (quoted, so nothing in it can end the line or leave
 * the shell waiting for more):
 *   ( eval 'CMD' ) </dev/null; zd_s=$?; printf '\n%s %d\n' NONCE "$zd_s"; printf '\n%s\n' NONCE >&2
 * The subshell keeps whatever CMD does (exit, cd, variables, a syntax error) away from the shell;
 * stdin from /dev/null keeps CMD from reading the next commands. The command's stdout ends where
 * "\nNONCE STATUS\n" starts, its stderr where "\nNONCE\n" does; the nonce is new per command
 * (random per fleet + a counter), so no output can end a command early by accident. */
static void shell_frame(struct ssh_fleet *f, struct conn *c, const char *cmd)
{
    const unsigned char *r = f->seed;
    f->seq++;
    snprintf(c->mark, sizeof(c->mark), "\nzd_end_%02x%02x%02x%02x%02x%02x%02x%02x_%llu", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], f->seq);
    c->marklen = strlen(c->mark);
    c->marked[0] = c->marked[1] = false;
    c->taillen[0] = c->taillen[1] = 0;
    c->got[0] = c->got[1] = 0;
    c->mstatus = -1;
    sbuf_free(&c->wbuf);
    sbuf_adds(&c->wbuf, "( eval ");
    hc_quote(&c->wbuf, cmd);
    sbuf_addf(&c->wbuf,
              " ) </dev/null; zd_s=$?; printf '\\n%%s %%d\\n' %s \"$zd_s\"; "
              "printf '\\n%%s\\n' %s >&2\n",
              c->mark + 1, c->mark + 1);
    c->woff = 0;
}

/* n bytes (n <= 8192) of stream s (0 stdout, 1 stderr) of the shell's current command: kept (up
 * to the maximum) and scanned for the end marker, which may be split across reads. */
static void shell_feed(struct conn *c, int s, const char *buf, size_t n)
{
    struct sbuf *sb = s ? &c->errout : &c->out;
    if (c->marked[s])
        return; /* after the marker: output of something the command left running */
    size_t room = sb->max ? sb->max - sb->len : n;
    sbuf_add(sb, buf, n < room ? n : room);
    char win[sizeof(c->tail[0]) + 8192];
    size_t tl = c->taillen[s];
    memcpy(win, c->tail[s], tl);
    memcpy(win + tl, buf, n);
    size_t wl = tl + n, base = c->got[s] - tl; /* stream offset of win[0] */
    c->got[s] += n;
    const char *m = memmem(win, wl, c->mark, c->marklen);
    if (m) {
        const char *p = m + c->marklen, *end = win + wl;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) {
            size_t at = base + (size_t)(m - win);
            if (sb->len > at) {
                sb->len = at;
                sb->buf[at] = '\0';
            }
            if (s == 0) {
                int st = -1;
                if (*p == ' ' && sscanf(p + 1, "%d", &st) != 1)
                    st = -1;
                c->mstatus = st;
            }
            c->marked[s] = true;
            return;
        }
        if ((size_t)(end - m) < sizeof(c->tail[0])) { /* the marker's start: wait for its end */
            c->taillen[s] = (size_t)(end - m);
            memmove(c->tail[s], m, c->taillen[s]);
            return;
        }
    }
    size_t keep = wl < c->marklen + 16 ? wl : c->marklen + 16;
    memmove(c->tail[s], win + wl - keep, keep);
    c->taillen[s] = keep;
}

/* The shell of c is gone or unusable: the command fails, and so does the host (its name and
 * what happened go to the caller), never waiting for its deadline. */
static void shell_lost(struct conn *c, const char *what)
{
    char *m = libssh2_channel_eof(c->ch) ? xasprintf("%s: the shell on the host ended", what)
                                         : xasprintf("%s: %s", what, lib_error(c->s));
    job_end(c, m);
    fail(c, "%s", m);
    free(m);
}

/* Steps until the command blocks: libssh2 may already hold the next packets in its buffer,
 * and then poll() would wait for a socket that has nothing more to say. */
static void exec_step(struct conn *c)
{
    for (int k = 0; k < 16 && c->job; k++) {
        enum jstate before = c->js;
        size_t ob = c->out.len, eb = c->errout.len;
        exec_once(c);
        if (c->js == before && c->out.len == ob && c->errout.len == eb)
            break;
    }
}

static void exec_once(struct conn *c)
{
    if (c->js == J_OPEN) {
        c->ch = libssh2_channel_open_session(c->s);
        if (!c->ch) {
            if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
                return;
            char *m = xasprintf("cannot open a channel: %s", lib_error(c->s));
            job_end(c, m);
            free(m);
            return;
        }
        c->js = J_EXEC;
    }
    if (c->js == J_EXEC) {
        int r = libssh2_channel_exec(c->ch, c->job->cmd);
        if (r == LIBSSH2_ERROR_EAGAIN)
            return;
        if (r != 0) {
            char *m = xasprintf("cannot run the command: %s", lib_error(c->s));
            job_end(c, m);
            free(m);
            return;
        }
        if (c->want_shell) { /* the shell runs on: its channel stays for the commands */
            c->want_shell = false;
            c->shell = true;
            c->job->status = 0;
            job_end(c, NULL);
            return;
        }
        c->js = J_READ;
    }
    if (c->js == J_WRITE) {
        while (c->woff < c->wbuf.len) {
            ssize_t r = libssh2_channel_write(c->ch, c->wbuf.buf + c->woff, c->wbuf.len - c->woff);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return;
            if (r < 0) {
                shell_lost(c, "cannot send the command");
                return;
            }
            c->woff += (size_t)r;
        }
        c->js = J_SHREAD;
    }
    if (c->js == J_SHREAD) {
        static const int streams[2] = {0, SSH_EXTENDED_DATA_STDERR};
        char buf[8192];
        for (int s = 0; s < 2; s++) {
            for (;;) {
                ssize_t r = libssh2_channel_read_ex(c->ch, streams[s], buf, sizeof(buf));
                if (r > 0) {
                    shell_feed(c, s, buf, (size_t)r);
                    continue;
                }
                if (r == 0 || r == LIBSSH2_ERROR_EAGAIN)
                    break;
                shell_lost(c, "reading the output failed");
                return;
            }
        }
        if (c->marked[0] && c->marked[1]) {
            c->job->status = c->mstatus;
            job_end(c, NULL);
            return;
        }
        /* the shell itself ended: the command cannot finish any more. sshd reports the exit
         * at once but its EOF waits for whatever still holds the output open (a child left
         * running), and the last of its stderr may follow the exit: wait for the EOF, at most
         * SHELL_GRACE_US after the exit */
        char *sig = NULL;
        libssh2_channel_get_exit_signal(c->ch, &sig, NULL, NULL, NULL, NULL, NULL);
        int est = libssh2_channel_get_exit_status(c->ch);
        bool eof = libssh2_channel_eof(c->ch);
        if ((sig || est != 0) && !eof) {
            uint64_t now = zd_now_us();
            if (!c->ended_us)
                c->ended_us = now;
            if (now - c->ended_us < SHELL_GRACE_US) {
                if (sig)
                    libssh2_free(c->s, sig);
                return;
            }
        }
        if (sig || est != 0 || eof) {
            char *m = sig   ? xasprintf("the shell on the host ended (signal %s)", sig)
                      : est ? xasprintf("the shell on the host ended (exit %d)", est)
                            : xstrdup("the shell on the host ended");
            if (sig)
                libssh2_free(c->s, sig);
            job_end(c, m);
            fail(c, "%s", m);
            free(m);
        }
        return;
    }
    if (c->js == J_READ) {
        if (drain(c, 0, &c->out) < 0 || drain(c, SSH_EXTENDED_DATA_STDERR, &c->errout) < 0) {
            char *m = xasprintf("reading the output failed: %s", lib_error(c->s));
            job_end(c, m);
            free(m);
            return;
        }
        /* wait_eof reads the transport on until the remote's EOF (libssh2_channel_eof alone
         * can stay false with the packets already buffered and the socket silent); data that
         * arrives meanwhile is queued on the channel and drained below */
        int w = libssh2_channel_wait_eof(c->ch);
        if (w == LIBSSH2_ERROR_EAGAIN)
            return;
        if (drain(c, 0, &c->out) < 0 || drain(c, SSH_EXTENDED_DATA_STDERR, &c->errout) < 0) {
            char *m = xasprintf("reading the output failed: %s", lib_error(c->s));
            job_end(c, m);
            free(m);
            return;
        }
        c->js = J_CLOSE;
    }
    if (c->js == J_CLOSE) {
        int r = libssh2_channel_close(c->ch);
        if (r == LIBSSH2_ERROR_EAGAIN)
            return;
        r = libssh2_channel_wait_closed(c->ch);
        if (r == LIBSSH2_ERROR_EAGAIN)
            return;
        char *sig = NULL;
        libssh2_channel_get_exit_signal(c->ch, &sig, NULL, NULL, NULL, NULL, NULL);
        c->job->status = libssh2_channel_get_exit_status(c->ch);
        if (sig) {
            char *m = xasprintf("the command died of signal %s", sig);
            libssh2_free(c->s, sig);
            job_end(c, m);
            free(m);
            return;
        }
        job_end(c, NULL);
    }
}

size_t ssh_fleet_exec(struct ssh_fleet *f, struct ssh_job *jobs, size_t n, uint64_t timeout_us)
{
    for (size_t i = 0; i < n; i++) {
        jobs[i].status = -1;
        jobs[i].out = jobs[i].errout = jobs[i].error = NULL;
        jobs[i].started_us = jobs[i].done_us = 0;
    }
    uint64_t deadline = zd_now_us() + timeout_us;
    bool *done = xcalloc(n ? n : 1, sizeof(*done));
    struct pollfd *pf = xcalloc(f->n + 1, sizeof(*pf));
    size_t *who = xcalloc(f->n + 1, sizeof(*who));
    size_t failed = 0, left = n;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].host >= f->n || f->c[jobs[i].host].st != C_READY) {
            const struct conn *c = jobs[i].host < f->n ? &f->c[jobs[i].host] : NULL;
            jobs[i].error = xasprintf("not connected%s%s", c && c->error ? ": " : "",
                                      c && c->error ? c->error : "");
            done[i] = true;
            failed++;
            left--;
        }
    }
    while (left) {
        uint64_t now = zd_now_us();
        size_t running = 0;
        for (size_t h = 0; h < f->n; h++)
            running += f->c[h].job != NULL;
        /* start the first waiting job of every idle host, within the parallel limit */
        for (size_t i = 0; i < n && running < (size_t)f->o.parallel; i++) {
            struct conn *c = &f->c[jobs[i].host];
            if (done[i] || c->job || jobs[i].started_us)
                continue;
            if (c->st != C_READY) { /* failed during an earlier job of this call */
                jobs[i].started_us = jobs[i].done_us = now;
                jobs[i].error = xasprintf("not connected: %s", c->error ? c->error : "closed");
                continue;
            }
            bool earlier = false; /* a job given before it on the same host still waits */
            for (size_t k = 0; k < i && !earlier; k++)
                earlier = !done[k] && jobs[k].host == jobs[i].host;
            if (earlier)
                continue;
            c->job = &jobs[i];
            c->js = J_OPEN;
            if (c->shell) {
                shell_frame(f, c, jobs[i].cmd);
                c->js = J_WRITE;
                /* corked until every host of this pass has its command: see below */
                int one = 1;
                if (setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0)
                    c->corked = true;
            }
            jobs[i].started_us = now;
            running++;
            exec_step(c);
        }
        /* The commands of this pass leave together: while they were encrypted and written
         * (corked), no host had started on its own; the hosts' work (which here shares the
         * machine's cores) cannot slow down writing the later hosts' commands. */
        for (size_t h = 0; h < f->n; h++) {
            struct conn *c = &f->c[h];
            if (c->corked) {
                int zero = 0;
                setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
                c->corked = false;
            }
        }
        size_t np = 0;
        for (size_t h = 0; h < f->n; h++) {
            struct conn *c = &f->c[h];
            if (!c->job)
                continue;
            if (now >= deadline) {
                char d[32];
                static const char *const phase[] = {"waiting",
                                                    "opening a channel",
                                                    "starting it",
                                                    "reading its output",
                                                    "closing the channel",
                                                    "done",
                                                    "sending it to the shell",
                                                    "reading its output"};
                char *m = xasprintf("no result within %s (command timeout, %s)",
                                    zd_fmt_duration(timeout_us, d, sizeof(d)), phase[c->js]);
                job_end(c, m);
                free(m);
                /* the channel state is unknown now: this session is not reused */
                fail(c, "closed after a command timeout");
                continue;
            }
            pf[np] = (struct pollfd){.fd = c->fd, .events = wanted(c)};
            who[np++] = h;
        }
        for (size_t i = 0; i < n; i++) {
            if (!done[i] && jobs[i].done_us) {
                done[i] = true;
                left--;
                failed += jobs[i].error != NULL;
            }
        }
        if (!left || np == 0)
            continue;
        uint64_t wait = deadline > now ? deadline - now : 0;
        int ms = (int)(wait / 1000) + 1;
        if (ms > 50)
            ms = 50;
        int pr = poll(pf, np, ms);
        if (pr < 0 && errno != EINTR)
            break;
        /* only the hosts whose socket is ready: a step runs libssh2 until it would block, so
         * nothing waits in its buffers (stepping all 100 hosts on every wake-up cost the hosts
         * a recv() each, on the cores they share); all of them when poll timed out, in case */
        for (size_t k = 0; k < np; k++)
            if (pr <= 0 || pf[k].revents || f->c[who[k]].ended_us)
                exec_step(&f->c[who[k]]);
    }
    free(done);
    free(pf);
    free(who);
    return failed;
}

void ssh_jobs_free(struct ssh_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].out);
        free(jobs[i].errout);
        free(jobs[i].error);
        jobs[i].out = jobs[i].errout = jobs[i].error = NULL;
    }
}

int ssh_fleet_shells(struct ssh_fleet *f, const char *shell_cmd, uint64_t timeout_us, char **err)
{
    size_t n = 0;
    struct ssh_job *jobs = xcalloc(f->n ? f->n : 1, sizeof(*jobs));
    for (size_t i = 0; i < f->n; i++) {
        if (f->c[i].st != C_READY || f->c[i].shell)
            continue;
        f->c[i].want_shell = true;
        jobs[n].host = i;
        jobs[n++].cmd = shell_cmd;
    }
    ssh_fleet_exec(f, jobs, n, timeout_us);
    struct sbuf sb = SBUF_INIT;
    for (size_t k = 0; k < n; k++)
        if (jobs[k].error)
            sbuf_addf(&sb, "%s%s: cannot start a shell: %s", sb.len ? "\n" : "",
                      f->c[jobs[k].host].name, jobs[k].error);
    /* then one command through each: a shell that could not start (sudo that wants a password,
     * no /bin/sh) has ended by now, and says why on its stderr */
    for (size_t k = 0; k < n; k++) {
        free(jobs[k].out);
        free(jobs[k].errout);
        free(jobs[k].error);
        f->c[jobs[k].host].want_shell = false;
        jobs[k].cmd = "true";
    }
    ssh_fleet_exec(f, jobs, n, timeout_us);
    for (size_t k = 0; k < n; k++) {
        const struct ssh_job *j = &jobs[k];
        if (!j->error && j->status == 0)
            continue;
        /* the last line of its stderr says why (sudo's "a password is required"; sshd's
         * "Could not chdir to home directory" may come first) */
        const char *eo = j->errout ? j->errout : "";
        size_t el = strlen(eo);
        while (el && (eo[el - 1] == '\n' || eo[el - 1] == '\r'))
            el--;
        size_t ls = el;
        while (ls && eo[ls - 1] != '\n')
            ls--;
        sbuf_addf(&sb, "%s%s: %s%s%.*s", sb.len ? "\n" : "", f->c[j->host].name,
                  j->error ? j->error : "the shell failed", el ? ": " : "", (int)(el - ls),
                  eo + ls);
    }
    ssh_jobs_free(jobs, n);
    free(jobs);
    return zd_err_collected(err, &sb);
}

bool ssh_fleet_has_shell(const struct ssh_fleet *f, size_t i)
{
    return f->c[i].st == C_READY && f->c[i].shell;
}
