/*
 * fork_patched.c - a patched executable (its SSL_* from ssl_shim.c) that
 * forks right after start; parent and child each hold one TLS conversation
 * with SNI discord.com over a memory BIO pair, free it, and print their pid
 * (the parent after the child exited, so the output is in a fixed order).
 *
 *   fork_patched CERT KEY
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

/* Argus drains the ring on its own thread, and a process that exits before
 * its last records were drained (its core still loading) loses them. So each
 * process waits, up to 10 s, until the recording core has written the CLOSE
 * of its connection (ARGUS_TEST_RECORD_DIR/<pid>-<id>.meta, tests/support):
 * the condition the test then checks, awaited rather than slept on. */
static bool closed_recorded(const char *dir)
{
    char prefix[32], path[4096], line[256];
    bool closed = false;
    snprintf(prefix, sizeof(prefix), "%d-", (int)getpid());
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && !closed && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || n < 5 ||
            strcmp(e->d_name + n - 5, ".meta") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        while (f != NULL && !closed && fgets(line, sizeof(line), f) != NULL)
            closed = strstr(line, " close") != NULL;
        if (f != NULL)
            fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return closed;
}

static void await_recorded(void)
{
    const char *dir = getenv("ARGUS_TEST_RECORD_DIR");
    for (int i = 0; dir != NULL && i < 1000 && !closed_recorded(dir); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* polling files another thread writes: no event for them */
    }
}

static int converse(const char *cert, const char *key)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    if (cctx == NULL || sctx == NULL ||
        SSL_CTX_use_certificate_file(sctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        return 1;
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *cb, *sb;
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_tlsext_host_name(c, "discord.com");
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 100 && (!SSL_is_init_finished(c) || !SSL_is_init_finished(s)); i++) {
        SSL_do_handshake(c);
        SSL_do_handshake(s);
    }
    static const char req[] = "GET /api/v10/gateway HTTP/1.1\r\nHost: discord.com\r\n\r\n";
    static const char rep[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    char buf[256];
    int rc = 1;
    if (SSL_write(c, req, sizeof(req) - 1) == (int)sizeof(req) - 1 &&
        SSL_read(s, buf, sizeof(buf)) == (int)sizeof(req) - 1 &&
        SSL_write(s, rep, sizeof(rep) - 1) == (int)sizeof(rep) - 1 &&
        SSL_read(c, buf, sizeof(buf)) == (int)sizeof(rep) - 1)
        rc = 0;
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    pid_t child = fork();
    if (child < 0)
        return 1;
    int rc = converse(argv[1], argv[2]);
    await_recorded();
    if (child == 0) {
        printf("%d\n", (int)getpid());
        return rc;
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    printf("%d\n", (int)getpid());
    return rc;
}
