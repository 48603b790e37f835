/*
 * http.h - a streaming HTTP/1.1 message parser, one per connection
 * direction.
 *
 * The parser owns one direction of one connection: requests on the bytes the
 * bot writes, responses on the bytes it reads. It finds message heads,
 * frames bodies (Content-Length, chunked, or until close) and notices the
 * 101 that hands the connection to WebSocket. It promises:
 *   - bounded memory: the head is kept in a fixed buffer inside the parser
 *     (HTTP_HEAD_MAX bytes, HTTP_MAX_HEADERS fields); a larger head is an
 *     error, as are absurd chunk-size lines and trailers;
 *   - no allocation, no copy of body bytes: bodies come out as slices of the
 *     caller's input;
 *   - identical results for any split of the input (state is resumable at
 *     every byte).
 *
 * Shape (style.md, "Streaming decoders"): zero-fill, set kind, then call
 * http_parse(p, buf, len, &consumed, &body) in a loop until it has consumed
 * the input. The status says what happened; the head (http_head_*) stays
 * valid from HTTP_HEAD_DONE until the next message starts.
 * The body's Content-Encoding (http_head_encoding) is decoded by
 * http_body.h.
 *
 * Threads: the decode thread; no shared state.
 */
#ifndef ARGUS_HTTP_H
#define ARGUS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 16384 /* request line/status line + headers */
#define HTTP_MAX_HEADERS 64
#define HTTP_CHUNK_LINE_MAX 256 /* chunk size + extensions */
#define HTTP_TRAILER_MAX 4096

enum http_kind {
    HTTP_REQUEST = 0,
    HTTP_RESPONSE = 1,
};

enum http_status {
    HTTP_NEED_MORE,    /* all input consumed, message not finished */
    HTTP_HEAD_DONE,    /* the head parsed; inspect it with http_head_* */
    HTTP_BODY,         /* *body holds body bytes (de-chunked, still encoded) */
    HTTP_MESSAGE_DONE, /* the message ended; the next byte starts a new one */
    HTTP_UPGRADED,     /* after a 101: the rest of the input is not HTTP */
    HTTP_ERROR,        /* malformed; p->error says why; the parser stays failed */
};

enum http_state {
    HTTP_S_HEAD,        /* collecting head bytes until CRLF CRLF -> BODY_* or HEAD */
    HTTP_S_BODY_LENGTH, /* Content-Length bytes left -> HEAD */
    HTTP_S_CHUNK_LINE,  /* "hex[;ext]CRLF" -> CHUNK_DATA, or TRAILERS on size 0 */
    HTTP_S_CHUNK_DATA,  /* chunk bytes left -> CHUNK_CRLF */
    HTTP_S_CHUNK_CRLF,  /* the CRLF after chunk data -> CHUNK_LINE */
    HTTP_S_TRAILERS,    /* trailer lines until an empty one -> HEAD */
    HTTP_S_BODY_EOF,    /* a response body delimited by the connection's end */
    HTTP_S_UPGRADED,    /* after 101: terminal */
    HTTP_S_FAILED,      /* terminal */
};

struct http_span {
    uint16_t off;
    uint16_t len;
};

struct http_field {
    struct http_span name;
    struct http_span value;
};

struct http_slice {
    const uint8_t *data;
    size_t len;
};

struct http_parser {
    enum http_kind kind;
    enum http_state state;
    /* A response to HEAD has no body whatever its headers say; the caller
     * sets this before the response head arrives. */
    bool next_response_bodiless;
    const char *error; /* static reason when state is FAILED */

    /* The current head (valid from HEAD_DONE until the next message) is
     * head[0..head_len), at the end of the struct. */
    uint32_t head_len;
    uint32_t head_scanned;           /* start of the line being collected in head[] */
    bool head_done;                  /* head[] holds a parsed head; cleared when the next starts */
    struct http_span method, target; /* requests */
    int status;                      /* responses */
    uint8_t minor_version;
    uint16_t n_fields;
    struct http_field fields[HTTP_MAX_HEADERS];

    /* Body framing. */
    uint64_t body_left;  /* BODY_LENGTH, CHUNK_DATA */
    uint64_t chunk_size; /* CHUNK_LINE accumulator */
    uint32_t line_len;   /* bytes of the current chunk line or trailer line */
    uint32_t trailer_bytes;
    bool chunk_in_ext;
    bool chunk_has_digit;
    uint8_t crlf_seen; /* CHUNK_CRLF: bytes of the CRLF seen */

    /* Last, so that http_parser_init() need not touch it: a parser per
     * connection then costs the pages its heads really fill, not 16 KiB. */
    char head[HTTP_HEAD_MAX];
};

/* Readies p (allocated with malloc, or anywhere) to parse messages of kind:
 * every field zeroed but head[], which is never read past head_len. */
void http_parser_init(struct http_parser *p, enum http_kind kind);

/* Parses from buf; sets *consumed (bytes used, possibly < len when a status
 * other than NEED_MORE is returned: call again with the rest). For
 * HTTP_BODY, *body is a slice of buf. */
enum http_status http_parse(struct http_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
                            struct http_slice *body);

/* The connection ended: a response body delimited by close completes.
 * Returns true if a message was completed by the end. */
bool http_parse_eof(struct http_parser *p);

/* Head accessors (valid after HTTP_HEAD_DONE). Header names compare
 * case-insensitively; the value is trimmed of surrounding spaces. */
bool http_head_get(const struct http_parser *p, const char *name, const char **value, size_t *len);
/* Whether a comma-separated header contains `token` (case-insensitive). */
bool http_head_has_token(const struct http_parser *p, const char *name, const char *token);
const char *http_head_str(const struct http_parser *p, struct http_span s);

/* Content-Encoding of a body. */
enum http_encoding {
    HTTP_ENC_IDENTITY = 0,
    HTTP_ENC_GZIP,    /* also "x-gzip" */
    HTTP_ENC_DEFLATE, /* zlib-wrapped, or raw as some servers send */
    HTTP_ENC_BR,
    HTTP_ENC_ZSTD, /* RFC 9659; aiohttp >= 3.12 asks for it when zstandard is installed */
    HTTP_ENC_UNSUPPORTED,
};

enum http_encoding http_head_encoding(const struct http_parser *p);

#endif
