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
    union {
        uint64_t u64;
        double dbl;
    } value;
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
    union {
        uint64_t u64;
        double dbl;
    } value;
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
    struct reg_attr a[REG_MAX_ATTRS];
    size_t len[REG_MAX_ATTRS]; /* value lengths after truncation */
};

/* Sorts by key, drops NULL keys/values and repeated keys (the first wins), and
 * keeps room for `cluster`. */
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
        out->a[pos] = in[i];
        out->len[pos] = strnlen(in[i].value, REG_VALUE_MAX - 1);
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
    r->cluster = strdup(cluster != NULL ? cluster : "default");
    r->created_ns = now_realtime_ns();
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

struct reg_metric *reg_gauge(struct reg *r, const char *name, const char *description,
                             const char *unit, enum reg_number number, unsigned flags,
                             reg_observe_fn fn, void *arg)
{
    const struct metric_shape shape = {
        .kind = REG_GAUGE, .number = number, .flags = flags, .fn = fn, .fn_arg = arg};
    return fn != NULL ? metric_define(r, name, description, unit, &shape) : NULL;
}

struct reg_metric *reg_observable_counter(struct reg *r, const char *name, const char *description,
                                          const char *unit, enum reg_number number, unsigned flags,
                                          reg_observe_fn fn, void *arg)
{
    const struct metric_shape shape = {
        .kind = REG_OBSERVABLE_COUNTER, .number = number, .flags = flags, .fn = fn, .fn_arg = arg};
    return fn != NULL ? metric_define(r, name, description, unit, &shape) : NULL;
}

struct reg_metric *reg_info(struct reg *r, const char *name, const char *description)
{
    const struct metric_shape shape = {.kind = REG_INFO, .number = REG_NUMBER_U64};
    return metric_define(r, name, description, "", &shape);
}

/* ---- recording ----------------------------------------------------------- */

static void counter_add(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                        uint64_t u, double d, bool is_double)
{
    if (m == NULL || m->kind != REG_COUNTER)
        return;
    if (is_double && !(isfinite(d) && d >= 0))
        return;
    uint64_t now = now_realtime_ns();
    pthread_mutex_lock(&m->reg->lock);
    struct reg_series *s = series_get_unlocked(m, attrs, n_attrs, now);
    if (s != NULL) {
        if (m->number == REG_NUMBER_U64)
            s->value.u64 += is_double ? (uint64_t)d : u;
        else
            s->value.dbl += is_double ? d : (double)u;
    }
    pthread_mutex_unlock(&m->reg->lock);
}

void reg_counter_add(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                     uint64_t value)
{
    counter_add(m, attrs, n_attrs, value, 0, false);
}

void reg_counter_add_double(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                            double value)
{
    counter_add(m, attrs, n_attrs, 0, value, true);
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
                /* Start this slot's min/max afresh. */
                for (unsigned k = 0; k < r->n_metrics; k++) {
                    for (uint32_t j = 0; j < r->metrics[k]->n_series; j++) {
                        r->metrics[k]->series[j]->min[i] = INFINITY;
                        r->metrics[k]->series[j]->max[i] = -INFINITY;
                    }
                }
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

static int collect_metric_unlocked(struct reg_reader *rd, struct reg_snapshot_impl *snap,
                                   struct reg_metric *m, uint64_t gen, uint64_t now,
                                   struct reg_metric_snapshot *out, struct staged **staged,
                                   size_t *n_staged, size_t *cap_staged)
{
    enum reg_temporality t = temporality_for(rd, m->kind);
    bool delta = t == REG_TEMPORALITY_DELTA;
    bool is_async = m->kind == REG_GAUGE || m->kind == REG_OBSERVABLE_COUNTER;
    if (delta && reader_reserve(rd, m) != 0)
        return -ENOMEM;

    memset(out, 0, sizeof(*out));
    out->kind = m->kind;
    out->number = m->number;
    out->temporality = t;
    out->monotonic = m->kind == REG_COUNTER || m->kind == REG_OBSERVABLE_COUNTER;
    out->name = arena_strdup(&snap->arena, m->name);
    out->description = arena_strdup(&snap->arena, m->description);
    out->unit = arena_strdup(&snap->arena, m->unit);
    if (out->name == NULL || out->description == NULL || out->unit == NULL)
        return -ENOMEM;
    if (m->kind == REG_HISTOGRAM) {
        double *b = arena_alloc(&snap->arena, (m->n_bounds ? m->n_bounds : 1) * sizeof(double));
        if (b == NULL)
            return -ENOMEM;
        memcpy(b, m->bounds, m->n_bounds * sizeof(double));
        out->bounds = b;
        out->n_bounds = m->n_bounds;
    }
    if (m->n_series == 0)
        return 0;
    struct reg_point *points = arena_alloc(&snap->arena, m->n_series * sizeof(*points));
    if (points == NULL)
        return -ENOMEM;
    if (*n_staged + m->n_series > *cap_staged) {
        size_t cap = (*n_staged + m->n_series) * 2;
        struct staged *g = realloc(*staged, cap * sizeof(*g));
        if (g == NULL)
            return -ENOMEM;
        *staged = g;
        *cap_staged = cap;
    }
    size_t n = 0;
    uint64_t interval_start = rd->last_ns > m->defined_ns ? rd->last_ns : m->defined_ns;
    for (uint32_t i = 0; i < m->n_series; i++) {
        struct reg_series *s = m->series[i];
        if (is_async && s->observed_gen != gen)
            continue;
        struct reg_point *p = &points[n];
        memset(p, 0, sizeof(*p));
        p->time_ns = now;
        if (point_attrs(snap, m, s, p) != 0)
            return -ENOMEM;
        struct prev_point *prev = delta ? &rd->per_metric[m->index].prev[i] : NULL;
        struct prev_point next = {.seen = true};
        switch (m->kind) {
        case REG_COUNTER:
        case REG_OBSERVABLE_COUNTER:
        case REG_GAUGE:
        case REG_INFO:
            memcpy(&p->value, &s->value, sizeof(p->value));
            if (m->kind == REG_INFO || m->kind == REG_GAUGE) {
                p->start_ns = interval_start;
                break;
            }
            p->start_ns = m->kind == REG_COUNTER ? s->start_ns : m->defined_ns;
            if (!delta)
                break;
            memcpy(&next.value, &s->value, sizeof(next.value));
            p->start_ns = interval_start;
            if (m->number == REG_NUMBER_U64) {
                uint64_t before = prev->seen ? prev->value.u64 : 0;
                /* An observable count that went down was reset: report it whole. */
                p->value.u64 = s->value.u64 >= before ? s->value.u64 - before : s->value.u64;
                if (m->kind == REG_COUNTER && p->value.u64 == 0)
                    continue;
            } else {
                double before = prev->seen ? prev->value.dbl : 0;
                p->value.dbl = s->value.dbl >= before ? s->value.dbl - before : s->value.dbl;
                if (m->kind == REG_COUNTER && s->value.dbl == before)
                    continue;
            }
            break;
        case REG_HISTOGRAM: {
            uint64_t *buckets = arena_alloc(&snap->arena, (m->n_bounds + 1) * sizeof(uint64_t));
            if (buckets == NULL)
                return -ENOMEM;
            memcpy(buckets, s->buckets, (m->n_bounds + 1) * sizeof(uint64_t));
            p->bucket_counts = buckets;
            p->count = s->count;
            p->sum = s->sum;
            p->min = s->min[rd->slot];
            p->max = s->max[rd->slot];
            p->start_ns = s->start_ns;
            if (!delta)
                break;
            next.count = s->count;
            next.sum = s->sum;
            memcpy(next.buckets, s->buckets, (m->n_bounds + 1) * sizeof(uint64_t));
            if (prev->seen) {
                p->count -= prev->count;
                p->sum -= prev->sum;
                for (unsigned b = 0; b <= m->n_bounds; b++)
                    buckets[b] -= prev->buckets[b];
            }
            p->start_ns = interval_start;
            if (p->count == 0)
                continue;
            break;
        }
        }
        if (delta) {
            (*staged)[*n_staged].p = prev;
            (*staged)[*n_staged].next = next;
            (*n_staged)++;
        }
        n++;
    }
    out->points = points;
    out->n_points = n;
    return 0;
}

int reg_collect(struct reg_reader *rd, struct reg_snapshot **out)
{
    int rc = 0;
    struct reg *r = rd->reg;
    struct staged *staged = NULL;
    size_t n_staged = 0, cap_staged = 0;
    struct reg_metric *metrics[REG_MAX_METRICS];
    unsigned n_metrics;

    *out = NULL;
    struct reg_snapshot_impl *snap = calloc(1, sizeof(*snap));
    if (snap == NULL)
        return -ENOMEM;

    pthread_mutex_lock(&r->collect_lock);
    pthread_mutex_lock(&r->lock);
    uint64_t gen = ++r->gen;
    n_metrics = r->n_metrics;
    memcpy(metrics, r->metrics, n_metrics * sizeof(metrics[0]));
    pthread_mutex_unlock(&r->lock);

    /* Callbacks first, without the registry mutex. */
    for (unsigned i = 0; i < n_metrics; i++) {
        if (metrics[i]->fn != NULL) {
            struct reg_observer obs = {.m = metrics[i], .gen = gen};
            metrics[i]->fn(&obs, metrics[i]->fn_arg);
        }
    }

    uint64_t now = now_realtime_ns();
    pthread_mutex_lock(&r->lock);
    struct reg_metric_snapshot *ms =
        arena_alloc(&snap->arena, (n_metrics ? n_metrics : 1) * sizeof(*ms));
    if (ms == NULL) {
        rc = -ENOMEM;
        goto out_unlock;
    }
    size_t n_ms = 0, n_points = 0;
    for (unsigned i = 0; i < n_metrics; i++) {
        rc = collect_metric_unlocked(rd, snap, metrics[i], gen, now, &ms[n_ms], &staged, &n_staged,
                                     &cap_staged);
        if (rc != 0)
            goto out_unlock;
        if (ms[n_ms].n_points > 0) {
            n_points += ms[n_ms].n_points;
            n_ms++;
        }
    }
    /* Success: commit the delta state and restart this reader's min/max. */
    for (size_t i = 0; i < n_staged; i++)
        *staged[i].p = staged[i].next;
    if (rd->slot != 0) {
        for (unsigned i = 0; i < n_metrics; i++) {
            for (uint32_t j = 0; j < metrics[i]->n_series; j++) {
                metrics[i]->series[j]->min[rd->slot] = INFINITY;
                metrics[i]->series[j]->max[rd->slot] = -INFINITY;
            }
        }
    }
    rd->last_ns = now;
    snap->pub.time_ns = now;
    snap->pub.metrics = ms;
    snap->pub.n_metrics = n_ms;
    snap->pub.n_points = n_points;
out_unlock:
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&r->collect_lock);
    free(staged);
    if (rc != 0)
        reg_snapshot_destroy(&snap->pub);
    else
        *out = &snap->pub;
    return rc;
}
