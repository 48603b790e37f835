/*
 * event.h - the typed events decoding hands to the lifecycle tracker.
 *
 * The decode pipeline (stream.h: HTTP exchanges, WebSocket, compression,
 * gateway JSON) turns each captured connection into a sequence of struct
 * argus_event, in the order the bytes were captured, and passes each to one
 * callback on the decode thread. An event is a value: fixed-size fields, no pointers into decoder
 * buffers (one exception: u.gw.members, see there), valid only for
 * the duration of the callback (copy what you keep).
 *
 * Secrets never enter an event: tokens (bot, interaction, webhook) appear only
 * as a 64-bit keyed hash (token_hash), and message content only as the bounded
 * head the prefix-command inference needs (content_head), which the tracker
 * must not keep past the callback.
 *
 * Timestamps are CLOCK_MONOTONIC nanoseconds of the capture record that
 * completed the event (for an inbound message: the SSL_read that delivered its
 * last byte; for an outbound one: the SSL_write of its last byte).
 */
#ifndef ARGUS_EVENT_H
#define ARGUS_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ev_kind {
    EV_CONN_OPEN,    /* a Discord connection was first seen */
    EV_CONN_KIND,    /* the connection turned out REST or gateway (after 101) */
    EV_CONN_CLOSE,   /* SSL_free, or the stream ended; carries the WS close code if any */
    EV_REST,         /* one complete REST exchange (request + response head, body bits) */
    EV_GW_RECV,      /* a gateway payload read by the bot (server -> client) */
    EV_GW_SEND,      /* a gateway payload written by the bot (client -> server) */
    EV_WS_CLOSE,     /* a WebSocket close frame, either direction */
    EV_DECODE_ERROR, /* undecodable input, counted by stage; see stream.h for when the */
                     /* connection is abandoned and when decoding resumes */
};

enum conn_kind {
    CONN_KIND_UNKNOWN = 0,
    CONN_KIND_REST,
    CONN_KIND_GATEWAY,
    CONN_KIND_VOICE, /* a voice gateway (*.discord.media): counted, never decoded */
};

enum ev_dir {
    EV_DIR_IN = 0,  /* read by the bot */
    EV_DIR_OUT = 1, /* written by the bot */
};

/* Interaction types as on the wire (INTERACTION_CREATE d.type). */
enum ev_interaction_type {
    EV_INTERACTION_PING = 1,
    EV_INTERACTION_APPLICATION_COMMAND = 2,
    EV_INTERACTION_COMPONENT = 3,
    EV_INTERACTION_AUTOCOMPLETE = 4,
    EV_INTERACTION_MODAL_SUBMIT = 5,
};

#define EV_ROUTE_MAX 128
#define EV_NAME_MAX 100    /* qualified command name, "admin stats" */
#define EV_CONTENT_HEAD 72 /* bytes of message content kept for prefix matching */

struct ev_rest {
    char method[8];
    char route[EV_ROUTE_MAX]; /* template without /api/vN, e.g. /channels/{channel_id}/messages */
    uint8_t api_version;      /* 9, 10, or 0 when the path had none */
    int status;               /* HTTP status; 0 if the connection ended before a response */
    uint64_t request_ns;      /* first byte of the request written */
    uint64_t response_ns;     /* end of the response head read */
    /* Rate limits (response headers); has_* say whether the header was present. */
    char bucket[48];
    bool has_remaining;
    int64_t remaining;
    double reset_after_s; /* < 0 if absent */
    double retry_after_s; /* < 0 if absent */
    char scope[12];       /* X-RateLimit-Scope, "" if absent */
    bool global;
    int discord_error_code; /* "code" of a JSON error body, 0 if none */
    /* Correlation keys taken from the path and the JSON request body. */
    uint64_t interaction_id; /* /interactions/{id}/{token}/callback */
    uint64_t token_hash;     /* interaction or webhook token in the path, 0 if none */
    uint64_t webhook_id;     /* /webhooks/{webhook_id}/... (the application id for follow-ups) */
    bool is_original_edit;   /* PATCH /webhooks/{id}/{token}/messages/@original */
    int callback_type;       /* {"type":N} of an interaction callback body, -1 if unknown */
    uint64_t channel_id;     /* /channels/{channel_id}/..., 0 if none */
    uint64_t message_id;     /* /channels/{c}/messages/{message_id}/..., 0 if none */
    uint64_t ref_message_id; /* message_reference.message_id in a message body */
    bool is_reaction;        /* PUT /channels/{c}/messages/{m}/reactions/{emoji}/@me */
    int commands_synced;     /* PUT .../commands: entries in the 2xx response, -1 otherwise */
    bool has_limit;          /* X-RateLimit-Limit present */
    int64_t limit;
    bool body_foreign; /* the response has a Content-Type, not JSON (Cloudflare's HTML) */
    /* GET /gateway/bot 2xx: "shards" and "session_start_limit"; -1 if absent. */
    int64_t shards_recommended;
    int64_t session_starts_total;
    int64_t session_starts_remaining;
    /* From User-Agent: e.g. library "discord.py" "2.2.2", runtime "Python/3.11". */
    char library[24];
    char library_version[16];
    char runtime[24];
};

struct ev_gw {
    int op;
    int64_t seq; /* -1 when null/absent */
    char t[40];  /* dispatch name, "" when null */
    /* The raw "members" array of GUILD_CREATE and GUILD_MEMBERS_CHUNK (else
     * NULL), read with gw_members_next() (gw.h). The one pointer into a
     * decoder buffer in an event: valid only inside the callback; what it
     * yields are user ids, never names. */
    const char *members;
    size_t members_len;
    /* Fields below are filled only for the payloads that need them. */
    union {
        struct { /* op 10 HELLO */
            uint32_t heartbeat_interval_ms;
        } hello;
        struct { /* op 9 INVALID_SESSION */
            bool resumable;
        } invalid_session;
        struct {          /* op 2 IDENTIFY (out); the token is never copied */
            int shard_id; /* -1 when unsharded */
            int shard_count;
            uint64_t intents;
        } identify;
        struct { /* op 6 RESUME (out) */
            int64_t seq;
        } resume;
        struct { /* READY */
            uint64_t user_id;
            char username[40];
            uint64_t application_id;
            int shard_id;
            int shard_count;
            int guild_count;           /* length of d.guilds */
            uint32_t private_channels; /* length of d.private_channels */
        } ready;
        struct ev_guild { /* GUILD_CREATE, GUILD_DELETE, GUILD_MEMBERS_CHUNK, GUILD_MEMBER_ADD,
                    GUILD_MEMBER_REMOVE, GUILD_EMOJIS_UPDATE, GUILD_STICKERS_UPDATE */
            uint64_t guild_id;
            bool unavailable;
            int32_t emojis;   /* length of d.emojis, -1 when absent */
            int32_t stickers; /* length of d.stickers, -1 when absent */
            uint64_t user_id; /* MEMBER_ADD / MEMBER_REMOVE: d.user.id */
        } guild;
        struct { /* CHANNEL_CREATE, CHANNEL_DELETE */
            uint64_t id;
            int type; /* 1 DM, 3 group DM; -1 when absent */
        } channel;
        struct { /* VOICE_STATE_UPDATE */
            uint64_t user_id;
            uint64_t guild_id;
            uint64_t channel_id; /* 0 when null: the user left voice */
        } voice;
        struct { /* INTERACTION_CREATE */
            uint64_t id;
            uint64_t application_id;
            uint64_t token_hash;
            uint64_t guild_id;
            uint64_t channel_id;
            int type;               /* enum ev_interaction_type */
            char name[EV_NAME_MAX]; /* qualified command name for types 2 and 4, "" otherwise */
        } interaction;
        struct { /* MESSAGE_CREATE */
            uint64_t id;
            uint64_t channel_id;
            uint64_t guild_id;
            uint64_t author_id;
            bool author_bot;
            bool has_webhook_id;
            uint64_t ref_message_id;            /* message_reference.message_id, 0 if none */
            uint64_t interaction_id;            /* interaction_metadata.id, 0 if none */
            uint16_t content_len;               /* bytes in content_head */
            char content_head[EV_CONTENT_HEAD]; /* first bytes of content; not NUL-terminated */
        } message;
    } u;
};

struct ev_close {
    int code;      /* WebSocket close code; 1006 when the connection ended without one */
    int direction; /* enum ev_dir: who sent the close frame */
};

struct argus_event {
    enum ev_kind kind;
    uint64_t conn_id; /* unique per connection for the life of the process */
    enum conn_kind conn_kind;
    uint64_t t_ns; /* CLOCK_MONOTONIC */
    union {
        struct ev_rest rest;
        struct ev_gw gw;
        struct ev_close close;
        struct {
            const char *stage;  /* "http", "ws", "inflate", "gateway", "capture" (static string) */
            const char *reason; /* static; "too_large": a message or body past the size cap */
        } decode_error;
    } u;
};

typedef void (*argus_event_fn)(const struct argus_event *ev, void *arg);

#endif
