/*
 * tls_client.c - the client half of tls_peers.py, in C, for the capture tests
 * on an architecture the test machine only emulates (arm64 under qemu): a
 * Python of that architecture is not at hand, a cross-compiled C program is.
 *
 *   tls_client PORT SPEC_JSON
 *       Runs the connections described in SPEC_JSON (the format of
 *       tls_peers.py client), one thread each, against the tls_peers.py
 *       server on 127.0.0.1:PORT, and prints one JSON object: per connection
 *       name, the SHA-256 and length of every byte written and read, and the
 *       error a reset connection saw.
 *   tls_client --fork PORT HOST
 *       One connection ("before"), then fork(): the child makes one
 *       ("in_child") and reports it through a pipe, the parent waits and
 *       makes one more ("after"). Prints the three results with both pids
 *       and the child's wait status (case_fork of test_capture.py).
 *
 * Each request goes out as tls_peers.py's client sends it: the head in its
 * own write (the hooks classify on the first write), then the body in
 * `chunk`-byte writes. Writes alternate between SSL_write and SSL_write_ex,
 * reads between SSL_read and SSL_read_ex, so all four hooks are exercised.
 * Payloads are a deterministic function of the connection's name.
 * Exits 1 on any failure the spec did not ask for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define IO_MAX 65536

struct conn_job {
    int port;
    json_t *spec;   /* borrowed */
    json_t *result; /* owned; NULL until the connection finished */
};

static SSL_CTX *client_ctx;

static void die(const char *what)
{
    fprintf(stderr, "tls_client: %s (errno %d)\n", what, errno);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* xorshift64 seeded with the FNV-1a hash of the connection's name. */
static uint64_t seed_of(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h ? h : 1;
}

static void fill(uint64_t *state, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        buf[i] = (unsigned char)*state;
    }
}

struct stream {
    EVP_MD_CTX *sha;
    uint64_t len;
};

static void stream_add(struct stream *s, const void *p, size_t n)
{
    EVP_DigestUpdate(s->sha, p, n);
    s->len += n;
}

static json_t *stream_hex(struct stream *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    EVP_DigestFinal_ex(s->sha, md, &n);
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return json_string(hex);
}

struct conn {
    SSL *ssl;
    int fd;
    unsigned calls; /* alternates the plain and _ex functions */
    struct stream w, r;
};

/* Writes all of buf; returns 0, or -1 on a TLS failure. */
static int conn_write_all(struct conn *c, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        size_t moved = 0;
        int ret;
        if (c->calls++ & 1) {
            ret = SSL_write_ex(c->ssl, buf, n, &moved);
        } else {
            ret = SSL_write(c->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
            moved = ret > 0 ? (size_t)ret : 0;
        }
        if (ret <= 0)
            return -1;
        stream_add(&c->w, buf, moved);
        buf += moved;
        n -= moved;
    }
    return 0;
}

/* Reads once into buf; returns the bytes read, or 0 with *err describing
 * why nothing came (EOF or an error). */
static size_t conn_read(struct conn *c, unsigned char *buf, size_t cap, char *err, size_t errlen)
{
    size_t moved = 0;
    int ret;
    errno = 0;
    if (c->calls++ & 1) {
        ret = SSL_read_ex(c->ssl, buf, cap, &moved);
    } else {
        ret = SSL_read(c->ssl, buf, (int)cap);
        moved = ret > 0 ? (size_t)ret : 0;
    }
    if (ret > 0) {
        stream_add(&c->r, buf, moved);
        return moved;
    }
    int saved = errno;
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_ZERO_RETURN)
        snprintf(err, errlen, "eof");
    else
        snprintf(err, errlen, "ssl_error=%d errno=%d", e, e == SSL_ERROR_SYSCALL ? saved : 0);
    ERR_clear_error();
    return 0;
}

static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p ? (size_t)strtoull(p + 17, NULL, 10) : 0;
}

/* One connection as tls_peers.run_connection makes it. */
static void *run_connection(void *arg)
{
    struct conn_job *job = arg;
    const char *name = json_string_value(json_object_get(job->spec, "name"));
    const char *host = json_string_value(json_object_get(job->spec, "host"));
    const char *sni = json_string_value(json_object_get(job->spec, "sni"));
    json_t *requests = json_object_get(job->spec, "requests");
    json_t *chunk_j = json_object_get(job->spec, "chunk");
    size_t chunk = chunk_j ? (size_t)json_integer_value(chunk_j) : 16384;
    int reset = json_is_true(json_object_get(job->spec, "reset"));
    uint64_t rng = seed_of(name);
    char error[96] = "";
    struct conn c = {.fd = -1};
    c.w.sha = EVP_MD_CTX_new();
    c.r.sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c.w.sha, EVP_sha256(), NULL);
    EVP_DigestInit_ex(c.r.sha, EVP_sha256(), NULL);
    unsigned char *buf = malloc(IO_MAX);
    size_t have = 0; /* bytes of buf read past the previous response */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)job->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect");
    c.ssl = SSL_new(client_ctx);
    SSL_set_fd(c.ssl, c.fd);
    if (sni != NULL)
        SSL_set_tlsext_host_name(c.ssl, sni);
    if (SSL_connect(c.ssl) != 1)
        die("handshake");

    size_t nreq = json_array_size(requests);
    for (size_t i = 0; i < nreq; i++) {
        json_t *rq = json_array_get(requests, i);
        size_t body_len = (size_t)json_integer_value(json_array_get(rq, 0));
        size_t reply_len = (size_t)json_integer_value(json_array_get(rq, 1));
        int last_reset = reset && i + 1 == nreq;
        char head[512];
        int hn = snprintf(head, sizeof(head),
                          "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\nX-Reply: "
                          "%zu\r\n%s\r\n",
                          host, body_len, reply_len, last_reset ? "X-Reset: 1\r\n" : "");
        if (conn_write_all(&c, (const unsigned char *)head, (size_t)hn) != 0)
            die("write head");
        unsigned char *piece = malloc(chunk);
        for (size_t sent = 0; sent < body_len;) {
            size_t n = body_len - sent < chunk ? body_len - sent : chunk;
            fill(&rng, piece, n);
            if (conn_write_all(&c, piece, n) != 0)
                die("write body");
            sent += n;
        }
        free(piece);
        if (last_reset) {
            while (conn_read(&c, buf, IO_MAX, error, sizeof(error)) > 0)
                ;
            break;
        }
        /* The response head, then Content-Length bytes. buf holds `have`
         * bytes not consumed yet. */
        char *end;
        for (;;) {
            buf[have] = '\0';
            end = strstr((char *)buf, "\r\n\r\n");
            if (end != NULL)
                break;
            if (have + 1 >= IO_MAX)
                die("response head too long");
            size_t n = conn_read(&c, buf + have, IO_MAX - 1 - have, error, sizeof(error));
            if (n == 0)
                die("EOF in a response head");
            have += n;
        }
        size_t head_len = (size_t)(end - (char *)buf) + 4;
        size_t need = content_length((char *)buf);
        if (have - head_len >= need) {
            have -= head_len + need;
            memmove(buf, buf + head_len + need, have);
            continue;
        }
        need -= have - head_len;
        have = 0;
        while (need > 0) {
            size_t n = conn_read(&c, buf, IO_MAX - 1, error, sizeof(error));
            if (n == 0)
                die("EOF in a response body");
            if (n > need) { /* bytes past this response stay for the next */
                have = n - need;
                memmove(buf, buf + need, have);
                n = need;
            }
            need -= n;
        }
    }
    SSL_shutdown(c.ssl);
    SSL_free(c.ssl);
    close(c.fd);
    free(buf);

    json_t *res = json_object();
    json_object_set_new(res, "write_sha", stream_hex(&c.w));
    json_object_set_new(res, "write_len", json_integer((json_int_t)c.w.len));
    json_object_set_new(res, "read_sha", stream_hex(&c.r));
    json_object_set_new(res, "read_len", json_integer((json_int_t)c.r.len));
    if (error[0] != '\0' && reset)
        json_object_set_new(res, "error", json_string(error));
    EVP_MD_CTX_free(c.w.sha);
    EVP_MD_CTX_free(c.r.sha);
    job->result = res;
    return NULL;
}

static json_t *run_specs(int port, json_t *specs)
{
    size_t n = json_array_size(specs);
    struct conn_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
    pthread_t *threads = calloc(n ? n : 1, sizeof(*threads));
    for (size_t i = 0; i < n; i++) {
        jobs[i].port = port;
        jobs[i].spec = json_array_get(specs, i);
        if (pthread_create(&threads[i], NULL, run_connection, &jobs[i]) != 0)
            die("pthread_create");
    }
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        json_object_set_new(out, json_string_value(json_object_get(jobs[i].spec, "name")),
                            jobs[i].result);
    }
    free(threads);
    free(jobs);
    return out;
}

/* One connection named `name` moving n bytes up and 2n down, on the calling
 * thread. (Not on a thread of its own: qemu 10.0 hangs a child forked right
 * after another thread of the program exited, when the child starts a
 * thread, as Argus does in it; that is emulation's fault, not Argus'.) */
static json_t *one(int port, const char *host, const char *name, int n)
{
    struct conn_job job = {.port = port};
    job.spec = json_pack("{s:s, s:s, s:n, s:[[i, i]]}", "name", name, "host", host, "sni",
                         "requests", n, 2 * n);
    run_connection(&job);
    json_decref(job.spec);
    return job.result;
}

static int run_fork(int port, const char *host)
{
    json_t *out = json_object();
    json_object_set_new(out, "parent", json_integer(getpid()));
    json_object_set_new(out, "before", one(port, host, "before", 300000));
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(fds[0]);
        json_t *child = json_object();
        json_object_set_new(child, "child", json_integer(getpid()));
        json_object_set_new(child, "in_child", one(port, host, "in_child", 200000));
        char *text = json_dumps(child, JSON_COMPACT);
        size_t len = strlen(text);
        if (write(fds[1], text, len) != (ssize_t)len)
            _exit(1);
        exit(0); /* exit, not _exit: Argus flushes at exit */
    }
    close(fds[1]);
    static char text[65536];
    size_t len = 0;
    for (ssize_t n; (n = read(fds[0], text + len, sizeof(text) - 1 - len)) > 0;)
        len += (size_t)n;
    text[len] = '\0';
    int status = 0;
    waitpid(pid, &status, 0);
    json_t *child = json_loads(text, 0, NULL);
    if (child == NULL)
        die("the child reported nothing");
    json_object_update(out, child);
    json_decref(child);
    json_object_set_new(out, "status", json_integer(status));
    json_object_set_new(out, "after", one(port, host, "after", 100000));
    char *printed = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    puts(printed);
    free(printed);
    json_decref(out);
    return 0;
}

int main(int argc, char **argv)
{
    int fork_mode = argc == 4 && strcmp(argv[1], "--fork") == 0;
    if (argc != 3 && !fork_mode) {
        fprintf(stderr, "usage: %s PORT SPEC_JSON | --fork PORT HOST\n", argv[0]);
        return 2;
    }
    /* As in Python: a write to a connection the peer reset fails with
     * EPIPE instead of killing the program. */
    signal(SIGPIPE, SIG_IGN);
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (client_ctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    if (fork_mode)
        return run_fork((int)strtol(argv[2], NULL, 10), argv[3]);

    json_error_t jerr;
    json_t *specs = json_loads(argv[2], 0, &jerr);
    if (!json_is_array(specs)) {
        fprintf(stderr, "tls_client: bad spec: %s\n", jerr.text);
        return 2;
    }
    json_t *out = run_specs((int)strtol(argv[1], NULL, 10), specs);
    char *printed = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    puts(printed);
    free(printed);
    json_decref(out);
    json_decref(specs);
    SSL_CTX_free(client_ctx);
    return 0;
}
