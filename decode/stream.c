/*
 * stream.c - connections, directions and the layers between them.
 *
 * Design. Each ring record is one SSL_read or SSL_write: the bytes of one
 * direction of one connection, cut wherever TLS records happened to fall.
 * Every layer below is therefore a resumable decoder fed slices, and this
 * file is the glue that routes each slice to the right decoder:
 *
 *   write side, before 101: http_parse(REQUEST)  -> pending REST exchange
 *   read side,  before 101: http_parse(RESPONSE) -> completes the oldest one
 *   either side after 101:  ws_decode -> unmask -> [permessage-deflate]
 *                            -> [zlib-stream | zstd-stream] -> message buffer
 *                            -> gw_parse -> EV_GW_RECV / EV_GW_SEND
 *
 * Compressed bytes are never buffered: they are decompressed as they arrive,
 * and only the decompressed gateway message is kept, up to the size cap.
 * Past the cap the stream is still inflated (a zlib stream cannot skip) but
 * the output is dropped, and the message is parsed from its prefix.
 *
 * Responses pair with requests in order (HTTP/1.1 without pipelining, as
 * aiohttp and undici use it, discord-wire.md §7); a small FIFO tolerates a
 * client that writes the next request before reading the last response.
 *
 * The connection table is a flat array scanned linearly, with a one-entry
 * cache for the common run of records from one connection: tables are small
 * (ARGUS_MAX_CONNECTIONS) and a hash would only pay off far beyond that.
 */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "http.h"
#include "log.h"
#include "route.h"
#include "ws.h"
#include "zs.h"

#define STREAM_MAX_PENDING 8
#define STREAM_MSG_INITIAL (64 * 1024)
#define STREAM_UNMASK_CHUNK 16384
#define STREAM_DEFAULT_MAX_MESSAGE (8u * 1024 * 1024)

enum body_use {
    BODY_NONE = 0,
    BODY_CALLBACK,     /* request: {"type":N} of an interaction callback */
    BODY_MESSAGE,      /* request: message_reference.message_id */
    BODY_ERROR,        /* response: "code" of a JSON error body */
    BODY_COMMAND_SYNC, /* response: entries of the command array */
};

struct pending {
    struct ev_rest ev;
    bool is_upgrade;
};

/* One direction of an upgraded connection. */
struct stream_dir {
    struct ws_decoder ws;
    struct zs pmd;       /* permessage-deflate, when negotiated */
    struct zs transport; /* zlib-stream / zstd-stream (server to bot only) */
    uint8_t *msg;
    size_t msg_len, msg_alloc;
    bool msg_truncated;
    bool msg_binary;
    uint8_t ctl[125];
    uint8_t ctl_len;
};

struct conn {
    uint64_t id;
    uint64_t last_t_ns;
    enum conn_kind kind;
    bool kind_announced;
    bool dead;    /* abandoned: ignore everything until RING_CLOSE */
    bool resync;  /* HTTP after a gap: skip bytes until a write starts a request */
    bool ignored; /* not a connection we decode (voice gateway) */
    bool upgraded;
    int close_code; /* first WS close frame seen, 0 if none */
    int close_dir;

    /* HTTP (freed at upgrade). */
    struct http_parser *req, *resp;
    uint64_t req_start_ns;
    bool req_in_head;
    struct pending pending[STREAM_MAX_PENDING];
    unsigned n_pending;
    struct http_body req_body, resp_body;
    enum body_use req_use, resp_use;
    enum zs_mode transport_mode; /* from the upgrade request's query */
    bool etf;

    /* WebSocket (allocated at upgrade): [EV_DIR_IN], [EV_DIR_OUT]. */
    struct stream_dir *dir[2];
};

struct stream_table {
    argus_event_fn cb;
    void *arg;
    struct gw_opts gw_opts;
    uint32_t max_conns;
    uint32_t max_message;
    struct conn **conns;
    uint32_t n_conns;
    struct conn *last;
    /* The record being fed: its time stamps every event it completes. */
    uint64_t now_ns;
};

/* ---- events ---- */

static void emit(struct stream_table *t, struct conn *c, struct argus_event *ev)
{
    ev->conn_id = c->id;
    ev->conn_kind = c->kind;
    ev->t_ns = t->now_ns;
    t->cb(ev, t->arg);
}

static void emit_simple(struct stream_table *t, struct conn *c, enum ev_kind kind)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    emit(t, c, &ev);
}

static void emit_decode_error(struct stream_table *t, struct conn *c, const char *stage,
                              const char *reason)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_DECODE_ERROR;
    ev.u.decode_error.stage = stage;
    ev.u.decode_error.reason = reason;
    emit(t, c, &ev);
}

static void announce_kind(struct stream_table *t, struct conn *c, enum conn_kind kind)
{
    if (c->kind_announced)
        return;
    c->kind = kind;
    c->kind_announced = true;
    emit_simple(t, c, EV_CONN_KIND);
}

static void free_http(struct conn *c)
{
    /* A head or body cut short (close, gap, parse error) never reached the
     * wipes in request_head()/request_done(), yet it may hold the
     * Authorization header or message content. */
    if (c->req != NULL)
        explicit_bzero(c->req->head, c->req->head_len);
    if (c->req_body.buf != NULL)
        explicit_bzero(c->req_body.buf, c->req_body.len);
    free(c->req);
    free(c->resp);
    c->req = c->resp = NULL;
    http_body_fini(&c->req_body);
    http_body_fini(&c->resp_body);
    c->req_use = c->resp_use = BODY_NONE;
}

static void free_dir(struct stream_dir *d)
{
    if (d == NULL)
        return;
    zs_fini(&d->pmd);
    zs_fini(&d->transport);
    /* A message cut short (close, gap, abandon) missed gateway_message()'s
     * wipe; an IDENTIFY carries the bot token. */
    if (d->msg != NULL)
        explicit_bzero(d->msg, d->msg_len);
    free(d->msg);
    free(d);
}

/* Gives up on a connection: one decode error, then silence until close. */
static void abandon(struct stream_table *t, struct conn *c, const char *stage, const char *reason)
{
    if (c->dead)
        return;
    c->dead = true;
    emit_decode_error(t, c, stage, reason);
    argus_log_debug("conn %llu: %s decoding abandoned: %s", (unsigned long long)c->id, stage,
                    reason);
    free_http(c);
    for (int i = 0; i < 2; i++) {
        free_dir(c->dir[i]);
        c->dir[i] = NULL;
    }
}

/* ---- connection table ---- */

static struct conn *conn_find(struct stream_table *t, uint64_t id)
{
    if (t->last != NULL && t->last->id == id)
        return t->last;
    for (uint32_t i = 0; i < t->n_conns; i++) {
        if (t->conns[i]->id == id) {
            t->last = t->conns[i];
            return t->last;
        }
    }
    return NULL;
}

static void conn_free(struct conn *c)
{
    if (c == NULL)
        return;
    free_http(c);
    for (int i = 0; i < 2; i++)
        free_dir(c->dir[i]);
    free(c);
}

static void response_done(struct stream_table *t, struct conn *c);

/* Finishes what the connection's end completes, says goodbye, frees it. */
static void conn_close(struct stream_table *t, struct conn *c)
{
    struct argus_event ev;

    /* A response delimited by the connection's end is complete now. */
    if (!c->dead && c->resp != NULL && c->n_pending > 0 && http_parse_eof(c->resp))
        response_done(t, c);
    /* Requests that never got a (complete) response end with status 0
     * unless their head arrived. */
    for (unsigned i = 0; !c->dead && i < c->n_pending; i++) {
        if (c->pending[i].is_upgrade)
            continue;
        memset(&ev, 0, sizeof(ev));
        ev.kind = EV_REST;
        ev.u.rest = c->pending[i].ev;
        emit(t, c, &ev);
    }
    c->n_pending = 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_CONN_CLOSE;
    ev.u.close.code = c->close_code != 0 ? c->close_code : (c->upgraded ? 1006 : 0);
    ev.u.close.direction = c->close_dir;
    emit(t, c, &ev);

    for (uint32_t i = 0; i < t->n_conns; i++) {
        if (t->conns[i] == c) {
            t->conns[i] = t->conns[--t->n_conns];
            break;
        }
    }
    if (t->last == c)
        t->last = NULL;
    conn_free(c);
}

static bool host_is_voice(const uint8_t *host, size_t len)
{
    static const char suffix[] = ".discord.media";
    size_t n = sizeof(suffix) - 1;

    return len >= n && memcmp(host + len - n, suffix, n) == 0;
}

static struct conn *conn_open(struct stream_table *t, uint64_t id)
{
    struct conn *c;

    if (t->n_conns == t->max_conns) {
        /* Evict the connection that has been quiet the longest. */
        struct conn *victim = t->conns[0];
        for (uint32_t i = 1; i < t->n_conns; i++)
            if (t->conns[i]->last_t_ns < victim->last_t_ns)
                victim = t->conns[i];
        abandon(t, victim, "capture", "evicted");
        conn_close(t, victim);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->id = id;
    c->last_t_ns = t->now_ns;
    t->conns[t->n_conns++] = c;
    t->last = c;
    emit_simple(t, c, EV_CONN_OPEN);
    return c;
}

/* ---- REST ---- */

static void sanitize_copy(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[n] = '\0';
}

static double header_double(const struct http_parser *p, const char *name, double absent)
{
    const char *v;
    size_t n;
    char buf[32], *end;

    if (!http_head_get(p, name, &v, &n) || n == 0 || n >= sizeof(buf))
        return absent;
    memcpy(buf, v, n);
    buf[n] = '\0';
    double x = strtod(buf, &end);
    return *end == '\0' && x >= 0 ? x : absent;
}

/* "DiscordBot (https://github.com/Rapptz/discord.py 2.2.2) Python/3.11
 * aiohttp/3.8.4" or "DiscordBot (https://discord.js.org, 2.6.3)
 * discord.js/14.28.1 Node.js/v20.11.1": library, version and runtime. */
static void parse_user_agent(const char *ua, size_t len, struct ev_rest *r)
{
    size_t at = 0;
    static const char db[] = "DiscordBot (";

    if (len > sizeof(db) - 1 && memcmp(ua, db, sizeof(db) - 1) == 0) {
        const char *close = memchr(ua, ')', len);
        size_t in_end = close != NULL ? (size_t)(close - ua) : len;
        size_t u = sizeof(db) - 1, url_end = u;
        while (url_end < in_end && ua[url_end] != ' ' && ua[url_end] != ',')
            url_end++;
        size_t base = url_end;
        while (base > u && ua[base - 1] != '/')
            base--;
        sanitize_copy(r->library, sizeof(r->library), ua + base, url_end - base);
        size_t v = url_end;
        while (v < in_end && (ua[v] == ' ' || ua[v] == ','))
            v++;
        sanitize_copy(r->library_version, sizeof(r->library_version), ua + v, in_end - v);
        at = in_end < len ? in_end + 1 : len;
    }
    while (at < len) {
        while (at < len && ua[at] == ' ')
            at++;
        size_t end = at;
        while (end < len && ua[end] != ' ')
            end++;
        const char *slash = memchr(ua + at, '/', end - at);
        if (slash != NULL) {
            size_t name_len = (size_t)(slash - (ua + at));
            if ((name_len == 6 && memcmp(ua + at, "Python", 6) == 0) ||
                (name_len == 7 && memcmp(ua + at, "Node.js", 7) == 0)) {
                sanitize_copy(r->runtime, sizeof(r->runtime), ua + at, end - at);
            } else if (name_len == 10 && memcmp(ua + at, "discord.js", 10) == 0) {
                sanitize_copy(r->library, sizeof(r->library), ua + at, name_len);
                sanitize_copy(r->library_version, sizeof(r->library_version), slash + 1,
                              end - at - name_len - 1);
            }
        }
        at = end;
    }
}

/* Transport compression and encoding from the gateway URL's query. */
static void parse_gateway_query(struct conn *c, const char *target, size_t len)
{
    const char *q = memchr(target, '?', len);

    c->transport_mode = ZS_NONE;
    if (q == NULL)
        return;
    size_t n = len - (size_t)(q - target);
    if (memmem(q, n, "compress=zlib-stream", 20) != NULL)
        c->transport_mode = ZS_ZLIB_STREAM;
    else if (memmem(q, n, "compress=zstd-stream", 20) != NULL)
        c->transport_mode = ZS_ZSTD_STREAM;
    c->etf = memmem(q, n, "encoding=etf", 12) != NULL;
}

static bool route_is(const struct ev_rest *r, const char *route)
{
    return strcmp(r->route, route) == 0;
}

static bool route_ends_with(const struct ev_rest *r, const char *tail)
{
    size_t a = strlen(r->route), b = strlen(tail);

    return a >= b && memcmp(r->route + a - b, tail, b) == 0;
}

static bool head_is_json(const struct http_parser *p)
{
    const char *v;
    size_t n;

    return http_head_get(p, "content-type", &v, &n) && n >= 16 &&
           strncasecmp(v, "application/json", 16) == 0;
}

static void request_head(struct stream_table *t, struct conn *c)
{
    struct http_parser *p = c->req;
    const char *target = http_head_str(p, p->target);
    struct pending *pe;
    const char *v;
    size_t n;

    if (c->n_pending == STREAM_MAX_PENDING) {
        abandon(t, c, "http", "too_many_pending_requests");
        return;
    }
    pe = &c->pending[c->n_pending++];
    memset(pe, 0, sizeof(*pe));
    sanitize_copy(pe->ev.method, sizeof(pe->ev.method), http_head_str(p, p->method), p->method.len);
    route_parse(pe->ev.method, target, p->target.len, &pe->ev);
    pe->ev.request_ns = c->req_start_ns;
    pe->ev.reset_after_s = -1;
    pe->ev.retry_after_s = -1;
    pe->ev.callback_type = -1;
    pe->ev.commands_synced = -1;
    if (http_head_get(p, "user-agent", &v, &n))
        parse_user_agent(v, n, &pe->ev);
    if (http_head_has_token(p, "upgrade", "websocket")) {
        pe->is_upgrade = true;
        parse_gateway_query(c, target, p->target.len);
    } else {
        announce_kind(t, c, CONN_KIND_REST); /* a gateway shows itself at its 101 */
    }
    if (strcmp(pe->ev.method, "HEAD") == 0 && c->resp != NULL)
        c->resp->next_response_bodiless = true;

    c->req_use = BODY_NONE;
    if (head_is_json(p)) {
        if (strcmp(pe->ev.method, "POST") == 0 && route_ends_with(&pe->ev, "/callback"))
            c->req_use = BODY_CALLBACK;
        else if (strcmp(pe->ev.method, "POST") == 0 &&
                 route_is(&pe->ev, "/channels/{channel_id}/messages"))
            c->req_use = BODY_MESSAGE;
    }
    if (c->req_use != BODY_NONE &&
        http_body_init(&c->req_body, HTTP_ENC_IDENTITY, STREAM_BODY_CAP, STREAM_BODY_CAP) < 0)
        c->req_use = BODY_NONE;
    /* The head held the Authorization header and any token in the path:
     * everything needed is now in the pending exchange. */
    explicit_bzero(p->head, p->head_len);
}

static void request_done(struct conn *c)
{
    struct pending *pe;
    struct jscan_span v, sv;
    int64_t x;

    if (c->req_use == BODY_NONE)
        goto out;
    /* The newest pending exchange is this request's, unless its response
     * already completed it (a server may answer before the body ends). */
    if (c->n_pending == 0)
        goto out;
    pe = &c->pending[c->n_pending - 1];
    const char *b = (const char *)c->req_body.buf;
    size_t n = c->req_body.len;
    if (c->req_use == BODY_CALLBACK) {
        if (jscan_find(b, n, "type", &v) == 1 && jscan_i64(&v, &x) == 0 && x >= 0 && x < 256)
            pe->ev.callback_type = (int)x;
    } else if (c->req_use == BODY_MESSAGE) {
        uint64_t id;
        if (jscan_find(b, n, "message_reference", &v) == 1 &&
            jscan_find(v.p, v.len, "message_id", &sv) == 1 && jscan_u64(&sv, &id) == 0)
            pe->ev.ref_message_id = id;
    }
out:
    /* Message bodies are user content. */
    if (c->req_body.buf != NULL)
        explicit_bzero(c->req_body.buf, c->req_body.len);
    http_body_fini(&c->req_body);
    c->req_use = BODY_NONE;
}

static void feed_request(struct stream_table *t, struct conn *c, const uint8_t *buf, size_t len)
{
    size_t used;
    struct http_slice body;

    if (c->req == NULL) {
        c->req = calloc(1, sizeof(*c->req));
        c->resp = calloc(1, sizeof(*c->resp));
        if (c->req == NULL || c->resp == NULL) {
            abandon(t, c, "http", "out_of_memory");
            return;
        }
        c->req->kind = HTTP_REQUEST;
        c->resp->kind = HTTP_RESPONSE;
    }
    while (len > 0 && !c->dead) {
        if (c->req->state == HTTP_S_HEAD && c->req->head_len == 0)
            c->req_start_ns = t->now_ns;
        enum http_status st = http_parse(c->req, buf, len, &used, &body);
        buf += used;
        len -= used;
        switch (st) {
        case HTTP_HEAD_DONE:
            request_head(t, c);
            break;
        case HTTP_BODY:
            if (c->req_use != BODY_NONE)
                http_body_feed(&c->req_body, body.data, body.len);
            break;
        case HTTP_MESSAGE_DONE:
            request_done(c);
            break;
        case HTTP_ERROR:
            abandon(t, c, "http", c->req->error);
            break;
        case HTTP_NEED_MORE:
        case HTTP_UPGRADED:
            break;
        }
    }
    /* A request whose body is empty completes without more input. */
    if (!c->dead && c->req->state == HTTP_S_BODY_LENGTH && c->req->body_left == 0) {
        http_parse(c->req, buf, 0, &used, &body);
        request_done(c);
    }
}

static void response_head(struct stream_table *t, struct conn *c)
{
    struct http_parser *p = c->resp;
    struct ev_rest *r;
    const char *v;
    size_t n;
    int64_t remaining = 0;

    if (p->status >= 100 && p->status < 200 && p->status != 101)
        return;
    if (c->n_pending == 0) {
        abandon(t, c, "http", "response_without_request");
        return;
    }
    r = &c->pending[0].ev;
    r->status = p->status;
    r->response_ns = t->now_ns;
    if (http_head_get(p, "x-ratelimit-bucket", &v, &n))
        sanitize_copy(r->bucket, sizeof(r->bucket), v, n);
    if (http_head_get(p, "x-ratelimit-remaining", &v, &n) && n > 0 && n < 12) {
        r->has_remaining = true;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9') {
                r->has_remaining = false;
                break;
            }
            remaining = remaining * 10 + (v[i] - '0');
        }
        r->remaining = remaining;
    }
    r->reset_after_s = header_double(p, "x-ratelimit-reset-after", -1);
    r->retry_after_s = header_double(p, "retry-after", -1);
    if (http_head_get(p, "x-ratelimit-scope", &v, &n))
        sanitize_copy(r->scope, sizeof(r->scope), v, n);
    r->global =
        http_head_get(p, "x-ratelimit-global", &v, &n) && n == 4 && strncasecmp(v, "true", 4) == 0;

    c->resp_use = BODY_NONE;
    if (p->status >= 400 && head_is_json(p))
        c->resp_use = BODY_ERROR;
    else if (p->status >= 200 && p->status < 300 && strcmp(r->method, "PUT") == 0 &&
             route_ends_with(r, "/commands"))
        c->resp_use = BODY_COMMAND_SYNC;
    if (c->resp_use != BODY_NONE &&
        http_body_init(&c->resp_body, http_head_encoding(p), STREAM_BODY_CAP, t->max_message) < 0)
        c->resp_use = BODY_NONE;
}

static void response_done(struct stream_table *t, struct conn *c)
{
    struct argus_event ev;
    struct jscan_span v;
    int64_t code;

    if (c->n_pending == 0)
        return;
    struct ev_rest *r = &c->pending[0].ev;
    if (c->resp_use == BODY_ERROR && !c->resp_body.failed &&
        jscan_find((const char *)c->resp_body.buf, c->resp_body.len, "code", &v) == 1 &&
        jscan_i64(&v, &code) == 0 && code > 0 && code <= INT32_MAX)
        r->discord_error_code = (int)code;
    if (c->resp_use == BODY_COMMAND_SYNC && !c->resp_body.failed && c->resp_body.array.done &&
        !c->resp_body.array.error)
        r->commands_synced =
            (int)(c->resp_body.array.count > INT32_MAX ? INT32_MAX : c->resp_body.array.count);
    http_body_fini(&c->resp_body);
    c->resp_use = BODY_NONE;

    announce_kind(t, c, CONN_KIND_REST);
    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_REST;
    ev.u.rest = *r;
    emit(t, c, &ev);
    memmove(&c->pending[0], &c->pending[1], (c->n_pending - 1) * sizeof(c->pending[0]));
    c->n_pending--;
}

static void upgrade(struct stream_table *t, struct conn *c);
static void feed_ws(struct stream_table *t, struct conn *c, enum ev_dir dir, const uint8_t *buf,
                    size_t len);

static void feed_response(struct stream_table *t, struct conn *c, const uint8_t *buf, size_t len)
{
    size_t used;
    struct http_slice body;

    if (c->resp == NULL) {
        abandon(t, c, "http", "response_before_request");
        return;
    }
    while (len > 0 && !c->dead) {
        enum http_status st = http_parse(c->resp, buf, len, &used, &body);
        buf += used;
        len -= used;
        switch (st) {
        case HTTP_HEAD_DONE:
            if (c->resp->status == 101) {
                upgrade(t, c);
                if (!c->dead)
                    feed_ws(t, c, EV_DIR_IN, buf, len);
                return;
            }
            response_head(t, c);
            break;
        case HTTP_BODY:
            if (c->resp_use != BODY_NONE)
                http_body_feed(&c->resp_body, body.data, body.len);
            break;
        case HTTP_MESSAGE_DONE:
            response_done(t, c);
            break;
        case HTTP_ERROR:
            abandon(t, c, "http", c->resp->error);
            break;
        case HTTP_NEED_MORE:
        case HTTP_UPGRADED:
            break;
        }
    }
    /* A bodiless response (204, or Content-Length: 0) ends with its head. */
    if (!c->dead && c->resp->state == HTTP_S_BODY_LENGTH && c->resp->body_left == 0) {
        http_parse(c->resp, buf, 0, &used, &body);
        response_done(t, c);
    }
}

/* ---- WebSocket and gateway ---- */

static struct stream_dir *dir_create(void)
{
    return calloc(1, sizeof(struct stream_dir));
}

/* The 101 arrived: set up both directions from the negotiated extensions. */
static void upgrade(struct stream_table *t, struct conn *c)
{
    const char *v;
    size_t n;
    bool pmd = false, server_nct = false, client_nct = false;
    int rc = 0;

    if (c->n_pending == 0 || !c->pending[0].is_upgrade) {
        abandon(t, c, "http", "unexpected_101");
        return;
    }
    if (http_head_get(c->resp, "sec-websocket-extensions", &v, &n)) {
        pmd = memmem(v, n, "permessage-deflate", 18) != NULL;
        server_nct = memmem(v, n, "server_no_context_takeover", 26) != NULL;
        client_nct = memmem(v, n, "client_no_context_takeover", 26) != NULL;
    }
    c->n_pending = 0;
    c->upgraded = true;
    free_http(c);
    for (int d = 0; d < 2 && rc == 0; d++) {
        c->dir[d] = dir_create();
        if (c->dir[d] == NULL) {
            rc = -ENOMEM;
            break;
        }
        c->dir[d]->ws.allow_rsv1 = pmd;
        if (pmd)
            rc = zs_init(&c->dir[d]->pmd, ZS_PMD, d == EV_DIR_IN ? server_nct : client_nct);
    }
    if (rc == 0 && c->transport_mode != ZS_NONE)
        rc = zs_init(&c->dir[EV_DIR_IN]->transport, c->transport_mode, false);
    else if (rc == 0)
        rc = zs_init(&c->dir[EV_DIR_IN]->transport, ZS_ZLIB_MESSAGE, false);
    if (rc < 0) {
        abandon(t, c, "ws", "out_of_memory");
        return;
    }
    announce_kind(t, c, c->ignored ? CONN_KIND_UNKNOWN : CONN_KIND_GATEWAY);
    if (c->etf) {
        argus_log_debug("conn %llu: gateway uses encoding=etf, which Argus does not decode; "
                        "its events are not counted",
                        (unsigned long long)c->id);
        abandon(t, c, "gateway", "etf");
    }
}

struct msg_sink {
    struct stream_table *t;
    struct stream_dir *d;
    bool transport; /* pass through the transport decompressor */
};

static int msg_append(void *arg, const uint8_t *data, size_t len)
{
    struct msg_sink *s = arg;
    struct stream_dir *d = s->d;

    if (d->msg_truncated || len == 0)
        return 0;
    if (d->msg_len + len > s->t->max_message) {
        /* Keep the prefix; the stream is still decoded, the rest dropped. */
        len = s->t->max_message - d->msg_len;
        d->msg_truncated = true;
    }
    if (d->msg_len + len > d->msg_alloc) {
        size_t want = d->msg_alloc > 0 ? d->msg_alloc : STREAM_MSG_INITIAL;
        while (want < d->msg_len + len)
            want *= 2;
        if (want > s->t->max_message)
            want = s->t->max_message;
        /* Not realloc(): the block it releases would keep the message so
         * far, which may hold a token (see gateway_message). */
        uint8_t *grown = malloc(want);
        if (grown == NULL) {
            d->msg_truncated = true;
            return 0;
        }
        if (d->msg != NULL) {
            memcpy(grown, d->msg, d->msg_len);
            explicit_bzero(d->msg, d->msg_len);
            free(d->msg);
        }
        d->msg = grown;
        d->msg_alloc = want;
    }
    memcpy(d->msg + d->msg_len, data, len);
    d->msg_len += len;
    return 0;
}

/* Output of permessage-deflate: on to the transport stage or the buffer. */
static int pmd_out(void *arg, const uint8_t *data, size_t len)
{
    struct msg_sink *s = arg;

    if (!s->transport)
        return msg_append(arg, data, len);
    return zs_feed(&s->d->transport, data, len, msg_append, arg) == ZS_ERROR ? -1 : 0;
}

static const char *const stream_zs_reason[] = {
    [ZS_ZLIB_STREAM] = "corrupt_zlib_stream",
    [ZS_ZSTD_STREAM] = "corrupt_zstd_stream",
    [ZS_ZLIB_MESSAGE] = "corrupt_zlib_payload",
    [ZS_PMD] = "corrupt_permessage_deflate",
};

static void message_payload(struct stream_table *t, struct conn *c, struct stream_dir *d,
                            const uint8_t *data, size_t len)
{
    struct msg_sink sink = {t, d, d->msg_binary && d->transport.mode != ZS_NONE};
    enum zs_status st;
    struct zs *failed;

    if (d->ws.frame.msg_compressed) {
        st = zs_feed(&d->pmd, data, len, pmd_out, &sink);
        failed = st == ZS_STOPPED ? &d->transport : &d->pmd;
    } else if (sink.transport) {
        st = zs_feed(&d->transport, data, len, msg_append, &sink);
        failed = &d->transport;
    } else {
        st = ZS_OK;
        msg_append(&sink, data, len);
        failed = NULL;
    }
    if (st == ZS_ERROR || st == ZS_STOPPED)
        abandon(t, c, "inflate", stream_zs_reason[failed->mode]);
}

static void gateway_message(struct stream_table *t, struct conn *c, enum ev_dir dir,
                            struct stream_dir *d)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    if (c->ignored)
        goto out;
    switch (gw_parse((const char *)d->msg, d->msg_len, dir, &t->gw_opts, &ev.u.gw)) {
    case GW_OK:
        ev.kind = dir == EV_DIR_IN ? EV_GW_RECV : EV_GW_SEND;
        emit(t, c, &ev);
        break;
    case GW_ETF:
        argus_log_debug("conn %llu: gateway payload is ETF (0x83), which Argus does not decode",
                        (unsigned long long)c->id);
        abandon(t, c, "gateway", "etf");
        return;
    case GW_MALFORMED:
        emit_decode_error(t, c, "gateway", d->msg_truncated ? "message_too_large" : "malformed");
        break;
    }
out:
    /* Outbound payloads carry the bot token (IDENTIFY, RESUME), inbound
     * ones interaction tokens and content: none outlives its parse. */
    if (d->msg != NULL && (dir == EV_DIR_OUT || strcmp(ev.u.gw.t, "INTERACTION_CREATE") == 0))
        explicit_bzero(d->msg, d->msg_len);
    d->msg_len = 0;
    d->msg_truncated = false;
}

static void message_end(struct stream_table *t, struct conn *c, enum ev_dir dir,
                        struct stream_dir *d)
{
    struct msg_sink sink = {t, d, d->msg_binary && d->transport.mode != ZS_NONE};
    enum zs_status st = ZS_COMPLETE;

    if (d->ws.frame.msg_compressed) {
        st = zs_end_message(&d->pmd, pmd_out, &sink);
        if (st == ZS_ERROR || st == ZS_STOPPED) {
            abandon(t, c, "inflate", stream_zs_reason[ZS_PMD]);
            return;
        }
        st = ZS_COMPLETE;
    }
    if (sink.transport)
        st = zs_end_message(&d->transport, msg_append, &sink);
    if (st == ZS_ERROR || st == ZS_STOPPED) {
        abandon(t, c, "inflate", stream_zs_reason[d->transport.mode]);
        return;
    }
    if (st == ZS_COMPLETE)
        gateway_message(t, c, dir, d);
}

static void control_frame(struct stream_table *t, struct conn *c, enum ev_dir dir,
                          struct stream_dir *d)
{
    struct argus_event ev;

    if (d->ws.frame.opcode != WS_OP_CLOSE)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_WS_CLOSE;
    /* RFC 6455 §7.1.5: no status code in the frame means 1005. */
    ev.u.close.code = d->ctl_len >= 2 ? d->ctl[0] << 8 | d->ctl[1] : 1005;
    ev.u.close.direction = dir;
    if (c->close_code == 0) {
        c->close_code = ev.u.close.code;
        c->close_dir = dir;
    }
    if (!c->ignored)
        emit(t, c, &ev);
}

static void feed_ws(struct stream_table *t, struct conn *c, enum ev_dir dir, const uint8_t *buf,
                    size_t len)
{
    struct stream_dir *d = c->dir[dir];
    uint8_t plain[STREAM_UNMASK_CHUNK];
    struct ws_chunk chunk;
    size_t used;

    while (!c->dead) {
        enum ws_status st = ws_decode(&d->ws, buf, len, &used, &chunk);
        buf += used;
        len -= used;
        const struct ws_frame *f = &d->ws.frame;
        bool control = f->opcode >= WS_OP_CLOSE;
        switch (st) {
        case WS_NEED_MORE:
            return;
        case WS_FRAME_START:
            if (control)
                d->ctl_len = 0;
            else if (f->opcode != WS_OP_CONTINUATION)
                d->msg_binary = f->opcode == WS_OP_BINARY;
            break;
        case WS_PAYLOAD:
            for (size_t at = 0; at < chunk.len && !c->dead;) {
                struct ws_chunk piece = {chunk.data + at, chunk.len - at, chunk.offset + at};
                if (piece.len > sizeof(plain))
                    piece.len = sizeof(plain);
                ws_unmask(f, &piece, plain);
                if (control) {
                    memcpy(d->ctl + d->ctl_len, plain, piece.len);
                    d->ctl_len += (uint8_t)piece.len;
                } else {
                    message_payload(t, c, d, plain, piece.len);
                }
                at += piece.len;
            }
            explicit_bzero(plain, sizeof(plain));
            break;
        case WS_FRAME_END:
            if (control)
                control_frame(t, c, dir, d);
            else if (f->fin)
                message_end(t, c, dir, d);
            break;
        case WS_ERROR:
            abandon(t, c, "ws", d->ws.error);
            return;
        }
    }
}

/* ---- records ---- */

/* Bytes of this connection were lost. A WebSocket connection cannot resume
 * (a compressed stream has no sync points), so it is abandoned. HTTP has a
 * boundary we can find: clients write each request head at the start of a
 * write (discord-wire.md §9), so decoding resumes at the first write that
 * starts with a request line; the exchanges in flight are dropped. */
static void gap(struct stream_table *t, struct conn *c)
{
    if (c->dead)
        return;
    if (c->upgraded) {
        abandon(t, c, "capture", "gap");
        return;
    }
    emit_decode_error(t, c, "capture", "gap");
    free_http(c);
    c->n_pending = 0;
    c->resync = true;
}

static bool starts_request_line(const uint8_t *p, size_t len)
{
    static const char *const methods[] = {"GET ",    "POST ", "PUT ",    "PATCH ",
                                          "DELETE ", "HEAD ", "OPTIONS "};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        size_t n = strlen(methods[i]);
        if (len > n && memcmp(p, methods[i], n) == 0 && (p[n] == '/' || p[n] == 'h'))
            return true;
    }
    return false;
}

/* While resynchronising: true when this record is the boundary. */
static bool resync_at(struct conn *c, const struct ring_record *rec)
{
    if (rec->dir != RING_DIR_WRITE || !starts_request_line(rec->data, rec->len))
        return false;
    c->resync = false;
    return true;
}

static void feed_data(struct stream_table *t, struct conn *c, const struct ring_record *rec)
{
    enum ev_dir dir = rec->dir == RING_DIR_WRITE ? EV_DIR_OUT : EV_DIR_IN;

    if (c->upgraded)
        feed_ws(t, c, dir, rec->data, rec->len);
    else if (dir == EV_DIR_OUT)
        feed_request(t, c, rec->data, rec->len);
    else
        feed_response(t, c, rec->data, rec->len);
}

void stream_table_feed(struct stream_table *t, const struct ring_record *rec)
{
    struct conn *c = conn_find(t, rec->conn_id);

    t->now_ns = rec->t_ns;
    switch (rec->type) {
    case RING_OPEN:
        if (c != NULL) /* a reused id cannot happen; treat as a new connection */
            conn_close(t, c);
        c = conn_open(t, rec->conn_id);
        if (c != NULL && host_is_voice(rec->data, rec->len))
            c->ignored = true;
        return;
    case RING_CLOSE:
        if (c != NULL)
            conn_close(t, c);
        return;
    case RING_DATA:
        break;
    default:
        return;
    }
    if (c == NULL) {
        /* Data without an OPEN (the core started late): decode what we can. */
        c = conn_open(t, rec->conn_id);
        if (c == NULL)
            return;
    }
    c->last_t_ns = rec->t_ns;
    if ((rec->flags & RING_F_GAP) != 0)
        gap(t, c);
    if (c->dead || rec->len == 0)
        return;
    if (c->resync && !resync_at(c, rec))
        return;
    feed_data(t, c, rec);
}

struct stream_table *stream_table_create(const struct argus_config *cfg, argus_event_fn cb,
                                         void *arg)
{
    struct stream_table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        goto out;
    t->cb = cb;
    t->arg = arg;
    t->max_conns = cfg->max_connections > 0 ? cfg->max_connections : 64;
    t->max_message =
        cfg->max_message_bytes > 0 ? cfg->max_message_bytes : STREAM_DEFAULT_MAX_MESSAGE;
    gw_opts_init(&t->gw_opts, &cfg->prefixes);
    t->conns = calloc(t->max_conns, sizeof(*t->conns));
    if (t->conns == NULL) {
        stream_table_destroy(t);
        t = NULL;
    }
out:
    return t;
}

void stream_table_destroy(struct stream_table *t)
{
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < t->n_conns; i++)
        conn_free(t->conns[i]);
    free(t->conns);
    free(t);
}
