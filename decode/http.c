/*
 * http.c - HTTP/1.1 framing (RFC 9112) for one direction of a connection.
 *
 * Design: the head is copied into the parser's fixed buffer line by line
 * (memchr for '\n'), so a head that arrives one byte per SSL_read costs the
 * same as one that arrives whole, and a head never has to be re-scanned.
 * Once the empty line is seen the head is tokenised in place into spans;
 * nothing is copied again. Bodies are never copied here: the caller gets
 * slices of its input and decides what to keep.
 *
 * What is deliberately not supported: HTTP/2 (the libraries we watch speak
 * HTTP/1.1 only, discord-wire.md §0), obsolete line folding (RFC 9112 §5.2
 * allows rejecting it; we treat it as an error), and pipelined requests
 * after an Upgrade (no client does it).
 */
#include "http.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool span_ieq(const char *p, size_t len, const char *word)
{
    size_t n = strlen(word);

    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)p[i]) != word[i])
            return false;
    return true;
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static enum http_status fail(struct http_parser *p, const char *why)
{
    p->state = HTTP_S_FAILED;
    p->error = why;
    return HTTP_ERROR;
}

static struct http_span mkspan(size_t off, size_t len)
{
    return (struct http_span){.off = (uint16_t)off, .len = (uint16_t)len};
}

const char *http_head_str(const struct http_parser *p, struct http_span s)
{
    return p->head + s.off;
}

bool http_head_get(const struct http_parser *p, const char *name, const char **value, size_t *len)
{
    for (unsigned i = 0; i < p->n_fields; i++) {
        const struct http_field *f = &p->fields[i];
        if (span_ieq(p->head + f->name.off, f->name.len, name)) {
            *value = p->head + f->value.off;
            *len = f->value.len;
            return true;
        }
    }
    return false;
}

bool http_head_has_token(const struct http_parser *p, const char *name, const char *token)
{
    for (unsigned i = 0; i < p->n_fields; i++) {
        const struct http_field *f = &p->fields[i];
        if (!span_ieq(p->head + f->name.off, f->name.len, name))
            continue;
        const char *v = p->head + f->value.off;
        size_t n = f->value.len, at = 0;
        while (at < n) {
            size_t start = at, end;
            while (at < n && v[at] != ',')
                at++;
            end = at++;
            while (start < end && (v[start] == ' ' || v[start] == '\t'))
                start++;
            while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
                end--;
            /* Parameters (";x=y") do not belong to the token. */
            const char *semi = memchr(v + start, ';', end - start);
            if (semi != NULL)
                end = (size_t)(semi - v);
            while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
                end--;
            if (span_ieq(v + start, end - start, token))
                return true;
        }
    }
    return false;
}

enum http_encoding http_head_encoding(const struct http_parser *p)
{
    const char *v;
    size_t n;

    if (!http_head_get(p, "content-encoding", &v, &n) || span_ieq(v, n, "identity") || n == 0)
        return HTTP_ENC_IDENTITY;
    if (span_ieq(v, n, "gzip") || span_ieq(v, n, "x-gzip"))
        return HTTP_ENC_GZIP;
    if (span_ieq(v, n, "deflate"))
        return HTTP_ENC_DEFLATE;
    if (span_ieq(v, n, "br"))
        return HTTP_ENC_BR;
    if (span_ieq(v, n, "zstd"))
        return HTTP_ENC_ZSTD;
    return HTTP_ENC_UNSUPPORTED;
}

/* Parses "HTTP/1.x" in s[0, len); returns the minor version or -1. */
static int parse_version(const char *s, size_t len)
{
    if (len != 8 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1'))
        return -1;
    return s[7] - '0';
}

/* Tokenises the first line of the head, [0, eol). */
static const char *parse_start_line(struct http_parser *p, size_t eol)
{
    const char *h = p->head;
    const char *sp1 = memchr(h, ' ', eol);

    if (sp1 == NULL)
        return "bad_start_line";
    size_t a = (size_t)(sp1 - h);
    if (p->kind == HTTP_REQUEST) {
        const char *sp2 = memchr(sp1 + 1, ' ', eol - a - 1);
        if (sp2 == NULL || a == 0 || a > 16)
            return "bad_request_line";
        for (size_t i = 0; i < a; i++)
            if (!is_tchar((unsigned char)h[i]))
                return "bad_method";
        size_t b = (size_t)(sp2 - h);
        int minor = parse_version(sp2 + 1, eol - b - 1);
        if (b == a + 1 || minor < 0)
            return "bad_request_line";
        p->method = mkspan(0, a);
        p->target = mkspan(a + 1, b - a - 1);
        p->minor_version = (uint8_t)minor;
        return NULL;
    }
    int minor = parse_version(h, a);
    if (minor < 0 || eol < a + 4)
        return "bad_status_line";
    int status = 0;
    for (size_t i = a + 1; i < a + 4; i++) {
        if (h[i] < '0' || h[i] > '9')
            return "bad_status_line";
        status = status * 10 + (h[i] - '0');
    }
    if (eol > a + 4 && h[a + 4] != ' ')
        return "bad_status_line";
    if (status < 100)
        return "bad_status_line";
    p->status = status;
    p->minor_version = (uint8_t)minor;
    return NULL;
}

/* Tokenises the complete head in p->head[0, head_len) (which ends in an
 * empty line) into the start line and fields. */
static const char *parse_head(struct http_parser *p)
{
    const char *h = p->head;
    size_t n = p->head_len, at;
    const char *nl = memchr(h, '\n', n);
    size_t eol = (size_t)(nl - h);
    const char *why;

    at = eol + 1;
    if (eol > 0 && h[eol - 1] == '\r')
        eol--;
    why = parse_start_line(p, eol);
    if (why != NULL)
        return why;
    p->n_fields = 0;
    for (;;) {
        nl = memchr(h + at, '\n', n - at);
        size_t end = (size_t)(nl - h), next = end + 1;
        if (end > at && h[end - 1] == '\r')
            end--;
        if (end == at)
            break; /* the empty line */
        if (h[at] == ' ' || h[at] == '\t')
            return "obsolete_line_folding";
        const char *colon = memchr(h + at, ':', end - at);
        if (colon == NULL || colon == h + at)
            return "bad_header";
        size_t name_end = (size_t)(colon - h);
        for (size_t i = at; i < name_end; i++)
            if (!is_tchar((unsigned char)h[i]))
                return "bad_header_name";
        size_t vstart = name_end + 1, vend = end;
        while (vstart < vend && (h[vstart] == ' ' || h[vstart] == '\t'))
            vstart++;
        while (vend > vstart && (h[vend - 1] == ' ' || h[vend - 1] == '\t'))
            vend--;
        if (p->n_fields == HTTP_MAX_HEADERS)
            return "too_many_headers";
        p->fields[p->n_fields++] = (struct http_field){
            .name = mkspan(at, name_end - at),
            .value = mkspan(vstart, vend - vstart),
        };
        at = next;
    }
    return NULL;
}

/* Reads Content-Length: -1 absent, -2 invalid (including conflicting
 * duplicates, RFC 9112 §6.3 item 5), else the length. */
static int64_t content_length(const struct http_parser *p)
{
    int64_t found = -1;

    for (unsigned i = 0; i < p->n_fields; i++) {
        const struct http_field *f = &p->fields[i];
        if (!span_ieq(p->head + f->name.off, f->name.len, "content-length"))
            continue;
        const char *v = p->head + f->value.off;
        int64_t x = 0;
        if (f->value.len == 0 || f->value.len > 15)
            return -2;
        for (unsigned j = 0; j < f->value.len; j++) {
            if (v[j] < '0' || v[j] > '9')
                return -2;
            x = x * 10 + (v[j] - '0');
        }
        if (found >= 0 && found != x)
            return -2;
        found = x;
    }
    return found;
}

/* Starts the chunk-size line that follows a chunk (or the head). */
static void start_chunk_line(struct http_parser *p)
{
    p->state = HTTP_S_CHUNK_LINE;
    p->chunk_size = 0;
    p->line_len = 0;
    p->chunk_in_ext = false;
    p->chunk_has_digit = false;
}

/* Chooses the body framing after a head (RFC 9112 §6.3). */
static const char *frame_body(struct http_parser *p)
{
    const char *te;
    size_t te_len;
    bool has_te = http_head_get(p, "transfer-encoding", &te, &te_len);
    int64_t cl = content_length(p);

    if (p->kind == HTTP_RESPONSE) {
        bool bodiless = p->next_response_bodiless;
        if (p->status >= 100 && p->status < 200) {
            /* Interim responses (100 Continue) leave the request pending
             * and keep HEAD bodiless for the final response. */
            p->state = p->status == 101 ? HTTP_S_UPGRADED : HTTP_S_HEAD;
            p->body_left = 0;
            return NULL;
        }
        p->next_response_bodiless = false;
        if (bodiless || p->status == 204 || p->status == 304) {
            p->state = HTTP_S_BODY_LENGTH;
            p->body_left = 0;
            return NULL;
        }
    }
    if (has_te) {
        /* chunked must be the last coding; anything else on a response
         * runs to the end of the connection, on a request it is an error. */
        size_t end = te_len;
        while (end > 0 && te[end - 1] != ',')
            end--;
        while (end < te_len && (te[end] == ' ' || te[end] == '\t'))
            end++;
        if (span_ieq(te + end, te_len - end, "chunked")) {
            start_chunk_line(p);
            return NULL;
        }
        if (p->kind == HTTP_REQUEST)
            return "bad_transfer_encoding";
        p->state = HTTP_S_BODY_EOF;
        return NULL;
    }
    if (cl == -2)
        return "bad_content_length";
    if (cl >= 0) {
        p->state = HTTP_S_BODY_LENGTH;
        p->body_left = (uint64_t)cl;
        return NULL;
    }
    if (p->kind == HTTP_REQUEST) {
        p->state = HTTP_S_BODY_LENGTH;
        p->body_left = 0;
    } else {
        p->state = HTTP_S_BODY_EOF;
    }
    return NULL;
}

/* HTTP_S_HEAD: copies bytes up to and including each '\n' and checks
 * whether the line it ends is empty. */
static enum http_status parse_head_bytes(struct http_parser *p, const uint8_t *buf, size_t len,
                                         size_t *used)
{
    size_t i = 0;

    /* The previous head stayed readable until now (an interim 1xx response
     * goes straight back to this state). */
    if (p->head_done) {
        p->head_done = false;
        p->head_len = 0;
        p->head_scanned = 0;
    }
    /* RFC 9112 §2.2: ignore empty lines before the start line. */
    while (p->head_len == 0 && i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    while (i < len) {
        const uint8_t *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (buf + i)) + 1 : len - i;
        if (p->head_len + n > HTTP_HEAD_MAX) {
            *used = i;
            return fail(p, "head_too_large");
        }
        memcpy(p->head + p->head_len, buf + i, n);
        p->head_len += (uint32_t)n;
        i += n;
        if (nl == NULL)
            break;
        /* The line that just ended starts at head_scanned. */
        size_t line = p->head_len - p->head_scanned;
        bool empty = line == 1 || (line == 2 && p->head[p->head_scanned] == '\r');
        p->head_scanned = p->head_len;
        if (empty && p->head_len > line) {
            *used = i;
            const char *why = parse_head(p);
            if (why == NULL)
                why = frame_body(p);
            if (why != NULL)
                return fail(p, why);
            p->head_done = true;
            return HTTP_HEAD_DONE;
        }
        if (memchr(p->head + p->head_len - line, '\0', line) != NULL) {
            *used = i;
            return fail(p, "nul_in_head");
        }
    }
    *used = i;
    return HTTP_NEED_MORE;
}

static void start_next_message(struct http_parser *p)
{
    p->state = HTTP_S_HEAD;
    p->head_done = false;
    p->head_len = 0;
    p->head_scanned = 0;
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* BODY_LENGTH and CHUNK_DATA: up to body_left bytes of buf are body. */
static enum http_status body_slice(struct http_parser *p, const uint8_t *buf, size_t len,
                                   size_t *used, struct http_slice *body)
{
    body->data = buf;
    body->len = len < p->body_left ? len : (size_t)p->body_left;
    p->body_left -= body->len;
    *used = body->len;
    return HTTP_BODY;
}

/* CHUNK_LINE: one byte of "hex[;ext]CRLF" (RFC 9112 §7.1). */
static enum http_status chunk_line_byte(struct http_parser *p, uint8_t c)
{
    if (++p->line_len > HTTP_CHUNK_LINE_MAX)
        return fail(p, "chunk_line_too_long");
    if (c == '\n') {
        if (!p->chunk_has_digit)
            return fail(p, "bad_chunk_size");
        p->line_len = 0;
        if (p->chunk_size == 0) {
            p->state = HTTP_S_TRAILERS;
            p->trailer_bytes = 0;
        } else {
            p->state = HTTP_S_CHUNK_DATA;
            p->body_left = p->chunk_size;
        }
    } else if (p->chunk_in_ext || c == '\r') {
        /* Extensions and the CR are ignored (RFC 9112 §7.1.1). */
    } else if (c == ';' || c == ' ' || c == '\t') {
        p->chunk_in_ext = true;
    } else {
        int d = hex_digit(c);
        if (d < 0 || p->chunk_size >> 56 != 0)
            return fail(p, "bad_chunk_size");
        p->chunk_size = p->chunk_size << 4 | (uint64_t)d;
        p->chunk_has_digit = true;
    }
    return HTTP_NEED_MORE;
}

/* CHUNK_CRLF: one byte of the CRLF that closes a chunk's data. */
static enum http_status chunk_crlf_byte(struct http_parser *p, uint8_t c)
{
    if (c == '\r' && p->crlf_seen == 0)
        p->crlf_seen = 1;
    else if (c == '\n')
        start_chunk_line(p);
    else
        return fail(p, "bad_chunk_end");
    return HTTP_NEED_MORE;
}

/* TRAILERS: one byte of the trailer section, which an empty line ends. */
static enum http_status trailer_byte(struct http_parser *p, uint8_t c)
{
    if (++p->trailer_bytes > HTTP_TRAILER_MAX)
        return fail(p, "trailers_too_large");
    if (c == '\n') {
        if (p->line_len == 0) {
            start_next_message(p);
            return HTTP_MESSAGE_DONE;
        }
        p->line_len = 0;
    } else if (c != '\r' || p->line_len > 0) {
        p->line_len++;
    }
    return HTTP_NEED_MORE;
}

/* States that have something to say with no input left: the end of an
 * empty body, and the terminal states. */
static bool runs_without_input(const struct http_parser *p)
{
    return (p->state == HTTP_S_BODY_LENGTH && p->body_left == 0) || p->state == HTTP_S_UPGRADED ||
           p->state == HTTP_S_FAILED;
}

void http_parser_init(struct http_parser *p, enum http_kind kind)
{
    memset(p, 0, offsetof(struct http_parser, head));
    p->kind = kind;
}

enum http_status http_parse(struct http_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
                            struct http_slice *body)
{
    size_t i = 0, used = 0;
    enum http_status st = HTTP_NEED_MORE;

    body->data = NULL;
    body->len = 0;
    while (st == HTTP_NEED_MORE && (i < len || runs_without_input(p))) {
        switch (p->state) {
        case HTTP_S_HEAD:
            st = parse_head_bytes(p, buf + i, len - i, &used);
            i += used;
            break;
        case HTTP_S_BODY_LENGTH:
            if (p->body_left == 0) {
                start_next_message(p);
                st = HTTP_MESSAGE_DONE;
                break;
            }
            st = body_slice(p, buf + i, len - i, &used, body);
            i += used;
            break;
        case HTTP_S_CHUNK_LINE:
            st = chunk_line_byte(p, buf[i++]);
            break;
        case HTTP_S_CHUNK_DATA:
            st = body_slice(p, buf + i, len - i, &used, body);
            i += used;
            if (p->body_left == 0) {
                p->state = HTTP_S_CHUNK_CRLF;
                p->crlf_seen = 0;
            }
            break;
        case HTTP_S_CHUNK_CRLF:
            st = chunk_crlf_byte(p, buf[i++]);
            break;
        case HTTP_S_TRAILERS:
            st = trailer_byte(p, buf[i++]);
            break;
        case HTTP_S_BODY_EOF:
            body->data = buf + i;
            body->len = len - i;
            i = len;
            st = HTTP_BODY;
            break;
        case HTTP_S_UPGRADED:
            st = HTTP_UPGRADED;
            break;
        case HTTP_S_FAILED:
            st = HTTP_ERROR;
            break;
        }
    }
    *consumed = i;
    return st;
}

bool http_parse_eof(struct http_parser *p)
{
    if (p->state != HTTP_S_BODY_EOF)
        return false;
    start_next_message(p);
    return true;
}
