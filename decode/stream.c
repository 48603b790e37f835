/*
 * stream.c - the connection table, and the glue from records to decoders.
 *
 * Design. Each ring record is one SSL_read or SSL_write: the bytes of one
 * direction of one connection, cut wherever TLS records happened to fall.
 * Every layer below is therefore a resumable decoder fed slices, and this
 * file only routes each slice to the right one and turns what they report
 * into events:
 *
 *   before the 101: rest_feed (rest.h: HTTP requests paired with responses)
 *                   -> EV_REST
 *   after the 101:  wsmsg_feed (wsmsg.h: frames, decompression, one message
 *                   buffer per direction) -> gw_parse -> EV_GW_RECV / SEND
 *
 * A decoder that reports an error has lost its place; this file decides
 * what that costs. A WebSocket connection cannot resume (a compressed
 * stream has no sync points), so it is abandoned. HTTP has a boundary to
 * resume at after lost bytes, the next request (rest_is_request_start).
 *
 * The connection table is a flat array scanned linearly, with a one-entry
 * cache for the common run of records from one connection: tables are small
 * (ARGUS_MAX_CONNECTIONS) and a hash would only pay off far beyond that.
 */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "rest.h"
#include "wsmsg.h"

#define STREAM_DEFAULT_MAX_MESSAGE (8u * 1024 * 1024)

/* One captured connection. Named apart from hooks/conn.h, the preload's
 * table of SSL* that gives each connection its id. */
struct stream_conn {
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
    struct rest rest;    /* until the 101 */
    struct wsmsg *ws[2]; /* after it: [EV_DIR_IN], [EV_DIR_OUT] */
};

struct stream_table {
    argus_event_fn cb;
    void *arg;
    struct gw_opts gw_opts;
    uint32_t max_conns;
    uint32_t max_message;
    struct stream_conn **conns;
    uint32_t n_conns;
    struct stream_conn *last;
    /* The record being fed: its time stamps every event it completes. */
    uint64_t now_ns;
};

/* ---- events ---- */

static void emit(struct stream_table *t, struct stream_conn *c, struct argus_event *ev)
{
    ev->conn_id = c->id;
    ev->conn_kind = c->kind;
    ev->t_ns = t->now_ns;
    t->cb(ev, t->arg);
}

static void emit_simple(struct stream_table *t, struct stream_conn *c, enum ev_kind kind)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    emit(t, c, &ev);
}

/* The one emitter of EV_DECODE_ERROR. */
static void emit_decode_error(struct stream_table *t, struct stream_conn *c, const char *stage,
                              const char *reason)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_DECODE_ERROR;
    ev.u.decode_error.stage = stage;
    ev.u.decode_error.reason = reason;
    emit(t, c, &ev);
}

static void emit_rest(struct stream_table *t, struct stream_conn *c, const struct ev_rest *ex)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_REST;
    ev.u.rest = *ex;
    emit(t, c, &ev);
}

static void announce_kind(struct stream_table *t, struct stream_conn *c, enum conn_kind kind)
{
    if (c->kind_announced)
        return;
    c->kind = kind;
    c->kind_announced = true;
    emit_simple(t, c, EV_CONN_KIND);
}

static void free_decoders(struct stream_conn *c)
{
    rest_fini(&c->rest);
    for (int i = 0; i < 2; i++) {
        wsmsg_destroy(c->ws[i]);
        c->ws[i] = NULL;
    }
}

/* Gives up on a connection: one decode error, then silence until close. */
static void abandon(struct stream_table *t, struct stream_conn *c, const char *stage,
                    const char *reason)
{
    if (c->dead)
        return;
    c->dead = true;
    emit_decode_error(t, c, stage, reason);
    argus_log_debug("conn %llu: %s decoding abandoned: %s", (unsigned long long)c->id, stage,
                    reason);
    free_decoders(c);
}

/* ---- connection table ---- */

static struct stream_conn *stream_conn_find(struct stream_table *t, uint64_t id)
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

static void stream_conn_free(struct stream_conn *c)
{
    if (c == NULL)
        return;
    free_decoders(c);
    free(c);
}

/* Finishes what the connection's end completes, says goodbye, frees it. */
static void stream_conn_close(struct stream_table *t, struct stream_conn *c)
{
    struct argus_event ev;
    struct rest_out out;

    while (rest_end(&c->rest, &out) == REST_EXCHANGE) {
        announce_kind(t, c, CONN_KIND_REST);
        emit_rest(t, c, &out.exchange);
    }
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
    stream_conn_free(c);
}

static bool host_is_voice(const uint8_t *host, size_t len)
{
    static const char suffix[] = ".discord.media";
    size_t n = sizeof(suffix) - 1;

    return len >= n && memcmp(host + len - n, suffix, n) == 0;
}

static struct stream_conn *stream_conn_open(struct stream_table *t, uint64_t id)
{
    struct stream_conn *c;

    if (t->n_conns == t->max_conns) {
        /* Evict the connection that has been quiet the longest. */
        struct stream_conn *victim = t->conns[0];
        for (uint32_t i = 1; i < t->n_conns; i++)
            if (t->conns[i]->last_t_ns < victim->last_t_ns)
                victim = t->conns[i];
        abandon(t, victim, "capture", "evicted");
        stream_conn_close(t, victim);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->id = id;
    c->last_t_ns = t->now_ns;
    rest_init(&c->rest, t->max_message);
    t->conns[t->n_conns++] = c;
    t->last = c;
    emit_simple(t, c, EV_CONN_OPEN);
    return c;
}

/* ---- WebSocket and gateway ---- */

static void gateway_message(struct stream_table *t, struct stream_conn *c, enum ev_dir dir,
                            const struct wsmsg_out *msg)
{
    struct argus_event ev;

    memset(&ev, 0, sizeof(ev));
    if (c->ignored)
        goto out;
    switch (gw_parse((const char *)msg->data, msg->len, dir, &t->gw_opts, &ev.u.gw)) {
    case GW_OK:
        ev.kind = dir == EV_DIR_IN ? EV_GW_RECV : EV_GW_SEND;
        emit(t, c, &ev);
        break;
    case GW_ETF:
        argus_log_debug("conn %llu: gateway payload is ETF (0x83), which Argus does not decode",
                        (unsigned long long)c->id);
        wsmsg_wipe(c->ws[dir]);
        abandon(t, c, "gateway", "etf");
        return;
    case GW_MALFORMED:
        emit_decode_error(t, c, "gateway", "malformed");
        break;
    }
out:
    /* Outbound payloads carry the bot token (IDENTIFY, RESUME), inbound
     * ones interaction tokens and message content: none outlives its parse.
     * Every message is wiped, whatever its event: the buffer is reused, and
     * a quiet connection would keep the last MESSAGE_CREATE's content until
     * the next message (issue 14). The wipe costs a memset of the message,
     * well under its parse. */
    wsmsg_wipe(c->ws[dir]);
}

static void ws_close(struct stream_table *t, struct stream_conn *c, enum ev_dir dir, int code)
{
    struct argus_event ev;

    if (c->close_code == 0) {
        c->close_code = code;
        c->close_dir = dir;
    }
    if (c->ignored)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.kind = EV_WS_CLOSE;
    ev.u.close.code = code;
    ev.u.close.direction = dir;
    emit(t, c, &ev);
}

static void feed_ws(struct stream_table *t, struct stream_conn *c, enum ev_dir dir,
                    const uint8_t *buf, size_t len)
{
    struct wsmsg_out out;
    size_t used;

    while (!c->dead) {
        enum wsmsg_status st = wsmsg_feed(c->ws[dir], buf, len, &used, &out);
        buf += used;
        len -= used;
        switch (st) {
        case WSMSG_NEED_MORE:
            return;
        case WSMSG_MESSAGE:
            gateway_message(t, c, dir, &out);
            break;
        case WSMSG_DROPPED:
            /* Counted as cut, never read: the connection stays in sync. */
            if (!c->ignored)
                emit_decode_error(t, c, "gateway", out.reason);
            break;
        case WSMSG_CLOSE:
            ws_close(t, c, dir, out.close_code);
            break;
        case WSMSG_ERROR:
            abandon(t, c, out.stage, out.reason);
            break;
        }
    }
}

/* The 101 arrived: set up both directions from what was negotiated. */
static void upgrade(struct stream_table *t, struct stream_conn *c, const struct rest_upgrade *u)
{
    struct wsmsg_opts in = {
        .permessage_deflate = u->permessage_deflate,
        .no_context_takeover = u->server_no_context_takeover,
        /* Without transport compression, IDENTIFY "compress":true makes
         * each binary message a zlib stream of its own. */
        .transport = u->transport != ZS_NONE ? u->transport : ZS_ZLIB_MESSAGE,
        .max_message = t->max_message,
    };
    struct wsmsg_opts out = {
        .permessage_deflate = u->permessage_deflate,
        .no_context_takeover = u->client_no_context_takeover,
        .transport = ZS_NONE,
        .max_message = t->max_message,
    };

    c->upgraded = true;
    rest_fini(&c->rest);
    c->ws[EV_DIR_IN] = wsmsg_create(&in);
    c->ws[EV_DIR_OUT] = wsmsg_create(&out);
    if (c->ws[EV_DIR_IN] == NULL || c->ws[EV_DIR_OUT] == NULL) {
        abandon(t, c, "ws", "out_of_memory");
        return;
    }
    announce_kind(t, c, c->ignored ? CONN_KIND_UNKNOWN : CONN_KIND_GATEWAY);
    if (u->etf) {
        argus_log_debug("conn %llu: gateway uses encoding=etf, which Argus does not decode; "
                        "its events are not counted",
                        (unsigned long long)c->id);
        abandon(t, c, "gateway", "etf");
    }
}

/* ---- REST ---- */

static void feed_rest(struct stream_table *t, struct stream_conn *c, enum ev_dir dir,
                      const uint8_t *buf, size_t len)
{
    struct rest_out out;
    size_t used;

    while (!c->dead) {
        enum rest_status st = rest_feed(&c->rest, dir, buf, len, t->now_ns, &used, &out);
        buf += used;
        len -= used;
        switch (st) {
        case REST_NEED_MORE:
            return;
        case REST_REQUEST:
            announce_kind(t, c, CONN_KIND_REST);
            break;
        case REST_EXCHANGE:
            announce_kind(t, c, CONN_KIND_REST);
            emit_rest(t, c, &out.exchange);
            break;
        case REST_UPGRADED:
            upgrade(t, c, &out.upgrade);
            if (!c->dead)
                feed_ws(t, c, dir, buf, len);
            return;
        case REST_TOO_LARGE:
            emit_decode_error(t, c, "http", "too_large");
            break;
        case REST_ERROR:
            abandon(t, c, "http", c->rest.error);
            break;
        }
    }
}

/* ---- records ---- */

/* Bytes of this connection were lost. A WebSocket connection is abandoned;
 * HTTP resumes at the first write that starts with a request line, and the
 * exchanges in flight are dropped. */
static void gap(struct stream_table *t, struct stream_conn *c)
{
    if (c->dead)
        return;
    if (c->upgraded) {
        abandon(t, c, "capture", "gap");
        return;
    }
    emit_decode_error(t, c, "capture", "gap");
    rest_fini(&c->rest);
    c->resync = true;
}

/* While resynchronising: true when this record is the boundary. */
static bool resync_at(struct stream_conn *c, const struct ring_record *rec)
{
    if (rec->dir != RING_DIR_WRITE || !rest_is_request_start(rec->data, rec->len))
        return false;
    c->resync = false;
    return true;
}

static void feed_data(struct stream_table *t, struct stream_conn *c, const struct ring_record *rec)
{
    enum ev_dir dir = rec->dir == RING_DIR_WRITE ? EV_DIR_OUT : EV_DIR_IN;

    if (c->upgraded)
        feed_ws(t, c, dir, rec->data, rec->len);
    else
        feed_rest(t, c, dir, rec->data, rec->len);
}

void stream_table_feed(struct stream_table *t, const struct ring_record *rec)
{
    struct stream_conn *c = stream_conn_find(t, rec->conn_id);

    t->now_ns = rec->t_ns;
    switch (rec->type) {
    case RING_OPEN:
        if (c != NULL) /* a reused id cannot happen; treat as a new connection */
            stream_conn_close(t, c);
        c = stream_conn_open(t, rec->conn_id);
        if (c != NULL && host_is_voice(rec->data, rec->len)) {
            /* Counted (discord_voice_clients), never decoded: voice
             * payloads say nothing the catalogue needs. */
            c->ignored = true;
            announce_kind(t, c, CONN_KIND_VOICE);
        }
        return;
    case RING_CLOSE:
        if (c != NULL)
            stream_conn_close(t, c);
        return;
    case RING_DATA:
        break;
    default:
        return;
    }
    if (c == NULL) {
        /* Data without an OPEN (the core started late): decode what we can. */
        c = stream_conn_open(t, rec->conn_id);
        if (c == NULL)
            return;
    }
    c->last_t_ns = rec->t_ns;
    if (c->kind == CONN_KIND_VOICE)
        return;
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
        stream_conn_free(t->conns[i]);
    free(t->conns);
    free(t);
}
