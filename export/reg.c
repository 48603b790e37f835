/*
 * reg.c - the metric registry.
 *
 * Design. One mutex guards all cumulative state. A writer takes it for a hash
 * lookup and a few additions; a reader takes it to copy what it needs into its
 * own snapshot arena and releases it before anything slow happens (encoding,
 * network). Readers never hold it across a callback: gauges and observable
 * counters are evaluated first, each sample going through reg_observe(), which
 * takes the mutex briefly to store the observation in the series table. A
 * second mutex (collect_lock) serializes whole collections, so a callback is
 * never run by two readers at once and the observation generation is
 * unambiguous.
 *
 * Series live in a per-metric array (never removed, so an index identifies a
 * series for the life of the registry) with an open-addressing index keyed by
 * the hash of the sorted attribute set. That stable index is what lets a delta
 * reader keep its previous values in plain arrays of its own: it subtracts,
 * the registry never resets anything. The only per-reader state the registry
 * itself must keep is min/max, which cannot be derived from two cumulative
 * snapshots: each histogram series carries one min/max slot for cumulative
 * readers and one per delta reader, the latter reset by its reader.
 *
 * Rejected: a lock-free per-series atomics design. The decode thread is the
 * only writer and readers come every few seconds, so the mutex is almost never
 * contended, and atomics would not give a reader a consistent histogram
 * (count, sum and buckets from one instant).
 */
#include "reg.h"

#include "arena.h"
#include "text.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REG_DEFAULT_MAX_SERIES 2000u
#define REG_SLOTS (1 + REG_MAX_DELTA_READERS) /* min/max slot 0: cumulative readers */

struct reg_series {
    uint64_t hash;
    unsigned n_attrs; /* user attributes, sorted by key; `cluster` is added on output */
    bool overflow;
    struct reg_attr attrs[REG_MAX_ATTRS];
    uint64_t start_ns;     /* first measurement (sync) */
    uint64_t observed_gen; /* async: collection generation of the last observation */
    union reg_value value;
    uint64_t count;
    double sum;
    double min[REG_SLOTS];
    double max[REG_SLOTS];
    /* followed by: uint64_t buckets[n_bounds + 1] (histograms), then the values */
    uint64_t buckets[];
};

struct reg_metric {
    struct reg *reg;
    unsigned index; /* definition order */
    enum reg_kind kind;
    enum reg_number number;
    unsigned flags;
    char *name, *description, *unit;
    double bounds[REG_MAX_BOUNDS];
    unsigned n_bounds;
    reg_observe_fn fn;
    void *fn_arg;
    uint64_t defined_ns;

    struct reg_series **series; /* stable indexes */
    uint32_t n_series, cap_series;
    uint32_t *index_slots;  /* open addressing: series index + 1, 0 = empty */
    uint32_t n_index_slots; /* power of two */
    int32_t overflow_index; /* -1 until the overflow series exists */
};

struct reg {
    pthread_mutex_t lock;
    pthread_mutex_t collect_lock;
    uint32_t max_series;
    char *cluster;
    uint64_t created_ns;
    uint64_t gen; /* collection generation (under collect_lock) */
    struct reg_metric *metrics[REG_MAX_METRICS];
    unsigned n_metrics;
    unsigned n_readers;
    bool delta_slot_used[REG_SLOTS];
};

/* What a delta reader remembers of one series. */
struct prev_point {
    bool seen;
    union reg_value value;
    uint64_t count;
    double sum;
    uint64_t buckets[REG_MAX_BOUNDS + 1];
};

struct reader_metric {
    struct prev_point *prev;
    uint32_t cap;
};

struct reg_reader {
    struct reg *reg;
    enum argus_temporality pref;
    unsigned slot; /* min/max slot: 0 for cumulative readers */
    uint64_t last_ns;
    struct reader_metric per_metric[REG_MAX_METRICS];
};

struct reg_observer {
    struct reg_metric *m;
    uint64_t gen;
};

struct reg_snapshot_impl {
    struct reg_snapshot pub;
    struct arena arena; /* everything the snapshot points to */
};

static uint64_t now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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
    r->created_ns = now_realtime_ns();
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
    m->defined_ns = now_realtime_ns();
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
    uint64_t now = now_realtime_ns();
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
    uint64_t now = now_realtime_ns();
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
    uint64_t now = now_realtime_ns();
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
    uint64_t now = now_realtime_ns();
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

/* ---- readers -------------------------------------------------------------- */

/* Starts min/max slot afresh for every series of the given metrics. */
static void slot_reset_unlocked(struct reg_metric *const *metrics, unsigned n, unsigned slot)
{
    for (unsigned i = 0; i < n; i++) {
        for (uint32_t j = 0; j < metrics[i]->n_series; j++) {
            metrics[i]->series[j]->min[slot] = INFINITY;
            metrics[i]->series[j]->max[slot] = -INFINITY;
        }
    }
}

struct reg_reader *reg_reader_create(struct reg *r, enum argus_temporality pref)
{
    if (r == NULL)
        return NULL;
    struct reg_reader *rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return NULL;
    rd->reg = r;
    rd->pref = pref;
    rd->last_ns = r->created_ns;
    pthread_mutex_lock(&r->lock);
    if (pref != ARGUS_TEMPORALITY_CUMULATIVE) {
        for (unsigned i = 1; i < REG_SLOTS && rd->slot == 0; i++) {
            if (!r->delta_slot_used[i]) {
                r->delta_slot_used[i] = true;
                rd->slot = i;
                slot_reset_unlocked(r->metrics, r->n_metrics, i);
            }
        }
        if (rd->slot == 0) {
            pthread_mutex_unlock(&r->lock);
            free(rd);
            return NULL;
        }
    }
    r->n_readers++;
    pthread_mutex_unlock(&r->lock);
    return rd;
}

void reg_reader_destroy(struct reg_reader *rd)
{
    if (rd == NULL)
        return;
    struct reg *r = rd->reg;
    pthread_mutex_lock(&r->lock);
    if (rd->slot != 0)
        r->delta_slot_used[rd->slot] = false;
    r->n_readers--;
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < REG_MAX_METRICS; i++)
        free(rd->per_metric[i].prev);
    free(rd);
}

static enum reg_temporality temporality_for(const struct reg_reader *rd, enum reg_kind kind)
{
    switch (kind) {
    case REG_COUNTER:
    case REG_HISTOGRAM:
        return rd->pref == ARGUS_TEMPORALITY_CUMULATIVE ? REG_TEMPORALITY_CUMULATIVE
                                                        : REG_TEMPORALITY_DELTA;
    case REG_OBSERVABLE_COUNTER:
        return rd->pref == ARGUS_TEMPORALITY_DELTA ? REG_TEMPORALITY_DELTA
                                                   : REG_TEMPORALITY_CUMULATIVE;
    case REG_GAUGE:
    case REG_INFO:
        break;
    }
    return REG_TEMPORALITY_NONE;
}

/* ---- snapshots ------------------------------------------------------------ */

void reg_snapshot_destroy(struct reg_snapshot *s)
{
    if (s == NULL)
        return;
    struct reg_snapshot_impl *snap = (struct reg_snapshot_impl *)s;
    arena_fini(&snap->arena);
    free(snap);
}

/* ---- collection ----------------------------------------------------------- */

/* Copies a series' attributes (with `cluster` merged in, in key order) into
 * the arena. */
static int point_attrs(struct reg_snapshot_impl *snap, const struct reg_metric *m,
                       const struct reg_series *s, struct reg_point *p)
{
    bool with_cluster = (m->flags & REG_F_CLUSTER) != 0;
    unsigned n = s->n_attrs + (with_cluster ? 1 : 0);
    struct reg_attr *a = arena_alloc(&snap->arena, (n ? n : 1) * sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    unsigned k = 0;
    bool cluster_done = !with_cluster;
    for (unsigned i = 0; i < s->n_attrs; i++) {
        if (!cluster_done && strcmp("cluster", s->attrs[i].key) < 0) {
            a[k++] = (struct reg_attr){"cluster", m->reg->cluster};
            cluster_done = true;
        }
        a[k++] = s->attrs[i];
    }
    if (!cluster_done)
        a[k++] = (struct reg_attr){"cluster", m->reg->cluster};
    for (unsigned i = 0; i < k; i++) {
        char *v = arena_strdup(&snap->arena, a[i].value);
        if (v == NULL)
            return -ENOMEM;
        a[i].value = v;
    }
    p->attrs = a;
    p->n_attrs = k;
    p->overflow = s->overflow;
    return 0;
}

static int reader_reserve(struct reg_reader *rd, const struct reg_metric *m)
{
    struct reader_metric *rm = &rd->per_metric[m->index];
    if (rm->cap >= m->n_series)
        return 0;
    uint32_t cap = m->n_series < 16 ? 16 : m->n_series * 2;
    struct prev_point *grown = realloc(rm->prev, cap * sizeof(*grown));
    if (grown == NULL)
        return -ENOMEM;
    memset(grown + rm->cap, 0, (cap - rm->cap) * sizeof(*grown));
    rm->prev = grown;
    rm->cap = cap;
    return 0;
}

/* Delta values computed during a collection are staged here and committed to
 * the reader only when the whole collection succeeded. */
struct staged {
    struct prev_point *p;
    struct prev_point next;
};

/* One reader's collection in progress (under reg->lock): where points go and
 * what a delta reader will remember if it succeeds. */
struct collection {
    struct reg_reader *rd;
    struct reg_snapshot_impl *snap;
    uint64_t gen; /* observations of this generation are this collection's */
    uint64_t now;
    struct staged *staged;
    size_t n_staged, cap_staged;
};

/* What a point of one series needs besides the series itself. */
struct point_ctx {
    const struct collection *c;
    const struct reg_metric *m;
    bool delta;
    uint64_t interval_start; /* delta points and gauges start here */
    struct prev_point *prev; /* delta: what the reader saw last time */
    struct prev_point *next; /* delta: what it will remember */
};

/* Each of the point functions below fills p from s and returns 1 when the
 * point is reported, 0 when a delta reader has nothing new to report, or
 * -ENOMEM. */

/* Gauges and infos: the value now, over the reader's interval. */
static int gauge_point(const struct point_ctx *x, const struct reg_series *s, struct reg_point *p)
{
    memcpy(&p->value, &s->value, sizeof(p->value));
    p->start_ns = x->interval_start;
    return 1;
}

/* Counters and observable counters. A cumulative point starts at the
 * series' first measurement (counter) or the definition (observable); a delta
 * point is the increase since the reader's previous collection, and an
 * observable count that went down was reset, so it is reported whole. A
 * counter that did not move has no delta point. */
static int sum_point(const struct point_ctx *x, const struct reg_series *s, struct reg_point *p)
{
    const struct reg_metric *m = x->m;
    bool sync = m->kind == REG_COUNTER;

    memcpy(&p->value, &s->value, sizeof(p->value));
    p->start_ns = sync ? s->start_ns : m->defined_ns;
    if (!x->delta)
        return 1;
    memcpy(&x->next->value, &s->value, sizeof(x->next->value));
    p->start_ns = x->interval_start;
    if (m->number == REG_NUMBER_U64) {
        uint64_t before = x->prev->seen ? x->prev->value.u64 : 0;
        p->value.u64 = s->value.u64 >= before ? s->value.u64 - before : s->value.u64;
        return !(sync && p->value.u64 == 0);
    }
    double before = x->prev->seen ? x->prev->value.dbl : 0;
    p->value.dbl = s->value.dbl >= before ? s->value.dbl - before : s->value.dbl;
    return !(sync && s->value.dbl == before);
}

/* Histograms: buckets copied into the snapshot, min/max from this reader's
 * slot; a delta point subtracts what the reader saw and is left out when
 * nothing was recorded since. */
static int histogram_point(const struct point_ctx *x, const struct reg_series *s,
                           struct reg_point *p)
{
    const struct reg_metric *m = x->m;
    size_t n_buckets = m->n_bounds + 1;
    uint64_t *buckets = arena_alloc(&x->c->snap->arena, n_buckets * sizeof(uint64_t));

    if (buckets == NULL)
        return -ENOMEM;
    memcpy(buckets, s->buckets, n_buckets * sizeof(uint64_t));
    p->bucket_counts = buckets;
    p->count = s->count;
    p->sum = s->sum;
    p->min = s->min[x->c->rd->slot];
    p->max = s->max[x->c->rd->slot];
    p->start_ns = s->start_ns;
    if (!x->delta)
        return 1;
    x->next->count = s->count;
    x->next->sum = s->sum;
    memcpy(x->next->buckets, s->buckets, n_buckets * sizeof(uint64_t));
    if (x->prev->seen) {
        p->count -= x->prev->count;
        p->sum -= x->prev->sum;
        for (size_t b = 0; b < n_buckets; b++)
            buckets[b] -= x->prev->buckets[b];
    }
    p->start_ns = x->interval_start;
    return p->count != 0;
}

static int kind_point(const struct point_ctx *x, const struct reg_series *s, struct reg_point *p)
{
    switch (x->m->kind) {
    case REG_COUNTER:
    case REG_OBSERVABLE_COUNTER:
        return sum_point(x, s, p);
    case REG_HISTOGRAM:
        return histogram_point(x, s, p);
    case REG_GAUGE:
    case REG_INFO:
        break;
    }
    return gauge_point(x, s, p);
}

/* The metric's own fields, copied into the snapshot. */
static int describe_metric(struct collection *c, const struct reg_metric *m,
                           struct reg_metric_snapshot *out)
{
    struct arena *a = &c->snap->arena;

    memset(out, 0, sizeof(*out));
    out->kind = m->kind;
    out->number = m->number;
    out->temporality = temporality_for(c->rd, m->kind);
    out->monotonic = m->kind == REG_COUNTER || m->kind == REG_OBSERVABLE_COUNTER;
    out->name = arena_strdup(a, m->name);
    out->description = arena_strdup(a, m->description);
    out->unit = arena_strdup(a, m->unit);
    if (out->name == NULL || out->description == NULL || out->unit == NULL)
        return -ENOMEM;
    if (m->kind != REG_HISTOGRAM)
        return 0;
    double *b = arena_alloc(a, (m->n_bounds ? m->n_bounds : 1) * sizeof(double));
    if (b == NULL)
        return -ENOMEM;
    memcpy(b, m->bounds, m->n_bounds * sizeof(double));
    out->bounds = b;
    out->n_bounds = m->n_bounds;
    return 0;
}

/* Room to stage a delta state for every series of m. */
static int stage_reserve(struct collection *c, const struct reg_metric *m)
{
    if (c->n_staged + m->n_series <= c->cap_staged)
        return 0;
    size_t cap = (c->n_staged + m->n_series) * 2;
    struct staged *g = realloc(c->staged, cap * sizeof(*g));
    if (g == NULL)
        return -ENOMEM;
    c->staged = g;
    c->cap_staged = cap;
    return 0;
}

/* One point per series this collection reports: async series only when
 * observed in this generation, delta series only when they changed. */
static int collect_points_unlocked(struct collection *c, const struct reg_metric *m, bool delta,
                                   struct reg_point *points, size_t *n_points)
{
    bool is_async = m->kind == REG_GAUGE || m->kind == REG_OBSERVABLE_COUNTER;
    struct point_ctx x = {.c = c, .m = m, .delta = delta};
    int rc = 0;

    x.interval_start = c->rd->last_ns > m->defined_ns ? c->rd->last_ns : m->defined_ns;
    *n_points = 0;
    for (uint32_t i = 0; i < m->n_series; i++) {
        const struct reg_series *s = m->series[i];
        struct reg_point *p = &points[*n_points];
        struct prev_point next = {.seen = true};

        if (is_async && s->observed_gen != c->gen)
            continue;
        *p = (struct reg_point){.time_ns = c->now};
        rc = point_attrs(c->snap, m, s, p);
        if (rc != 0)
            goto out;
        x.prev = delta ? &c->rd->per_metric[m->index].prev[i] : NULL;
        x.next = &next;
        rc = kind_point(&x, s, p);
        if (rc < 0)
            goto out;
        if (rc == 0)
            continue;
        if (delta)
            c->staged[c->n_staged++] = (struct staged){.p = x.prev, .next = next};
        (*n_points)++;
    }
    rc = 0;
out:
    return rc;
}

static int collect_metric_unlocked(struct collection *c, struct reg_metric *m,
                                   struct reg_metric_snapshot *out)
{
    bool delta = temporality_for(c->rd, m->kind) == REG_TEMPORALITY_DELTA;
    struct reg_point *points;
    int rc = describe_metric(c, m, out);

    if (rc != 0 || m->n_series == 0)
        goto out;
    rc = -ENOMEM;
    if (delta && reader_reserve(c->rd, m) != 0)
        goto out;
    if (stage_reserve(c, m) != 0)
        goto out;
    points = arena_alloc(&c->snap->arena, m->n_series * sizeof(*points));
    if (points == NULL)
        goto out;
    rc = collect_points_unlocked(c, m, delta, points, &out->n_points);
    out->points = points;
out:
    return rc;
}

/* Gauges and observable counters report through reg_observe*, which takes
 * the registry mutex itself: so this runs without it (collect_lock held). */
static void run_callbacks(struct reg_metric *const *metrics, unsigned n, uint64_t gen)
{
    for (unsigned i = 0; i < n; i++) {
        if (metrics[i]->fn != NULL) {
            struct reg_observer obs = {.m = metrics[i], .gen = gen};
            metrics[i]->fn(&obs, metrics[i]->fn_arg);
        }
    }
}

/* Every metric with a point goes into the snapshot, in definition order. */
static int snapshot_fill_unlocked(struct collection *c, struct reg_metric *const *metrics,
                                  unsigned n_metrics)
{
    struct reg_snapshot *pub = &c->snap->pub;
    struct reg_metric_snapshot *ms =
        arena_alloc(&c->snap->arena, (n_metrics ? n_metrics : 1) * sizeof(*ms));
    int rc = -ENOMEM;

    if (ms == NULL)
        goto out;
    pub->time_ns = c->now;
    pub->metrics = ms;
    for (unsigned i = 0; i < n_metrics; i++) {
        rc = collect_metric_unlocked(c, metrics[i], &ms[pub->n_metrics]);
        if (rc != 0)
            goto out;
        pub->n_points += ms[pub->n_metrics].n_points;
        if (ms[pub->n_metrics].n_points > 0)
            pub->n_metrics++;
    }
    rc = 0;
out:
    return rc;
}

/* Success: the reader remembers this collection's delta state and starts its
 * min/max afresh. */
static void reader_commit_unlocked(struct collection *c, struct reg_metric *const *metrics,
                                   unsigned n_metrics)
{
    for (size_t i = 0; i < c->n_staged; i++)
        *c->staged[i].p = c->staged[i].next;
    if (c->rd->slot != 0)
        slot_reset_unlocked(metrics, n_metrics, c->rd->slot);
    c->rd->last_ns = c->now;
}

int reg_collect(struct reg_reader *rd, struct reg_snapshot **out)
{
    struct reg *r = rd->reg;
    struct collection c = {.rd = rd};
    struct reg_metric *metrics[REG_MAX_METRICS];
    unsigned n_metrics;
    int rc = -ENOMEM;

    *out = NULL;
    c.snap = calloc(1, sizeof(*c.snap));
    if (c.snap == NULL)
        goto out;
    pthread_mutex_lock(&r->collect_lock);
    pthread_mutex_lock(&r->lock);
    c.gen = ++r->gen;
    n_metrics = r->n_metrics;
    memcpy(metrics, r->metrics, n_metrics * sizeof(metrics[0]));
    pthread_mutex_unlock(&r->lock);

    run_callbacks(metrics, n_metrics, c.gen);

    c.now = now_realtime_ns();
    pthread_mutex_lock(&r->lock);
    rc = snapshot_fill_unlocked(&c, metrics, n_metrics);
    if (rc == 0)
        reader_commit_unlocked(&c, metrics, n_metrics);
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&r->collect_lock);
out:
    free(c.staged);
    if (rc != 0)
        reg_snapshot_destroy(c.snap != NULL ? &c.snap->pub : NULL);
    else
        *out = &c.snap->pub;
    return rc;
}
