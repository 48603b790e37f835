/*
 * rest.h - REST exchanges of one connection: the bot's requests paired with
 * Discord's responses, until (if ever) a 101 hands the connection to
 * WebSocket.
 *
 * struct rest owns an HTTP parser per direction (http.h), the requests
 * waiting for their response (at most REST_MAX_PENDING) and the two bodies
 * being decoded (http_body.h). It promises:
 *   - responses pair with requests in order (HTTP/1.1 without pipelining, as
 *     aiohttp and undici use it, discord-wire.md §7); the small FIFO
 *     tolerates a client that writes the next request before reading the
 *     last response;
 *   - an exchange is a value (struct ev_rest, event.h): the route template,
 *     rate-limit headers, User-Agent, and the few body fields the lifecycle
 *     tracker needs; no token reaches it (route.h);
 *   - a request head (which holds the Authorization header) and a request
 *     body (user content) are wiped as soon as they are parsed, and by
 *     rest_fini() when cut short;
 *   - bounded memory: the parsers' fixed heads and bodies capped at
 *     REST_BODY_CAP kept bytes, decoded up to max_body bytes;
 *   - an exchange whose decoded body (request or response) passes max_body
 *     is cut: REST_TOO_LARGE says so once, and the exchange is never
 *     reported, since what its body would have said is unknown. The
 *     framing goes on, so the next exchange decodes as usual.
 *
 * Shape (style.md, "Streaming decoders"): rest_init(), then rest_feed() with
 * each record's bytes in a loop until it has consumed them, acting on each
 * status; rest_end() when the connection ends; rest_fini() frees. The
 * parsers are allocated at the first request; rest_fini() leaves a state
 * that rest_feed() can start again from (decoding resumes after a gap).
 *
 * Threads: the decode thread; no shared state.
 */
#ifndef ARGUS_REST_H
#define ARGUS_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "http.h"
#include "http_body.h"
#include "zs.h"

#define REST_MAX_PENDING 8
#define REST_BODY_CAP 65536

enum rest_status {
    REST_NEED_MORE, /* all input consumed */
    REST_REQUEST,   /* a request head that is no WebSocket upgrade: the connection is REST */
    REST_EXCHANGE,  /* out->exchange is a complete exchange */
    REST_UPGRADED,  /* a 101 answered the upgrade request: out->upgrade says what was
                       negotiated, and the input after *consumed is WebSocket */
    REST_TOO_LARGE, /* a body passed max_body: its exchange is cut (see above) */
    REST_ERROR,     /* undecodable; r->error says why; stop feeding this connection */
};

/* What the upgrade request asked for and the 101 agreed to. */
struct rest_upgrade {
    bool permessage_deflate;
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    enum zs_mode transport; /* ?compress= of the gateway URL, ZS_NONE if none */
    bool etf;               /* ?encoding=etf */
};

struct rest_out {
    struct ev_rest exchange;
    struct rest_upgrade upgrade;
};

enum rest_body_use {
    REST_BODY_NONE = 0,
    REST_BODY_CALLBACK,     /* request: {"type":N} of an interaction callback */
    REST_BODY_MESSAGE,      /* request: message_reference.message_id */
    REST_BODY_ERROR,        /* response: "code" of a JSON error body */
    REST_BODY_COMMAND_SYNC, /* response: entries of the command array */
    REST_BODY_GATEWAY_BOT,  /* response: GET /gateway/bot's shards and session_start_limit */
};

struct rest_pending {
    struct ev_rest ev;
    bool is_upgrade;
    bool cut; /* a body passed max_body: never reported */
};

struct rest {
    uint64_t max_body; /* decoded bytes of a body, at most */
    const char *error; /* static reason after REST_ERROR */
    struct http_parser *req, *resp;
    uint64_t req_start_ns;
    struct rest_pending pending[REST_MAX_PENDING];
    unsigned n_pending;
    struct http_body req_body, resp_body;
    enum rest_body_use req_use, resp_use;
    struct rest_upgrade upgrade; /* from the upgrade request's query */
};

/* Zero-fills r; max_body bounds a body's decoded bytes
 * (ARGUS_MAX_MESSAGE_BYTES). */
void rest_init(struct rest *r, uint64_t max_body);

/* Decodes buf, bytes the bot wrote (EV_DIR_OUT) or read (EV_DIR_IN), whose
 * last byte was captured at now_ns. Sets *consumed; call again with the
 * rest after any status but REST_NEED_MORE and REST_ERROR. */
enum rest_status rest_feed(struct rest *r, enum ev_dir dir, const uint8_t *buf, size_t len,
                           uint64_t now_ns, size_t *consumed, struct rest_out *out);

/* The connection ended: returns REST_EXCHANGE for each exchange that the
 * end completes (a response delimited by close) or leaves unanswered
 * (status 0; upgrade requests and cut exchanges excepted), one per call, then
 * REST_NEED_MORE. */
enum rest_status rest_end(struct rest *r, struct rest_out *out);

/* Whether a write starting with p is the start of a request: the boundary
 * where decoding can resume after a gap (clients write each request head
 * at the start of a write, discord-wire.md §9). */
bool rest_is_request_start(const uint8_t *p, size_t len);

/* Wipes what may hold a secret and frees the parsers and bodies; drops the
 * exchanges in flight. r can be fed again afterwards. */
void rest_fini(struct rest *r);

#endif
