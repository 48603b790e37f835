/*
 * test_text.c - strings on their way into an export (issue 14): the
 * sanitizing copy and validator of export/text.c, then hostile bytes fed
 * through every entry point (registry attribute values and cluster, gauge
 * observations, infos, span names, attributes, event attributes and status)
 * and the OTLP encoding and Prometheus text checked with an independent
 * strict decoder.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics_service.pb-c.h"
#include "otlp.h"
#include "prom_text.h"
#include "reg.h"
#include "resource.h"
#include "spans.h"
#include "text.h"
#include "trace_service.pb-c.h"
#include "check_run.h"
#include "utf8_strict.h"

#define R TEXT_REPLACEMENT

/* ---- text_copy and text_utf8_valid ------------------------------------- */

struct copy_case {
    const char *in;
    const char *out;
};

static const struct copy_case copy_cases[] = {
    {"MESSAGE_CREATE", "MESSAGE_CREATE"},
    {"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9D\x84\x9E", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9D\x84\x9E"},
    {"MESSAGE_CREATE\xFF", "MESSAGE_CREATE" R},                       /* the event name */
    {"\xC0\xAF", R R},                                                /* overlong '/' */
    {"\xE0\x80\xAF", R R R},                                          /* overlong, three bytes */
    {"\xF0\x80\x80\xAF", R R R R},                                    /* overlong, four bytes */
    {"\xED\xA0\x80", R R R},                                          /* surrogate U+D800 */
    {"\xED\xBF\xBF", R R R},                                          /* surrogate U+DFFF */
    {"\xF4\x90\x80\x80", R R R R},                                    /* U+110000 */
    {"\xF8\x88\x80\x80\x80", R R R R R},                              /* old five-byte form */
    {"\x80\xBF", R R},                                                /* stray continuations */
    {"ab\xE2\x82", "ab" R R},                                         /* cut short at the end */
    {"a\xE2\x82x", "a" R R "x"},                                      /* cut short inside */
    {"MESSAGE\0\xFF", "MESSAGE"},                                     /* a C string ends at NUL */
    {"\xEF\xBF\xBF\xF4\x8F\xBF\xBF", "\xEF\xBF\xBF\xF4\x8F\xBF\xBF"}, /* U+FFFF, U+10FFFF */
};

START_TEST(copy_replaces_each_invalid_byte)
{
    const struct copy_case *c = &copy_cases[_i];
    char out[64];

    size_t n = text_copy(out, sizeof(out), c->in);
    ck_assert_str_eq(out, c->out);
    ck_assert_uint_eq(n, strlen(c->out));
    ck_assert(utf8_strict_valid(out, n));
}
END_TEST

START_TEST(copy_never_splits_a_character_at_the_bound)
{
    char out[8];
    char hostile[300];

    /* "abcdef" + U+20AC needs 9 bytes; 7 fit. */
    ck_assert_uint_eq(text_copy(out, sizeof(out), "abcdef\xE2\x82\xAC"), 6);
    ck_assert_str_eq(out, "abcdef");
    ck_assert_uint_eq(text_copy(out, sizeof(out), "abcd\xE2\x82\xAC"), 7);
    ck_assert_str_eq(out, "abcd\xE2\x82\xAC");
    /* A replacement does not fit half either. */
    ck_assert_uint_eq(text_copy(out, sizeof(out), "abcde\xFF"), 5);
    /* Invalid bytes triple in size; the cap holds. */
    memset(hostile, 0xFF, sizeof(hostile) - 1);
    hostile[sizeof(hostile) - 1] = '\0';
    ck_assert_uint_eq(text_copy(out, sizeof(out), hostile), 6);
    ck_assert(utf8_strict_valid(out, strlen(out)));
    ck_assert_uint_eq(text_copy(out, 1, "abc"), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(text_copy(out, sizeof(out), NULL), 0);
}
END_TEST

/* Every sequence of one to three bytes, and four-byte ones over every lead
 * and second byte: the validator agrees with the independent decoder. */
START_TEST(validator_agrees_with_a_strict_decoder)
{
    static const unsigned char tails[] = {0x00, 0x7F, 0x80, 0x8F, 0x90,
                                          0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    unsigned char b[4];
    unsigned long disagreements = 0;

    /* Check calls cost too much for 2^24 of them: count, assert once. */
    for (uint32_t v = 0; v < (1u << 24); v++) {
        b[0] = (unsigned char)(v >> 16);
        b[1] = (unsigned char)(v >> 8);
        b[2] = (unsigned char)v;
        disagreements +=
            text_utf8_valid((const char *)b, 3) != utf8_strict_valid((const char *)b, 3);
        if ((v & 0xFF) == 0)
            disagreements +=
                text_utf8_valid((const char *)b, 2) != utf8_strict_valid((const char *)b, 2);
        if ((v & 0xFFFF) == 0)
            disagreements +=
                text_utf8_valid((const char *)b, 1) != utf8_strict_valid((const char *)b, 1);
    }
    for (uint32_t v = 0; v < (1u << 16); v++) {
        b[0] = (unsigned char)(v >> 8);
        b[1] = (unsigned char)v;
        for (size_t i = 0; i < sizeof(tails) * sizeof(tails); i++) {
            b[2] = tails[i / sizeof(tails)];
            b[3] = tails[i % sizeof(tails)];
            disagreements +=
                text_utf8_valid((const char *)b, 4) != utf8_strict_valid((const char *)b, 4);
        }
    }
    ck_assert_uint_eq(disagreements, 0);
}
END_TEST

/* ---- every entry point, checked in the encodings ----------------------- */

/* What a hostile peer could put in a gateway event name, a route, a command
 * name, an error type, a User-Agent's library or a close reason. */
static const char *const hostile[] = {
    "MESSAGE_CREATE\xFF",
    "\xC0\xAF\xE0\x80\xAF\xF0\x80\x80\xAF",
    "\xED\xA0\x80\xED\xBF\xBF",
    "\xF4\x90\x80\x80\xF8\x88\x80\x80\x80",
    "\x80\xBF/channels/\xE2\x82",
    "discord.py \xFE\xFF",
    /* 126 bytes, then a euro sign that crosses REG_VALUE_MAX and
     * SPAN_STR_MAX (128, NUL included) */
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xE2\x82\xAC"),
};
#define N_HOSTILE (sizeof(hostile) / sizeof(hostile[0]))

/* Every string field of a decoded message and its sub-messages, walked
 * through protobuf-c's descriptors so no field can be forgotten. */
static bool strings_valid(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;

    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        const void *const *items = (const void *const *)(base + fd->offset);
        size_t n = 1;

        if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + fd->quantifier_offset);
            items = *(const void *const *const *)(base + fd->offset);
        }
        for (size_t i = 0; i < n; i++) {
            if (items[i] == NULL)
                continue;
            if (fd->type == PROTOBUF_C_TYPE_STRING ? !utf8_strict_valid(items[i], strlen(items[i]))
                                                   : !strings_valid(items[i]))
                return false;
        }
    }
    return true;
}

START_TEST(the_walker_finds_a_bad_string)
{
    Opentelemetry__Proto__Common__V1__AnyValue v =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    Opentelemetry__Proto__Common__V1__KeyValue kv =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;

    kv.key = "k";
    kv.value = &v;
    v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v.string_value = "ok";
    ck_assert(strings_valid(&kv.base));
    v.string_value = "MESSAGE_CREATE\xFF";
    ck_assert(!strings_valid(&kv.base));
}
END_TEST

static void observe_hostile(struct reg_observer *obs, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < N_HOSTILE; i++)
        reg_observe_u64(obs, REG_ATTRS({"reason", hostile[i]}), i);
}

static struct resource test_resource(void)
{
    struct argus_config cfg;
    struct resource res;

    memset(&cfg, 0, sizeof(cfg));
    cfg.service_name = "t";
    resource_build(&res, &cfg);
    return res;
}

/* The registry with every kind of instrument fed hostile values. */
static struct reg *hostile_registry(void)
{
    static const double bounds[] = {1};
    struct reg *r = reg_create(0, "shard-\xFF");
    struct reg_metric *c = reg_counter(r, "discord.events", "", "{event}", REG_NUMBER_U64);
    struct reg_metric *h = reg_histogram(r, "discord.rest.duration", "", "s", bounds, 1);
    struct reg_metric *info = reg_info(r, "discord.bot.info", "");

    ck_assert_ptr_nonnull(reg_gauge(r, "discord.closes", "", "1", REG_NUMBER_U64, REG_F_CLUSTER,
                                    observe_hostile, NULL));
    for (size_t i = 0; i < N_HOSTILE; i++) {
        reg_counter_add(c, REG_ATTRS({"event", hostile[i]}, {"status", hostile[N_HOSTILE - 1 - i]}),
                        1);
        reg_histogram_record(h, REG_ATTRS({"route", hostile[i]}, {"error.type", hostile[i]}), 0.5);
    }
    reg_info_set(info, REG_ATTRS({"library", hostile[5]}, {"command", hostile[1]}));
    return r;
}

START_TEST(registry_values_reach_otlp_and_prometheus_as_utf8)
{
    struct resource res = test_resource();
    struct reg *r = hostile_registry();
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    uint8_t *buf;
    size_t len;

    ck_assert_int_eq(reg_collect(rd, &s), 0);
    ck_assert_uint_ge(s->n_points, 2 * N_HOSTILE + 1);
    for (size_t m = 0; m < s->n_metrics; m++) {
        for (size_t p = 0; p < s->metrics[m].n_points; p++) {
            const struct reg_point *pt = &s->metrics[m].points[p];
            for (unsigned a = 0; a < pt->n_attrs; a++) {
                ck_assert(utf8_strict_valid(pt->attrs[a].value, strlen(pt->attrs[a].value)));
                ck_assert_uint_lt(strlen(pt->attrs[a].value), REG_VALUE_MAX);
            }
        }
    }

    ck_assert_int_eq(otlp_encode_metrics(s, &res, &buf, &len), 0);
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, len, buf);
    ck_assert_ptr_nonnull(req);
    ck_assert(strings_valid(&req->base));
    /* The event name arrives with its bad byte replaced, not lost. */
    ck_assert(memmem(buf, len, "MESSAGE_CREATE" R, strlen("MESSAGE_CREATE" R)) != NULL);
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
        req, NULL);
    free(buf);

    for (int f = PROM_TEXT_0_0_4; f <= PROM_TEXT_OPENMETRICS_1_0; f++) {
        struct prom_text_buf b;
        const struct prom_text_target t = {.resource = &res, .scope_name = "argus"};
        prom_text_buf_init(&b, 1 << 20);
        ck_assert_int_eq(prom_text_render(s, &t, (enum prom_text_format)f, &b), 0);
        ck_assert(utf8_strict_valid(b.data, b.len));
        ck_assert_ptr_nonnull(strstr(b.data, "cluster=\"shard-" R "\""));
        prom_text_buf_fini(&b);
    }
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    ck_assert_int_eq(reg_destroy(r), 0);
}
END_TEST

START_TEST(span_strings_reach_otlp_as_utf8)
{
    static const char *const keys[] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6"};
    struct resource res = test_resource();
    struct span sp;
    uint8_t *buf;
    size_t len;

    span_init(&sp, hostile[N_HOSTILE - 1], SPAN_KIND_CLIENT, 1000);
    span_new_trace_id(sp.trace_id);
    sp.end_unix_ns = 2000;
    for (size_t i = 0; i < N_HOSTILE; i++)
        ck_assert_int_eq(span_set_str(&sp, keys[i], hostile[i]), 0);
    int ev = span_add_event(&sp, 1500, "gateway.close");
    ck_assert_int_ge(ev, 0);
    ck_assert_int_eq(span_event_set_str(&sp, ev, "reason", hostile[4]), 0);
    span_set_status(&sp, SPAN_STATUS_ERROR, hostile[0]);
    ck_assert(utf8_strict_valid(sp.name, strlen(sp.name)));
    ck_assert_uint_lt(strlen(sp.name), SPAN_NAME_MAX);

    ck_assert_int_eq(otlp_encode_spans(&sp, 1, &res, &buf, &len), 0);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len,
                                                                                         buf);
    ck_assert_ptr_nonnull(req);
    ck_assert(strings_valid(&req->base));
    const Opentelemetry__Proto__Trace__V1__Span *out =
        req->resource_spans[0]->scope_spans[0]->spans[0];
    ck_assert_uint_eq(out->n_attributes, N_HOSTILE);
    ck_assert_str_eq(out->attributes[0]->value->string_value, "MESSAGE_CREATE" R);
    ck_assert_str_eq(out->status->message, "MESSAGE_CREATE" R);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
    free(buf);
}
END_TEST

static Suite *text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *copy = tcase_create("copy");
    TCase *entry = tcase_create("entry_points");

    tcase_add_loop_test(copy, copy_replaces_each_invalid_byte, 0,
                        (int)(sizeof(copy_cases) / sizeof(copy_cases[0])));
    tcase_add_test(copy, copy_never_splits_a_character_at_the_bound);
    tcase_add_test(copy, validator_agrees_with_a_strict_decoder);
    tcase_add_test(entry, the_walker_finds_a_bad_string);
    tcase_add_test(entry, registry_values_reach_otlp_and_prometheus_as_utf8);
    tcase_add_test(entry, span_strings_reach_otlp_as_utf8);
    suite_add_tcase(s, copy);
    suite_add_tcase(s, entry);
    return s;
}

int main(void)
{
    return check_run_suite(text_suite());
}
