/*
 * reg_collect.c - reading the registry out: readers with their temporality
 * state, snapshots, and the collection that copies points under the lock
 * (reg_impl.h has the design).
 */
#include "reg.h"

#include "reg_impl.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

    c.now = clock_now_ns(CLOCK_REALTIME);
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
