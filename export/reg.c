/*
 * reg.c - the metric registry: definitions and recording (reg_impl.h has the
 * design; reg_collect.c reads it out).
 */
#include "reg.h"

#include "reg_impl.h"
#include "text.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- attribute sets ----------------------------------------------------- */

struct norm_attrs {
    unsigned n;
    struct reg_attr a[REG_MAX_ATTRS]; /* values point into text */
    size_t len[REG_MAX_ATTRS];
    char text[REG_MAX_ATTRS][REG_VALUE_MAX]; /* in arrival order, never moved */
};

/* Sorts by key, drops NULL keys/values and repeated keys (the first wins), and
 * keeps room for `cluster`. Values come from the wire (command names, route
 * templates, error types), so this is where they become valid UTF-8 and
 * bounded (text.h): before hashing, so two values that differ only in
 * invalid bytes share one series, and no series ever holds a bad byte. */
static void attrs_normalize(const struct reg_attr *in, unsigned n_in, struct norm_attrs *out)
{
    out->n = 0;
    for (unsigned i = 0; i < n_in && out->n < REG_MAX_ATTRS - 1; i++) {
        if (in[i].key == NULL || in[i].value == NULL)
            continue;
        unsigned pos = out->n;
        bool dup = false;
        while (pos > 0) {
            int c = strcmp(out->a[pos - 1].key, in[i].key);
            if (c == 0)
                dup = true;
            if (c <= 0)
                break;
            pos--;
        }
        if (dup)
            continue;
        memmove(&out->a[pos + 1], &out->a[pos], (out->n - pos) * sizeof(out->a[0]));
        memmove(&out->len[pos + 1], &out->len[pos], (out->n - pos) * sizeof(out->len[0]));
        out->len[pos] = text_copy(out->text[out->n], REG_VALUE_MAX, in[i].value);
        out->a[pos] = (struct reg_attr){in[i].key, out->text[out->n]};
        out->n++;
    }
}

static uint64_t attrs_hash(const struct norm_attrs *na)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (unsigned i = 0; i < na->n; i++) {
        for (const char *k = na->a[i].key; *k; k++)
            h = (h ^ (uint8_t)*k) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
        for (size_t j = 0; j < na->len[i]; j++)
            h = (h ^ (uint8_t)na->a[i].value[j]) * 1099511628211ull;
        h = (h ^ 0xfe) * 1099511628211ull;
    }
    return h;
}

static bool series_matches(const struct reg_series *s, const struct norm_attrs *na, uint64_t h)
{
    if (s->overflow || s->hash != h || s->n_attrs != na->n)
        return false;
    for (unsigned i = 0; i < na->n; i++) {
        if (strcmp(s->attrs[i].key, na->a[i].key) != 0)
            return false;
        if (strlen(s->attrs[i].value) != na->len[i] ||
            memcmp(s->attrs[i].value, na->a[i].value, na->len[i]) != 0)
            return false;
    }
    return true;
}

/* ---- series table (under reg->lock) ------------------------------------- */

static struct reg_series *series_alloc_unlocked(const struct reg_metric *m,
                                                const struct norm_attrs *na, uint64_t h)
{
    size_t n_buckets = m->kind == REG_HISTOGRAM ? m->n_bounds + 1 : 0;
    size_t strings = 0;
    for (unsigned i = 0; na != NULL && i < na->n; i++)
        strings += na->len[i] + 1;
    struct reg_series *s = calloc(1, sizeof(*s) + n_buckets * sizeof(uint64_t) + strings);
    if (s == NULL)
        return NULL;
    char *str = (char *)&s->buckets[n_buckets];
    for (unsigned i = 0; na != NULL && i < na->n; i++) {
        memcpy(str, na->a[i].value, na->len[i]);
        str[na->len[i]] = '\0';
        s->attrs[i].key = na->a[i].key;
        s->attrs[i].value = str;
        str += na->len[i] + 1;
    }
    s->n_attrs = na != NULL ? na->n : 0;
    s->hash = h;
    for (unsigned i = 0; i < REG_SLOTS; i++) {
        s->min[i] = INFINITY;
        s->max[i] = -INFINITY;
    }
    return s;
}

static int index_grow_unlocked(struct reg_metric *m)
{
    uint32_t n = m->n_index_slots ? m->n_index_slots * 2 : 16;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->n_series; i++) {
        if (m->series[i]->overflow)
            continue;
        uint32_t j = (uint32_t)m->series[i]->hash & (n - 1);
        while (slots[j] != 0)
            j = (j + 1) & (n - 1);
        slots[j] = i + 1;
    }
    free(m->index_slots);
    m->index_slots = slots;
    m->n_index_slots = n;
    return 0;
}

static int series_append_unlocked(struct reg_metric *m, struct reg_series *s)
{
    if (m->n_series == m->cap_series) {
        uint32_t cap = m->cap_series ? m->cap_series * 2 : 8;
        struct reg_series **grown = realloc(m->series, cap * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        m->series = grown;
        m->cap_series = cap;
    }
    m->series[m->n_series++] = s;
    return 0;
}

/* Returns the series for the attribute set, creating it (or routing to the
 * overflow series) as needed; NULL only when out of memory. */
static struct reg_series *series_get_unlocked(struct reg_metric *m, const struct reg_attr *attrs,
                                              unsigned n_attrs, uint64_t now_ns)
{
    struct norm_attrs na;
    attrs_normalize(attrs, n_attrs, &na);
    uint64_t h = attrs_hash(&na);
    if (m->n_index_slots != 0) {
        uint32_t mask = m->n_index_slots - 1;
        for (uint32_t j = (uint32_t)h & mask; m->index_slots[j] != 0; j = (j + 1) & mask) {
            struct reg_series *s = m->series[m->index_slots[j] - 1];
            if (series_matches(s, &na, h))
                return s;
        }
    }
    /* A new attribute set. One series is kept back for the overflow. */
    uint32_t regular = m->n_series - (m->overflow_index >= 0 ? 1 : 0);
    if (regular >= m->reg->max_series - 1) {
        if (m->overflow_index >= 0)
            return m->series[m->overflow_index];
        struct reg_series *o = series_alloc_unlocked(m, NULL, 0);
        if (o == NULL)
            return NULL;
        o->overflow = true;
        o->start_ns = now_ns;
        if (series_append_unlocked(m, o) != 0) {
            free(o);
            return NULL;
        }
        m->overflow_index = (int32_t)(m->n_series - 1);
        return o;
    }
    if ((regular + 1) * 2 > m->n_index_slots && index_grow_unlocked(m) != 0)
        return NULL;
    struct reg_series *s = series_alloc_unlocked(m, &na, h);
    if (s == NULL)
        return NULL;
    s->start_ns = now_ns;
    if (series_append_unlocked(m, s) != 0) {
        free(s);
        return NULL;
    }
    uint32_t mask = m->n_index_slots - 1;
    uint32_t j = (uint32_t)h & mask;
    while (m->index_slots[j] != 0)
        j = (j + 1) & mask;
    m->index_slots[j] = m->n_series;
    return s;
}

/* ---- registry ------------------------------------------------------------ */

struct reg *reg_create(uint32_t max_series, const char *cluster)
{
    struct reg *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->collect_lock, NULL);
    r->max_series = max_series == 0 ? REG_DEFAULT_MAX_SERIES : max_series < 2 ? 2 : max_series;
    /* cluster is a label on every series: valid UTF-8 like any value. */
    r->cluster = malloc(REG_VALUE_MAX);
    r->created_ns = clock_now_ns(CLOCK_REALTIME);
    if (r->cluster != NULL)
        text_copy(r->cluster, REG_VALUE_MAX, cluster != NULL ? cluster : "default");
    if (r->cluster == NULL) {
        reg_destroy(r);
        return NULL;
    }
    return r;
}

static void metric_free(struct reg_metric *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->n_series; i++)
        free(m->series[i]);
    free(m->series);
    free(m->index_slots);
    free(m->name);
    free(m->description);
    free(m->unit);
    free(m);
}

int reg_destroy(struct reg *r)
{
    if (r == NULL)
        return 0;
    if (r->n_readers != 0)
        return -EBUSY;
    for (unsigned i = 0; i < r->n_metrics; i++)
        metric_free(r->metrics[i]);
    free(r->cluster);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->collect_lock);
    free(r);
    return 0;
}

/* OpenTelemetry instrument name syntax: a letter, then letters, digits and
 * _ . - /, at most 255 characters. */
static bool name_valid(const char *name)
{
    if (name == NULL || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return false;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-' || c == '/';
        if (!ok || n >= REG_NAME_MAX - 1)
            return false;
    }
    return true;
}

/* What a definition sets besides the names; everything is in place before
 * the metric is published in r->metrics, so a concurrent reader never sees a
 * half-defined instrument. */
struct metric_shape {
    enum reg_kind kind;
    enum reg_number number;
    unsigned flags;
    const double *bounds;
    unsigned n_bounds;
    reg_observe_fn fn;
    void *fn_arg;
};

static struct reg_metric *metric_define(struct reg *r, const char *name, const char *description,
                                        const char *unit, const struct metric_shape *shape)
{
    struct reg_metric *m = NULL;
    if (r == NULL || !name_valid(name))
        return NULL;
    pthread_mutex_lock(&r->lock);
    if (r->n_metrics == REG_MAX_METRICS)
        goto out;
    for (unsigned i = 0; i < r->n_metrics; i++) {
        if (strcasecmp(r->metrics[i]->name, name) == 0)
            goto out;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto out;
    m->reg = r;
    m->kind = shape->kind;
    m->number = shape->number;
    m->flags = shape->flags;
    if (shape->n_bounds > 0)
        memcpy(m->bounds, shape->bounds, shape->n_bounds * sizeof(double));
    m->n_bounds = shape->n_bounds;
    m->fn = shape->fn;
    m->fn_arg = shape->fn_arg;
    m->overflow_index = -1;
    m->defined_ns = clock_now_ns(CLOCK_REALTIME);
    m->name = strdup(name);
    m->description = strdup(description != NULL ? description : "");
    m->unit = strdup(unit != NULL ? unit : "");
    if (m->name == NULL || m->description == NULL || m->unit == NULL) {
        metric_free(m);
        m = NULL;
        goto out;
    }
    m->index = r->n_metrics;
    r->metrics[r->n_metrics++] = m;
out:
    pthread_mutex_unlock(&r->lock);
    return m;
}

struct reg_metric *reg_counter(struct reg *r, const char *name, const char *description,
                               const char *unit, enum reg_number number)
{
    const struct metric_shape shape = {
        .kind = REG_COUNTER, .number = number, .flags = REG_F_CLUSTER};
    return metric_define(r, name, description, unit, &shape);
}

struct reg_metric *reg_histogram(struct reg *r, const char *name, const char *description,
                                 const char *unit, const double *bounds, unsigned n_bounds)
{
    if (n_bounds > REG_MAX_BOUNDS || (n_bounds > 0 && bounds == NULL))
        return NULL;
    for (unsigned i = 0; i < n_bounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return NULL;
    }
    const struct metric_shape shape = {.kind = REG_HISTOGRAM,
                                       .number = REG_NUMBER_DOUBLE,
                                       .flags = REG_F_CLUSTER,
                                       .bounds = bounds,
                                       .n_bounds = n_bounds};
    return metric_define(r, name, description, unit, &shape);
}

/* Gauges and observable counters: defined alike, told apart by kind. */
static struct reg_metric *async_define(struct reg *r, enum reg_kind kind, const char *name,
                                       const char *description, const char *unit,
                                       enum reg_number number, unsigned flags, reg_observe_fn fn,
                                       void *arg)
{
    const struct metric_shape shape = {
        .kind = kind, .number = number, .flags = flags, .fn = fn, .fn_arg = arg};
    return fn != NULL ? metric_define(r, name, description, unit, &shape) : NULL;
}

struct reg_metric *reg_gauge(struct reg *r, const char *name, const char *description,
                             const char *unit, enum reg_number number, unsigned flags,
                             reg_observe_fn fn, void *arg)
{
    return async_define(r, REG_GAUGE, name, description, unit, number, flags, fn, arg);
}

struct reg_metric *reg_observable_counter(struct reg *r, const char *name, const char *description,
                                          const char *unit, enum reg_number number, unsigned flags,
                                          reg_observe_fn fn, void *arg)
{
    return async_define(r, REG_OBSERVABLE_COUNTER, name, description, unit, number, flags, fn, arg);
}

struct reg_metric *reg_info(struct reg *r, const char *name, const char *description)
{
    const struct metric_shape shape = {.kind = REG_INFO, .number = REG_NUMBER_U64};
    return metric_define(r, name, description, "", &shape);
}

/* ---- recording ----------------------------------------------------------- */

void reg_counter_add(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                     uint64_t value)
{
    if (m == NULL || m->kind != REG_COUNTER)
        return;
    uint64_t now = clock_now_ns(CLOCK_REALTIME);
    pthread_mutex_lock(&m->reg->lock);
    struct reg_series *s = series_get_unlocked(m, attrs, n_attrs, now);
    if (s != NULL && m->number == REG_NUMBER_U64)
        s->value.u64 += value;
    else if (s != NULL)
        s->value.dbl += (double)value;
    pthread_mutex_unlock(&m->reg->lock);
}

/* The bucket of v: the first i with v <= bounds[i], else the last (+Inf). */
static unsigned bucket_of(const struct reg_metric *m, double v)
{
    unsigned lo = 0, hi = m->n_bounds;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void reg_histogram_record(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                          double value)
{
    if (m == NULL || m->kind != REG_HISTOGRAM || !isfinite(value))
        return;
    uint64_t now = clock_now_ns(CLOCK_REALTIME);
    pthread_mutex_lock(&m->reg->lock);
    struct reg_series *s = series_get_unlocked(m, attrs, n_attrs, now);
    if (s != NULL) {
        s->count++;
        s->sum += value;
        s->buckets[bucket_of(m, value)]++;
        for (unsigned i = 0; i < REG_SLOTS; i++) {
            if (value < s->min[i])
                s->min[i] = value;
            if (value > s->max[i])
                s->max[i] = value;
        }
    }
    pthread_mutex_unlock(&m->reg->lock);
}

void reg_info_set(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs)
{
    if (m == NULL || m->kind != REG_INFO)
        return;
    struct norm_attrs na;
    attrs_normalize(attrs, n_attrs, &na);
    uint64_t now = clock_now_ns(CLOCK_REALTIME);
    pthread_mutex_lock(&m->reg->lock);
    struct reg_series *s = series_alloc_unlocked(m, &na, attrs_hash(&na));
    if (s != NULL) {
        s->start_ns = now;
        s->value.u64 = 1;
        if (m->n_series != 0) {
            /* An info has one series; replacing it keeps index 0 stable. */
            free(m->series[0]);
            m->series[0] = s;
        } else if (series_append_unlocked(m, s) != 0) {
            free(s);
        }
    }
    pthread_mutex_unlock(&m->reg->lock);
}

static void observe(struct reg_observer *obs, const struct reg_attr *attrs, unsigned n_attrs,
                    uint64_t u, double d, bool is_double)
{
    if (obs == NULL || obs->m == NULL)
        return;
    if (is_double && !isfinite(d))
        return;
    struct reg_metric *m = obs->m;
    uint64_t now = clock_now_ns(CLOCK_REALTIME);
    pthread_mutex_lock(&m->reg->lock);
    struct reg_series *s = series_get_unlocked(m, attrs, n_attrs, now);
    if (s != NULL) {
        bool accumulate = s->overflow && s->observed_gen == obs->gen;
        if (m->number == REG_NUMBER_U64) {
            uint64_t v = is_double ? (d > 0 ? (uint64_t)d : 0) : u;
            s->value.u64 = accumulate ? s->value.u64 + v : v;
        } else {
            double v = is_double ? d : (double)u;
            s->value.dbl = accumulate ? s->value.dbl + v : v;
        }
        s->observed_gen = obs->gen;
    }
    pthread_mutex_unlock(&m->reg->lock);
}

void reg_observe(struct reg_observer *obs, const struct reg_attr *attrs, unsigned n_attrs,
                 double value)
{
    observe(obs, attrs, n_attrs, 0, value, true);
}

void reg_observe_u64(struct reg_observer *obs, const struct reg_attr *attrs, unsigned n_attrs,
                     uint64_t value)
{
    observe(obs, attrs, n_attrs, value, 0, false);
}
