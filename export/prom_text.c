/*
 * prom_text.c - rendering a snapshot as Prometheus text or OpenMetrics.
 *
 * Design. Rendering appends to one capped buffer and never stops half-way on
 * its own: the first failure (out of memory, cap reached) is kept in the
 * buffer and every later append is a no-op, so the render functions below
 * read as a straight list of what is written, and the caller checks once.
 * Label sets are rebuilt per point from the snapshot's sorted attributes, so
 * values of keys that translate to one label name join in key order.
 *
 * Histogram bounds are printed as prometheus_client prints them ("0.05",
 * "1.0", "+Inf"), which argus-dpy's dashboards already match and Prometheus 3
 * normalises to anyway. Rejected: `_created` samples (Prometheus 2 stores them
 * as separate series, doubling every counter; the specification only says
 * "should").
 */
#include "prom_text.h"

#include "log.h"
#include "prom_name.h"
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_TEXT_MAX_JOINED 4 /* values joined with ';' when label keys collide */

/* ---- the output buffer ------------------------------------------------- */

void prom_text_buf_init(struct prom_text_buf *b, size_t max)
{
    *b = (struct prom_text_buf){.max = max};
}

void prom_text_buf_fini(struct prom_text_buf *b)
{
    free(b->data);
    *b = (struct prom_text_buf){.max = b->max};
}

char *prom_text_buf_take(struct prom_text_buf *b, size_t *len)
{
    char *data = b->data;

    *len = b->len;
    *b = (struct prom_text_buf){.max = b->max};
    return data;
}

static void buf_put(struct prom_text_buf *b, const char *s, size_t len)
{
    if (b->error)
        return;
    if (len > b->max - b->len) {
        b->error = -E2BIG;
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->error = -ENOMEM;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void buf_puts(struct prom_text_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct prom_text_buf *b,
                                                             const char *fmt, ...)
{
    char tmp[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Writes s escaped for a label value or HELP text: '\' and newline always,
 * '"' when quote is set. Label values come from the wire (command names):
 * Prometheus rejects a whole scrape over one invalid UTF-8 byte, so each
 * invalid byte is written as U+FFFD instead. */
static void buf_put_escaped(struct prom_text_buf *b, const char *s, bool quote)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    while (left > 0) {
        size_t run = 0;
        while (run < left && p[run] != '\\' && p[run] != '\n' && !(quote && p[run] == '"') &&
               p[run] < 0x80)
            run++;
        buf_put(b, (const char *)p, run);
        p += run;
        left -= run;
        if (left == 0)
            break;
        size_t seq = text_utf8_seq(p, left);
        if (*p == '\\')
            buf_put(b, "\\\\", 2);
        else if (*p == '\n')
            buf_put(b, "\\n", 2);
        else if (*p == '"')
            buf_put(b, "\\\"", 2);
        else if (seq == 0)
            buf_put(b, TEXT_REPLACEMENT, sizeof(TEXT_REPLACEMENT) - 1);
        else
            buf_put(b, (const char *)p, seq);
        seq = seq != 0 ? seq : 1;
        p += seq;
        left -= seq;
    }
}

/* ---- numbers ----------------------------------------------------------- */

/* The shortest decimal that reads back as v, laid out as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) (Prometheus' own clients): exponent
 * form when the decimal exponent is below -4 or at least 6 ("1e+06"), plain
 * otherwise ("12.5", "100000"). With bound_style, an integral value gets
 * ".0" as prometheus_client writes histogram bounds ("1.0"). NaN and the
 * infinities as Prometheus spells them. */
static void format_double(double v, bool bound_style, char *out, size_t cap)
{
    char sci[40];
    int digits = 17;

    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof(sci), "%.*e", p - 1, v);
        if (strtod(sci, NULL) == v) {
            digits = p;
            break;
        }
    }
    const char *e = strchr(sci, 'e');
    int exp = e ? (int)strtol(e + 1, NULL, 10) : 0;
    int point = exp + 1; /* digits before the decimal point */
    if (exp < -4 || exp >= 6)
        snprintf(out, cap, "%s", sci);
    else
        snprintf(out, cap, "%.*f", digits > point ? digits - point : 0, v);
    if (bound_style && !strpbrk(out, ".eE") && strlen(out) + 3 <= cap)
        strcat(out, ".0");
}

static void buf_put_double(struct prom_text_buf *b, double v)
{
    char tmp[40];

    format_double(v, false, tmp, sizeof(tmp));
    buf_puts(b, tmp);
}

/* ---- label sets -------------------------------------------------------- */

/* One Prometheus label: its translated name and the original values that
 * map to it, joined with ';' in the order of their original keys. */
struct prom_label {
    char name[PROM_NAME_MAX];
    const char *values[PROM_TEXT_MAX_JOINED];
    unsigned n_values;
};

struct label_set {
    struct prom_label *labels;
    unsigned n, cap;
    unsigned dropped; /* keys that do not translate or beyond cap */
};

/* Adds key=value; keys must come in the order of their original keys so that
 * joined values are ordered as the specification requires. */
static void label_set_add(struct label_set *ls, const char *key, const char *value)
{
    char name[PROM_NAME_MAX];

    if (prom_name_label(key, name, sizeof(name)) < 0) {
        ls->dropped++;
        return;
    }
    for (unsigned i = 0; i < ls->n; i++) {
        struct prom_label *l = &ls->labels[i];
        if (strcmp(l->name, name) == 0) {
            if (l->n_values < PROM_TEXT_MAX_JOINED)
                l->values[l->n_values++] = value;
            else
                ls->dropped++;
            return;
        }
    }
    if (ls->n >= ls->cap) {
        ls->dropped++;
        return;
    }
    struct prom_label *l = &ls->labels[ls->n++];
    memcpy(l->name, name, strlen(name) + 1);
    l->values[0] = value;
    l->n_values = 1;
}

/* Writes {a="x",b="y"[,extra]} (nothing when empty); extra_name/extra_value
 * add one last label written as given (le="..."). */
static void buf_put_labels(struct prom_text_buf *b, const struct label_set *ls,
                           const char *extra_name, const char *extra_value)
{
    bool any = false;

    if (ls->n == 0 && !extra_name)
        return;
    buf_put(b, "{", 1);
    for (unsigned i = 0; i < ls->n; i++) {
        const struct prom_label *l = &ls->labels[i];
        if (any)
            buf_put(b, ",", 1);
        buf_puts(b, l->name);
        buf_put(b, "=\"", 2);
        for (unsigned v = 0; v < l->n_values; v++) {
            if (v > 0)
                buf_put(b, ";", 1);
            buf_put_escaped(b, l->values[v], true);
        }
        buf_put(b, "\"", 1);
        any = true;
    }
    if (extra_name) {
        if (any)
            buf_put(b, ",", 1);
        buf_puts(b, extra_name);
        buf_put(b, "=\"", 2);
        buf_puts(b, extra_value);
        buf_put(b, "\"", 1);
    }
    buf_put(b, "}", 1);
}

/* ---- rendering --------------------------------------------------------- */

/* How one registry metric appears: its sample name, its family name (the
 * same in text 0.0.4; without `_total` / `_info` in OpenMetrics) and type. */
struct family {
    char sample[PROM_NAME_MAX];
    char family[PROM_NAME_MAX];
    char unit[PROM_NAME_MAX];
    const char *type; /* counter, gauge, histogram, info */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The name type and TYPE word of a metric; -EINVAL for a delta sum or
 * histogram, which would need re-accumulating (the endpoint's reader is
 * cumulative, so only a hand-made snapshot has one). */
static int family_type(const struct reg_metric_snapshot *m, enum prom_name_type *type,
                       const char **word)
{
    bool sum = m->kind == REG_COUNTER || m->kind == REG_OBSERVABLE_COUNTER;

    if ((sum || m->kind == REG_HISTOGRAM) && m->temporality == REG_TEMPORALITY_DELTA)
        return -EINVAL;
    if (sum) {
        *type = m->monotonic ? PROM_NAME_MONOTONIC_COUNTER : PROM_NAME_NON_MONOTONIC_COUNTER;
        *word = m->monotonic ? "counter" : "gauge";
    } else if (m->kind == REG_HISTOGRAM) {
        *type = PROM_NAME_HISTOGRAM;
        *word = "histogram";
    } else {
        *type = PROM_NAME_GAUGE;
        *word = "gauge";
    }
    return 0;
}

/* OpenMetrics names the family without the sample suffix: counter `x` has
 * sample `x_total`, info `x` has sample `x_info` (an OTLP gauge of 1 is
 * exposed as an info only when the registry says it is one and its name
 * already ends in _info, so the sample name is the same as in text format
 * and through the Collector). UNIT must be a suffix of the family name
 * (OpenMetrics §4.1), or it is left out. */
static void openmetrics_family(const struct reg_metric_snapshot *m, struct family *f)
{
    size_t len = strlen(f->family), ulen = strlen(f->unit);

    if (strcmp(f->type, "counter") == 0 && ends_with(f->family, "_total")) {
        len -= 6;
        f->family[len] = '\0';
    } else if (m->kind == REG_INFO && ends_with(f->family, "_info") && len > 5) {
        len -= 5;
        f->family[len] = '\0';
        f->type = "info";
    }
    if (ulen > 0 &&
        !(ends_with(f->family, f->unit) && len > ulen && f->family[len - ulen - 1] == '_'))
        f->unit[0] = '\0';
}

static int family_of(const struct reg_metric_snapshot *m, enum prom_text_format format,
                     struct family *f)
{
    enum prom_name_type type;
    int rc = family_type(m, &type, &f->type);

    if (rc < 0)
        goto out;
    rc = prom_name_metric(m->name, m->unit, type, f->sample, sizeof(f->sample));
    if (rc < 0)
        goto out;
    memcpy(f->family, f->sample, (size_t)rc + 1);
    if (prom_name_unit(m->unit, f->unit, sizeof(f->unit)) < 0)
        f->unit[0] = '\0';
    if (format == PROM_TEXT_OPENMETRICS_1_0)
        openmetrics_family(m, f);
    rc = 0;
out:
    return rc;
}

static void put_header(struct prom_text_buf *b, enum prom_text_format format, const char *family,
                       const char *type, const char *unit, const char *help)
{
    if (format == PROM_TEXT_OPENMETRICS_1_0) {
        buf_printf(b, "# TYPE %s %s\n", family, type);
        if (unit && unit[0])
            buf_printf(b, "# UNIT %s %s\n", family, unit);
    }
    buf_printf(b, "# HELP %s ", family);
    /* OpenMetrics also escapes '"' in HELP; text 0.0.4 does not. */
    buf_put_escaped(b, help, format == PROM_TEXT_OPENMETRICS_1_0);
    buf_put(b, "\n", 1);
    if (format == PROM_TEXT_0_0_4)
        buf_printf(b, "# TYPE %s %s\n", family, type);
}

static void put_number(struct prom_text_buf *b, const struct reg_metric_snapshot *m,
                       const struct reg_point *pt)
{
    if (m->kind == REG_INFO)
        buf_put(b, "1", 1);
    else if (m->number == REG_NUMBER_U64)
        buf_printf(b, "%" PRIu64, pt->value.u64);
    else
        buf_put_double(b, pt->value.dbl);
}

static void put_histogram(struct prom_text_buf *b, const struct reg_metric_snapshot *m,
                          const struct reg_point *pt, const struct family *f,
                          const struct label_set *ls)
{
    uint64_t cumulative = 0;
    char le[40];

    for (unsigned i = 0; i < m->n_bounds; i++) {
        cumulative += pt->bucket_counts[i];
        format_double(m->bounds[i], true, le, sizeof(le));
        buf_printf(b, "%s_bucket", f->sample);
        buf_put_labels(b, ls, "le", le);
        buf_printf(b, " %" PRIu64 "\n", cumulative);
    }
    buf_printf(b, "%s_bucket", f->sample);
    buf_put_labels(b, ls, "le", "+Inf");
    buf_printf(b, " %" PRIu64 "\n", pt->count);
    /* Only a non-negative sum is monotonic, the condition for `_sum`
     * ("OTLP Metric points to Prometheus", Histograms). */
    if (pt->sum >= 0) {
        buf_printf(b, "%s_sum", f->sample);
        buf_put_labels(b, ls, NULL, NULL);
        buf_put(b, " ", 1);
        buf_put_double(b, pt->sum);
        buf_put(b, "\n", 1);
    }
    buf_printf(b, "%s_count", f->sample);
    buf_put_labels(b, ls, NULL, NULL);
    buf_printf(b, " %" PRIu64 "\n", pt->count);
}

static void put_target_info(struct prom_text_buf *b, const struct prom_text_target *t,
                            enum prom_text_format format, struct label_set *ls)
{
    const struct resource *res = t->resource;
    char ints[RESOURCE_MAX_ATTRS][24];
    unsigned order[RESOURCE_MAX_ATTRS];
    unsigned n = res->n_attrs < RESOURCE_MAX_ATTRS ? res->n_attrs : RESOURCE_MAX_ATTRS;

    if (n == 0)
        return;
    /* Colliding keys join in the order of their original keys. */
    for (unsigned i = 0; i < n; i++) {
        unsigned j = i;
        while (j > 0 && strcmp(res->attrs[order[j - 1]].key, res->attrs[i].key) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    ls->n = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct resource_attr *a = &res->attrs[order[i]];
        const char *value = a->value;
        if (a->is_int) {
            snprintf(ints[i], sizeof(ints[i]), "%" PRId64, a->int_value);
            value = ints[i];
        }
        label_set_add(ls, a->key, value);
    }
    if (format == PROM_TEXT_OPENMETRICS_1_0)
        put_header(b, format, "target", "info", NULL, "Target metadata");
    else
        put_header(b, format, "target_info", "gauge", NULL, "Target metadata");
    buf_puts(b, "target_info");
    buf_put_labels(b, ls, NULL, NULL);
    buf_put(b, " 1\n", 3);
}

/* One render's state: where it writes, what it renders with, and the sample
 * names already used, so a colliding metric is dropped whole rather than
 * exposing two TYPE lines for one name. */
struct render {
    struct prom_text_buf *out;
    const struct prom_text_target *t;
    enum prom_text_format format;
    struct label_set ls;  /* rebuilt for each point */
    struct family family; /* of the metric being rendered */
    char (*seen)[PROM_NAME_MAX];
    unsigned n_seen;
};

static bool family_seen(const struct render *r, const char *name)
{
    for (unsigned i = 0; i < r->n_seen; i++) {
        if (strcmp(r->seen[i], name) == 0)
            return true;
    }
    return false;
}

/* The point's labels: its attributes, the overflow marker, the scope. */
static void point_labels(struct render *r, const struct reg_point *pt)
{
    r->ls.n = 0;
    for (unsigned a = 0; a < pt->n_attrs; a++)
        label_set_add(&r->ls, pt->attrs[a].key, pt->attrs[a].value);
    if (pt->overflow)
        label_set_add(&r->ls, REG_OVERFLOW_KEY, "true");
    if (r->t && r->t->scope_name)
        label_set_add(&r->ls, "otel_scope_name", r->t->scope_name);
    if (r->t && r->t->scope_version)
        label_set_add(&r->ls, "otel_scope_version", r->t->scope_version);
}

static void put_point(struct render *r, const struct reg_metric_snapshot *m,
                      const struct reg_point *pt)
{
    point_labels(r, pt);
    if (m->kind == REG_HISTOGRAM) {
        put_histogram(r->out, m, pt, &r->family, &r->ls);
        return;
    }
    buf_puts(r->out, r->family.sample);
    buf_put_labels(r->out, &r->ls, NULL, NULL);
    buf_put(r->out, " ", 1);
    put_number(r->out, m, pt);
    buf_put(r->out, "\n", 1);
}

/* One metric's family: header and samples, or nothing (said once) when it
 * has no Prometheus form or its name is taken. */
static void put_metric(struct render *r, const struct reg_metric_snapshot *m)
{
    static atomic_bool said_collision, said_untranslatable;
    struct family *f = &r->family;

    if (family_of(m, r->format, f) < 0) {
        argus_log_once(&said_untranslatable, ARGUS_LOG_WARN,
                       "%s: metric %s has no Prometheus form; /metrics leaves it out", __func__,
                       m->name);
        return;
    }
    if (family_seen(r, f->sample)) {
        argus_log_once(&said_collision, ARGUS_LOG_WARN,
                       "%s: metric %s has the same Prometheus name (%s) as an earlier "
                       "one; /metrics leaves it out",
                       __func__, m->name, f->sample);
        return;
    }
    memcpy(r->seen[r->n_seen++], f->sample, strlen(f->sample) + 1);
    put_header(r->out, r->format, f->family, f->type, f->unit,
               m->description && m->description[0] ? m->description : m->name);
    for (size_t p = 0; p < m->n_points; p++)
        put_point(r, m, &m->points[p]);
}

int prom_text_render(const struct reg_snapshot *s, const struct prom_text_target *t,
                     enum prom_text_format format, struct prom_text_buf *out)
{
    struct render *r = calloc(1, sizeof(*r));
    int rc = -ENOMEM;

    if (r == NULL)
        goto out;
    *r = (struct render){.out = out, .t = t, .format = format};
    r->seen = calloc((s ? s->n_metrics : 0) + 1, sizeof(*r->seen));
    r->ls.cap = RESOURCE_MAX_ATTRS > REG_MAX_ATTRS + 3 ? RESOURCE_MAX_ATTRS : REG_MAX_ATTRS + 3;
    r->ls.labels = calloc(r->ls.cap, sizeof(*r->ls.labels));
    if (!r->seen || !r->ls.labels)
        goto out;

    if (t && t->resource) {
        put_target_info(out, t, format, &r->ls);
        memcpy(r->seen[r->n_seen++], "target_info", sizeof("target_info"));
    }
    for (size_t i = 0; s && i < s->n_metrics; i++)
        put_metric(r, &s->metrics[i]);
    if (format == PROM_TEXT_OPENMETRICS_1_0)
        buf_puts(out, "# EOF\n");
    rc = out->error;
out:
    if (r != NULL) {
        free(r->ls.labels);
        free(r->seen);
    }
    free(r);
    return rc;
}
