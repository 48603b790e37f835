/*
 * rest.c - requests and responses of one connection paired into exchanges.
 *
 * Design. The two directions arrive as separate records, so each has its
 * own resumable parser, and this file keeps what connects them: the FIFO of
 * requests waiting for a response. A request's facts (method, route
 * template, User-Agent, body fields) are copied into its pending exchange
 * as soon as its head is parsed, and the head is wiped right then, since it
 * holds the Authorization header; the response fills in the status, the
 * rate-limit headers and the error code, and completes the oldest exchange.
 *
 * Only bodies whose content matters are decoded (enum rest_body_use), each
 * into a capped buffer (http_body.h); every other body is framed and
 * skipped without a copy.
 */
#include "rest.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"

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

/* The "DiscordBot (URL, version)" that Discord asks every bot to send:
 * the library is the URL's last path segment. Returns the offset after the
 * parenthesis (0 when the agent does not start that way). */
static size_t parse_discordbot(const char *ua, size_t len, struct ev_rest *ex)
{
    static const char db[] = "DiscordBot (";
    const size_t url = sizeof(db) - 1;

    if (len <= url || memcmp(ua, db, url) != 0)
        return 0;
    const char *close = memchr(ua, ')', len);
    size_t in_end = close != NULL ? (size_t)(close - ua) : len;
    size_t url_end = url;
    while (url_end < in_end && ua[url_end] != ' ' && ua[url_end] != ',')
        url_end++;
    size_t base = url_end;
    while (base > url && ua[base - 1] != '/')
        base--;
    sanitize_copy(ex->library, sizeof(ex->library), ua + base, url_end - base);
    size_t v = url_end;
    while (v < in_end && (ua[v] == ' ' || ua[v] == ','))
        v++;
    sanitize_copy(ex->library_version, sizeof(ex->library_version), ua + v, in_end - v);
    return in_end < len ? in_end + 1 : len;
}

/* One "name/version" product token: the runtime, or discord.js, whose
 * own token names the library better than its DiscordBot part does. */
static void parse_product(const char *tok, size_t len, struct ev_rest *ex)
{
    const char *slash = memchr(tok, '/', len);

    if (slash == NULL)
        return;
    size_t name_len = (size_t)(slash - tok);
    if ((name_len == 6 && memcmp(tok, "Python", 6) == 0) ||
        (name_len == 7 && memcmp(tok, "Node.js", 7) == 0)) {
        sanitize_copy(ex->runtime, sizeof(ex->runtime), tok, len);
    } else if (name_len == 10 && memcmp(tok, "discord.js", 10) == 0) {
        sanitize_copy(ex->library, sizeof(ex->library), tok, name_len);
        sanitize_copy(ex->library_version, sizeof(ex->library_version), slash + 1,
                      len - name_len - 1);
    }
}

/* "DiscordBot (https://github.com/Rapptz/discord.py 2.2.2) Python/3.11
 * aiohttp/3.8.4" or "DiscordBot (https://discord.js.org, 2.6.3)
 * discord.js/14.28.1 Node.js/v20.11.1": library, version and runtime. */
static void parse_user_agent(const char *ua, size_t len, struct ev_rest *ex)
{
    size_t at = parse_discordbot(ua, len, ex);

    while (at < len) {
        while (at < len && ua[at] == ' ')
            at++;
        size_t end = at;
        while (end < len && ua[end] != ' ')
            end++;
        parse_product(ua + at, end - at, ex);
        at = end;
    }
}

/* Transport compression and encoding from the gateway URL's query. */
static void parse_gateway_query(struct rest_upgrade *u, const char *target, size_t len)
{
    const char *q = memchr(target, '?', len);

    u->transport = ZS_NONE;
    if (q == NULL)
        return;
    size_t n = len - (size_t)(q - target);
    if (memmem(q, n, "compress=zlib-stream", 20) != NULL)
        u->transport = ZS_ZLIB_STREAM;
    else if (memmem(q, n, "compress=zstd-stream", 20) != NULL)
        u->transport = ZS_ZSTD_STREAM;
    u->etf = memmem(q, n, "encoding=etf", 12) != NULL;
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

static enum rest_status fail(struct rest *r, const char *why)
{
    r->error = why;
    return REST_ERROR;
}

void rest_init(struct rest *r, uint64_t max_body)
{
    memset(r, 0, sizeof(*r));
    r->max_body = max_body;
}

void rest_fini(struct rest *r)
{
    /* A head or body cut short (close, gap, parse error) never reached the
     * wipes in request_head()/request_done(), yet it may hold the
     * Authorization header or message content. */
    if (r->req != NULL)
        explicit_bzero(r->req->head, r->req->head_len);
    if (r->req_body.buf != NULL)
        explicit_bzero(r->req_body.buf, r->req_body.len);
    free(r->req);
    free(r->resp);
    r->req = r->resp = NULL;
    http_body_fini(&r->req_body);
    http_body_fini(&r->resp_body);
    r->req_use = r->resp_use = REST_BODY_NONE;
    r->n_pending = 0;
}

/* ---- requests ---- */

/* Which request body to decode, from the request's route. */
static enum rest_body_use request_body_use(const struct http_parser *p, const struct ev_rest *ex)
{
    if (!head_is_json(p) || strcmp(ex->method, "POST") != 0)
        return REST_BODY_NONE;
    if (route_ends_with(ex, "/callback"))
        return REST_BODY_CALLBACK;
    if (route_is(ex, "/channels/{channel_id}/messages"))
        return REST_BODY_MESSAGE;
    return REST_BODY_NONE;
}

/* A request head: a new pending exchange. Returns REST_REQUEST, or
 * REST_NEED_MORE for an upgrade request (the 101 will tell), or an error. */
static enum rest_status request_head(struct rest *r)
{
    struct http_parser *p = r->req;
    const char *target = http_head_str(p, p->target);
    struct rest_pending *pe;
    const char *v;
    size_t n;

    if (r->n_pending == REST_MAX_PENDING)
        return fail(r, "too_many_pending_requests");
    pe = &r->pending[r->n_pending++];
    memset(pe, 0, sizeof(*pe));
    sanitize_copy(pe->ev.method, sizeof(pe->ev.method), http_head_str(p, p->method), p->method.len);
    route_parse(pe->ev.method, target, p->target.len, &pe->ev);
    pe->ev.request_ns = r->req_start_ns;
    pe->ev.reset_after_s = -1;
    pe->ev.retry_after_s = -1;
    pe->ev.callback_type = -1;
    pe->ev.commands_synced = -1;
    pe->ev.shards_recommended = -1;
    pe->ev.session_starts_total = -1;
    pe->ev.session_starts_remaining = -1;
    if (http_head_get(p, "user-agent", &v, &n))
        parse_user_agent(v, n, &pe->ev);
    pe->is_upgrade = http_head_has_token(p, "upgrade", "websocket");
    if (pe->is_upgrade)
        parse_gateway_query(&r->upgrade, target, p->target.len);
    if (strcmp(pe->ev.method, "HEAD") == 0)
        r->resp->next_response_bodiless = true;
    r->req_use = request_body_use(p, &pe->ev);
    if (r->req_use != REST_BODY_NONE &&
        http_body_init(&r->req_body, HTTP_ENC_IDENTITY, REST_BODY_CAP, r->max_body) < 0)
        r->req_use = REST_BODY_NONE;
    /* The head held the Authorization header and any token in the path:
     * everything needed is now in the pending exchange. */
    explicit_bzero(p->head, p->head_len);
    /* A gateway shows itself at its 101. */
    return pe->is_upgrade ? REST_NEED_MORE : REST_REQUEST;
}

/* The request's body ended: its fields go to its exchange. */
static void request_done(struct rest *r)
{
    struct rest_pending *pe;
    struct jscan_span v, sv;
    int64_t x;

    if (r->req_use == REST_BODY_NONE)
        goto out;
    /* The newest pending exchange is this request's, unless its response
     * already completed it (a server may answer before the body ends). */
    if (r->n_pending == 0)
        goto out;
    pe = &r->pending[r->n_pending - 1];
    const char *b = (const char *)r->req_body.buf;
    size_t n = r->req_body.len;
    if (r->req_use == REST_BODY_CALLBACK) {
        if (jscan_find(b, n, "type", &v) == 1 && jscan_i64(&v, &x) == 0 && x >= 0 && x < 256)
            pe->ev.callback_type = (int)x;
    } else if (r->req_use == REST_BODY_MESSAGE) {
        uint64_t id;
        if (jscan_find(b, n, "message_reference", &v) == 1 &&
            jscan_find(v.p, v.len, "message_id", &sv) == 1 && jscan_u64(&sv, &id) == 0)
            pe->ev.ref_message_id = id;
    }
out:
    /* Message bodies are user content. */
    if (r->req_body.buf != NULL)
        explicit_bzero(r->req_body.buf, r->req_body.len);
    http_body_fini(&r->req_body);
    r->req_use = REST_BODY_NONE;
}

static int parsers_create(struct rest *r)
{
    r->req = malloc(sizeof(*r->req));
    r->resp = malloc(sizeof(*r->resp));
    if (r->req == NULL || r->resp == NULL) {
        free(r->req);
        free(r->resp);
        r->req = r->resp = NULL;
        return -1;
    }
    http_parser_init(r->req, HTTP_REQUEST);
    http_parser_init(r->resp, HTTP_RESPONSE);
    return 0;
}

/* ---- responses ---- */

/* X-RateLimit-Remaining and -Limit: whole numbers of at most 11 digits. */
static bool parse_count_header(const struct http_parser *p, const char *name, int64_t *out)
{
    const char *v;
    size_t n;
    int64_t x = 0;

    if (!http_head_get(p, name, &v, &n) || n == 0 || n >= 12)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* Rate-limit headers (discord-wire.md §7) into the exchange. */
static void parse_ratelimit(const struct http_parser *p, struct ev_rest *ex)
{
    const char *v;
    size_t n;

    if (http_head_get(p, "x-ratelimit-bucket", &v, &n))
        sanitize_copy(ex->bucket, sizeof(ex->bucket), v, n);
    ex->has_remaining = parse_count_header(p, "x-ratelimit-remaining", &ex->remaining);
    ex->has_limit = parse_count_header(p, "x-ratelimit-limit", &ex->limit);
    ex->reset_after_s = header_double(p, "x-ratelimit-reset-after", -1);
    ex->retry_after_s = header_double(p, "retry-after", -1);
    if (http_head_get(p, "x-ratelimit-scope", &v, &n))
        sanitize_copy(ex->scope, sizeof(ex->scope), v, n);
    ex->global =
        http_head_get(p, "x-ratelimit-global", &v, &n) && n == 4 && strncasecmp(v, "true", 4) == 0;
}

/* Which response body to decode, from its status and its request. */
static enum rest_body_use response_body_use(const struct http_parser *p, const struct ev_rest *ex)
{
    if (p->status >= 400 && head_is_json(p))
        return REST_BODY_ERROR;
    if (p->status >= 200 && p->status < 300 && strcmp(ex->method, "GET") == 0 &&
        route_is(ex, "/gateway/bot") && head_is_json(p))
        return REST_BODY_GATEWAY_BOT;
    if (p->status >= 200 && p->status < 300 && strcmp(ex->method, "PUT") == 0 &&
        route_ends_with(ex, "/commands"))
        return REST_BODY_COMMAND_SYNC;
    return REST_BODY_NONE;
}

/* A response head (not a 101): it answers the oldest pending exchange.
 * Returns REST_NEED_MORE to go on, or an error. */
static enum rest_status response_head(struct rest *r, uint64_t now_ns)
{
    struct http_parser *p = r->resp;
    struct ev_rest *ex;
    const char *ct;
    size_t ct_len;

    if (p->status >= 100 && p->status < 200)
        return REST_NEED_MORE; /* interim: the final response follows */
    if (r->n_pending == 0)
        return fail(r, "response_without_request");
    ex = &r->pending[0].ev;
    ex->status = p->status;
    ex->response_ns = now_ns;
    parse_ratelimit(p, ex);
    ex->body_foreign = !head_is_json(p) && http_head_get(p, "content-type", &ct, &ct_len);
    r->resp_use = response_body_use(p, ex);
    if (r->resp_use != REST_BODY_NONE &&
        http_body_init(&r->resp_body, http_head_encoding(p), REST_BODY_CAP, r->max_body) < 0)
        r->resp_use = REST_BODY_NONE;
    return REST_NEED_MORE;
}

static void pop_pending(struct rest *r)
{
    memmove(&r->pending[0], &r->pending[1], (r->n_pending - 1) * sizeof(r->pending[0]));
    r->n_pending--;
}

/* GET /gateway/bot: {"url", "shards", "session_start_limit": {"total",
 * "remaining", "reset_after", "max_concurrency"}} (discord-wire.md). A
 * field that is absent or not a count stays -1. */
static void parse_gateway_bot(const char *b, size_t n, struct ev_rest *ex)
{
    struct jscan_span v, limit;
    int64_t x;

    if (jscan_find(b, n, "shards", &v) == 1 && jscan_i64(&v, &x) == 0 && x >= 0)
        ex->shards_recommended = x;
    if (jscan_find(b, n, "session_start_limit", &limit) != 1)
        return;
    if (jscan_find(limit.p, limit.len, "total", &v) == 1 && jscan_i64(&v, &x) == 0 && x >= 0)
        ex->session_starts_total = x;
    if (jscan_find(limit.p, limit.len, "remaining", &v) == 1 && jscan_i64(&v, &x) == 0 && x >= 0)
        ex->session_starts_remaining = x;
}

/* The response ended: its body's fields complete the oldest exchange,
 * which goes to out. False if there was none, or it was cut. */
static bool response_done(struct rest *r, struct rest_out *out)
{
    const struct http_body *b = &r->resp_body;
    struct jscan_span v;
    int64_t code;

    if (r->n_pending == 0)
        return false;
    bool cut = r->pending[0].cut;
    struct ev_rest *ex = &r->pending[0].ev;
    if (r->resp_use == REST_BODY_ERROR && !b->failed &&
        jscan_find((const char *)b->buf, b->len, "code", &v) == 1 && jscan_i64(&v, &code) == 0 &&
        code > 0 && code <= INT32_MAX)
        ex->discord_error_code = (int)code;
    if (r->resp_use == REST_BODY_COMMAND_SYNC && !b->failed && b->array.done && !b->array.error)
        ex->commands_synced = (int)(b->array.count > INT32_MAX ? INT32_MAX : b->array.count);
    if (r->resp_use == REST_BODY_GATEWAY_BOT && !b->failed)
        parse_gateway_bot((const char *)b->buf, b->len, ex);
    http_body_fini(&r->resp_body);
    r->resp_use = REST_BODY_NONE;
    if (!cut)
        out->exchange = *ex;
    pop_pending(r);
    return !cut;
}

/* The 101: what the upgrade request asked for and the server agreed to. */
static enum rest_status upgrade(struct rest *r, struct rest_out *out)
{
    struct rest_upgrade *u = &out->upgrade;
    const char *v;
    size_t n;

    if (r->n_pending == 0 || !r->pending[0].is_upgrade)
        return fail(r, "unexpected_101");
    *u = r->upgrade;
    u->permessage_deflate = false;
    u->server_no_context_takeover = false;
    u->client_no_context_takeover = false;
    if (http_head_get(r->resp, "sec-websocket-extensions", &v, &n)) {
        u->permessage_deflate = memmem(v, n, "permessage-deflate", 18) != NULL;
        u->server_no_context_takeover = memmem(v, n, "server_no_context_takeover", 26) != NULL;
        u->client_no_context_takeover = memmem(v, n, "client_no_context_takeover", 26) != NULL;
    }
    return REST_UPGRADED;
}

/* Bytes of a body being decoded. Returns REST_TOO_LARGE once, when they
 * take it past max_body: its exchange is cut. The newest exchange is a
 * request body's (as in request_done), the oldest a response body's. */
static enum rest_status body_feed(struct rest *r, enum ev_dir dir, struct http_body *b,
                                  const struct http_slice *s)
{
    bool was_too_large = b->too_large;

    http_body_feed(b, s->data, s->len);
    if (was_too_large || !b->too_large)
        return REST_NEED_MORE;
    if (r->n_pending > 0)
        r->pending[dir == EV_DIR_OUT ? r->n_pending - 1 : 0].cut = true;
    return REST_TOO_LARGE;
}

/* A head was parsed: a request's, or a response's (which may be the 101). */
static enum rest_status head_done(struct rest *r, enum ev_dir dir, uint64_t now_ns,
                                  struct rest_out *out)
{
    if (dir == EV_DIR_OUT)
        return request_head(r);
    if (r->resp->status == 101)
        return upgrade(r, out);
    return response_head(r, now_ns);
}

/* A message ended: a request's body goes to its exchange, a response
 * completes one. */
static enum rest_status message_done(struct rest *r, enum ev_dir dir, struct rest_out *out)
{
    if (dir == EV_DIR_OUT) {
        request_done(r);
        return REST_NEED_MORE;
    }
    return response_done(r, out) ? REST_EXCHANGE : REST_NEED_MORE;
}

enum rest_status rest_feed(struct rest *r, enum ev_dir dir, const uint8_t *buf, size_t len,
                           uint64_t now_ns, size_t *consumed, struct rest_out *out)
{
    enum rest_status st = REST_NEED_MORE;
    struct http_slice body;
    size_t at = 0, used;

    if (dir == EV_DIR_OUT && r->req == NULL && parsers_create(r) < 0) {
        st = fail(r, "out_of_memory");
        goto out;
    }
    if (r->resp == NULL) {
        st = fail(r, "response_before_request");
        goto out;
    }
    struct http_parser *p = dir == EV_DIR_OUT ? r->req : r->resp;
    struct http_body *b = dir == EV_DIR_OUT ? &r->req_body : &r->resp_body;
    const enum rest_body_use *use = dir == EV_DIR_OUT ? &r->req_use : &r->resp_use;
    /* Runs with no input left too: a message without a body (a GET, a 204,
     * Content-Length: 0) ends with its head. */
    while (st == REST_NEED_MORE) {
        if (p->state == HTTP_S_HEAD && p->head_len == 0 && dir == EV_DIR_OUT)
            r->req_start_ns = now_ns;
        enum http_status hs = http_parse(p, buf + at, len - at, &used, &body);
        at += used;
        switch (hs) {
        case HTTP_HEAD_DONE:
            st = head_done(r, dir, now_ns, out);
            break;
        case HTTP_BODY:
            if (*use != REST_BODY_NONE)
                st = body_feed(r, dir, b, &body);
            break;
        case HTTP_MESSAGE_DONE:
            st = message_done(r, dir, out);
            break;
        case HTTP_ERROR:
            st = fail(r, p->error);
            break;
        case HTTP_NEED_MORE:
        case HTTP_UPGRADED:
            goto out;
        }
    }
out:
    *consumed = at;
    return st;
}

enum rest_status rest_end(struct rest *r, struct rest_out *out)
{
    /* A response delimited by the connection's end is complete now. */
    if (r->resp != NULL && r->n_pending > 0 && http_parse_eof(r->resp) && response_done(r, out))
        return REST_EXCHANGE;
    /* Requests that never got a (complete) response end with status 0
     * unless their head arrived. */
    while (r->n_pending > 0) {
        struct rest_pending *pe = &r->pending[0];
        bool report = !pe->is_upgrade && !pe->cut;
        if (report)
            out->exchange = pe->ev;
        pop_pending(r);
        if (report)
            return REST_EXCHANGE;
    }
    return REST_NEED_MORE;
}

bool rest_is_request_start(const uint8_t *p, size_t len)
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
