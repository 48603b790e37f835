/*
 * replay.c - decodes a recorded capture (tests/support/record.h layout) and prints
 * what the decoder saw, as JSON, for tests/decode/test_fixtures.py.
 *
 *   replay <fixture-dir> [secret...]
 *
 * The records of every connection are merged in capture order (t_ns from
 * the "data" lines of the .meta files) and fed to one stream table, as the
 * core's decode loop would. Output: dispatch counts by name, REST exchanges
 * grouped by (method, route, status), gateway sends by opcode, WebSocket
 * close codes, decode errors by stage and reason. Exit status 1 when a
 * secret given on the command line, or any interaction token (base64 of
 * "interaction:"), appears in an event, or a route template contains '?',
 * '%' or six digits in a row; 2 on a bad fixture.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stream.h"

struct rec {
    uint64_t t_ns;
    uint64_t conn;
    uint8_t type, dir, flags;
    uint32_t len;
    const uint8_t *data;
    size_t order; /* position in its file, to keep ties stable */
};

struct tally {
    char key[200];
    unsigned count;
};

static struct rec *recs;
static size_t n_recs, cap_recs;
static struct tally tallies[512];
static size_t n_tallies;
static const char *const *secrets;
static int n_secrets;
static int violations;

static void add(const struct rec *r)
{
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? 2 * cap_recs : 256;
        recs = realloc(recs, cap_recs * sizeof(*recs));
        if (recs == NULL)
            exit(2);
    }
    recs[n_recs] = *r;
    recs[n_recs].order = n_recs;
    n_recs++;
}

static void count(const char *fmt, const char *a, const char *b, long c)
{
    char key[200];

    snprintf(key, sizeof(key), fmt, a, b, c);
    for (size_t i = 0; i < n_tallies; i++) {
        if (strcmp(tallies[i].key, key) == 0) {
            tallies[i].count++;
            return;
        }
    }
    if (n_tallies < sizeof(tallies) / sizeof(tallies[0])) {
        snprintf(tallies[n_tallies].key, sizeof(tallies[n_tallies].key), "%s", key);
        tallies[n_tallies++].count = 1;
    }
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    *len = 0;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n)
            *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* Reads <stem>.meta with its two .bin files as connection `conn`. */
static int load_conn(const char *dir, const char *stem, uint64_t conn)
{
    char path[4096], line[1024];
    uint8_t *bin[2];
    size_t bin_len[2], at[2] = {0, 0};
    FILE *meta;
    bool gap_next[2] = {false, false};

    for (int d = 0; d < 2; d++) {
        snprintf(path, sizeof(path), "%s/%s-%s.bin", dir, stem, d == 0 ? "read" : "write");
        bin[d] = slurp(path, &bin_len[d]);
    }
    snprintf(path, sizeof(path), "%s/%s.meta", dir, stem);
    meta = fopen(path, "r");
    if (meta == NULL)
        return -errno;
    while (fgets(line, sizeof(line), meta) != NULL) {
        unsigned long long t;
        char what[16], arg[256] = "";
        unsigned len = 0;
        int fields = sscanf(line, "%llu %15s %255s %u", &t, what, arg, &len);
        struct rec r = {.t_ns = t, .conn = conn};
        if (fields < 2)
            continue;
        if (strcmp(what, "open") == 0) {
            char *host = strchr(line, ' ');
            host = host != NULL ? strchr(host + 1, ' ') : NULL;
            r.type = RING_OPEN;
            if (host != NULL) {
                host++;
                host[strcspn(host, "\n")] = '\0';
                r.data = (const uint8_t *)strdup(host);
                r.len = (uint32_t)strlen(host);
            }
            add(&r);
        } else if (strcmp(what, "close") == 0) {
            r.type = RING_CLOSE;
            add(&r);
        } else if (strcmp(what, "gap") == 0) {
            gap_next[strcmp(arg, "write") == 0] = true;
        } else if (strcmp(what, "data") == 0 && fields == 4) {
            int d = strcmp(arg, "write") == 0;
            if (bin[d] == NULL || at[d] + len > bin_len[d]) {
                fprintf(stderr, "replay: %s: data beyond %s bytes\n", stem, arg);
                fclose(meta);
                return -EINVAL;
            }
            r.type = RING_DATA;
            r.dir = d ? RING_DIR_WRITE : RING_DIR_READ;
            r.flags = gap_next[d] ? RING_F_GAP : 0;
            gap_next[d] = false;
            r.data = bin[d] + at[d];
            r.len = len;
            at[d] += len;
            add(&r);
        }
    }
    fclose(meta);
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;

    if (x->t_ns != y->t_ns)
        return x->t_ns < y->t_ns ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool six_digits(const char *s)
{
    int run = 0;

    for (; *s != '\0'; s++) {
        run = *s >= '0' && *s <= '9' ? run + 1 : 0;
        if (run >= 6)
            return true;
    }
    return false;
}

static void check_secrets(const struct argus_event *ev)
{
    static const char itoken[] = "aW50ZXJhY3Rpb246";

    if (memmem(ev, sizeof(*ev), itoken, sizeof(itoken) - 1) != NULL) {
        fprintf(stderr, "replay: an interaction token appears in an event (kind %d)\n", ev->kind);
        violations++;
    }
    for (int i = 0; i < n_secrets; i++) {
        if (memmem(ev, sizeof(*ev), secrets[i], strlen(secrets[i])) != NULL) {
            fprintf(stderr, "replay: secret #%d appears in an event (kind %d)\n", i, ev->kind);
            violations++;
        }
    }
}

static void on_event(const struct argus_event *ev, void *arg)
{
    (void)arg;
    check_secrets(ev);
    switch (ev->kind) {
    case EV_GW_RECV:
        if (ev->u.gw.op == 0)
            count("dispatch %s", ev->u.gw.t, "", 0);
        else
            count("recv op %s%s%ld", "", "", ev->u.gw.op);
        break;
    case EV_GW_SEND:
        count("send op %s%s%ld", "", "", ev->u.gw.op);
        break;
    case EV_REST: {
        const char *route = ev->u.rest.route;
        if (strchr(route, '?') != NULL || strchr(route, '%') != NULL || six_digits(route)) {
            fprintf(stderr, "replay: unsafe route template %s\n", route);
            violations++;
        }
        count("rest %s %s %ld", ev->u.rest.method, route, ev->u.rest.status);
        break;
    }
    case EV_WS_CLOSE:
        count("ws_close %s%s%ld", ev->u.close.direction == EV_DIR_OUT ? "out " : "in ", "",
              ev->u.close.code);
        break;
    case EV_DECODE_ERROR:
        count("decode_error %s %s%.0ld", ev->u.decode_error.stage, ev->u.decode_error.reason, 0);
        break;
    case EV_CONN_KIND:
        count("conn_kind %s%s%ld", "", "", ev->conn_kind);
        break;
    case EV_CONN_OPEN:
    case EV_CONN_CLOSE:
        break;
    }
}

int main(int argc, char **argv)
{
    struct argus_config cfg;
    struct stream_table *t;
    DIR *d;
    struct dirent *e;
    uint64_t conn = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: replay <fixture-dir> [secret...]\n");
        return 2;
    }
    secrets = (const char *const *)argv + 2;
    n_secrets = argc - 2;
    d = opendir(argv[1]);
    if (d == NULL) {
        perror(argv[1]);
        return 2;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".meta") == 0) {
            char stem[256];
            snprintf(stem, sizeof(stem), "%.*s", (int)(n - 5), e->d_name);
            if (load_conn(argv[1], stem, conn++) < 0)
                return 2;
        }
    }
    closedir(d);
    qsort(recs, n_recs, sizeof(*recs), by_time);

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_connections = 64;
    cfg.max_message_bytes = 8u << 20;
    static const char *const bang[] = {"!"};
    cfg.prefixes = (struct argus_list){bang, 1};
    t = stream_table_create(&cfg, on_event, NULL);
    if (t == NULL)
        return 2;
    for (size_t i = 0; i < n_recs; i++) {
        struct ring_record r = {.conn_id = recs[i].conn,
                                .t_ns = recs[i].t_ns,
                                .type = recs[i].type,
                                .dir = recs[i].dir,
                                .flags = recs[i].flags,
                                .len = recs[i].len,
                                .data = recs[i].data};
        stream_table_feed(t, &r);
    }
    stream_table_destroy(t);

    printf("{");
    for (size_t i = 0; i < n_tallies; i++)
        printf("%s\n \"%s\": %u", i ? "," : "", tallies[i].key, tallies[i].count);
    printf("\n}\n");
    return violations > 0 ? 1 : 0;
}
