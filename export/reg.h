/*
 * reg.h - the metric registry: instruments, series, and readers' snapshots.
 *
 * Owns every metric Argus exports. Writers (the decode thread) record into
 * synchronous instruments (counters, histograms); readers (the export thread,
 * a Prometheus scrape thread) take snapshots. The registry keeps cumulative
 * state only; temporality belongs to the reader: a delta reader keeps its own
 * previous values, so a delta OTLP reader and a cumulative reader of the same
 * registry never disturb each other (OpenTelemetry metrics SDK, "MetricReader").
 *
 * Kinds:
 *   counter             monotonic sum, u64 or double, recorded with reg_counter_add()
 *   histogram           explicit bounds; count, sum, min, max, bucket counts;
 *                       bucket i covers (bounds[i-1], bounds[i]], the last one
 *                       (bounds[n-1], +Inf); meant for non-negative values
 *                       (durations): the sum is always reported
 *   gauge               a callback evaluated at collection time that may emit
 *                       several labelled samples (reg_observe*)
 *   observable counter  a callback reading a monotonic count kept elsewhere
 *                       (e.g. an atomic bumped by the capture path)
 *   info                a gauge of 1 carrying one attribute set (reg_info_set)
 *
 * Attributes are small sets of string pairs. Keys must be static strings (the
 * registry keeps the pointer); values are copied as valid UTF-8 (text.h: an
 * invalid byte becomes U+FFFD) of at most REG_VALUE_MAX - 1 bytes, cut
 * between characters. So is reg_create's cluster. The order in which a caller lists
 * attributes does not matter. Counters and histograms carry `cluster`
 * (reg_create's cluster) automatically; callers never pass it.
 *
 * Cardinality: each metric holds at most max_series attribute sets (per
 * collection, for callbacks). Before the cap is reached, one series is kept
 * back for the overflow: measurements for new attribute sets go to the series
 * whose only attribute is otel.metric.overflow=true, so every measurement lands
 * in exactly one series (metrics SDK, "Cardinality limits").
 *
 * Threads and locking: instrument definition and recording take a short
 * registry mutex around an in-memory update; nothing under it does I/O or
 * calls a callback, so a writer never waits on a reader's network I/O. Never
 * call any of this from a bot thread. Collections are serialized among readers;
 * callbacks run on the collecting reader's thread without the registry mutex
 * held (a callback may read state guarded by its owner's own lock, but must not
 * call into the registry except reg_observe*), and never concurrently with
 * each other.
 *
 * Ownership: reg_create()/reg_destroy() own the registry and every instrument
 * in it; an instrument pointer stays valid until reg_destroy(). Readers come
 * from reg_reader_create() and go back through reg_reader_destroy() before the
 * registry is destroyed. A snapshot belongs to the caller of reg_collect() and
 * is freed with reg_snapshot_destroy(); it borrows nothing from the registry.
 *
 * Failures never reach a recorder: every recording function accepts a NULL
 * instrument (a definition that failed) and ignores NaN and infinities.
 * Definitions return NULL on failure (out of memory, invalid or duplicate name, REG_MAX_METRICS
 * reached); functions returning int give 0 or a negative errno.
 */
#ifndef ARGUS_REG_H
#define ARGUS_REG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h" /* enum argus_temporality */

#define REG_MAX_METRICS 128     /* instruments per registry */
#define REG_MAX_ATTRS 8         /* attributes per series, `cluster` included */
#define REG_VALUE_MAX 128       /* bytes per attribute value, NUL included */
#define REG_MAX_BOUNDS 32       /* explicit bounds per histogram */
#define REG_MAX_DELTA_READERS 4 /* delta readers alive at once (cumulative: unlimited) */
#define REG_NAME_MAX 256        /* instrument name, NUL included (OTel: at most 255) */

#define REG_OVERFLOW_KEY "otel.metric.overflow"

enum reg_kind {
    REG_COUNTER = 0,
    REG_HISTOGRAM,
    REG_GAUGE,
    REG_OBSERVABLE_COUNTER,
    REG_INFO,
};

/* How a sum or gauge value is carried (OTLP NumberDataPoint as_int / as_double). */
enum reg_number {
    REG_NUMBER_U64 = 0,
    REG_NUMBER_DOUBLE,
};

/* Temporality of one snapshot's metric; gauges and infos have none. */
enum reg_temporality {
    REG_TEMPORALITY_NONE = 0,
    REG_TEMPORALITY_DELTA = 1,      /* = OTLP AGGREGATION_TEMPORALITY_DELTA */
    REG_TEMPORALITY_CUMULATIVE = 2, /* = OTLP AGGREGATION_TEMPORALITY_CUMULATIVE */
};

/* Flags for gauges and observable counters. */
#define REG_F_CLUSTER 0x1u /* add `cluster` to every sample (counters/histograms always do) */

struct reg_attr {
    const char *key;   /* static string */
    const char *value; /* borrowed for the call; copied */
};

/* A compound literal and its length, for the recording calls:
 *   reg_counter_add(m, REG_ATTRS({"kind", "rest"}, {"status", "200"}), 1);  */
#define REG_ATTRS(...)                                                                             \
    ((const struct reg_attr[]){__VA_ARGS__}),                                                      \
        (unsigned)(sizeof((const struct reg_attr[]){__VA_ARGS__}) / sizeof(struct reg_attr))
#define REG_NO_ATTRS NULL, 0u

struct reg;
struct reg_metric;
struct reg_reader;
struct reg_observer;

/* Called at collection time on the reader's thread; reports zero or more
 * samples through reg_observe*(obs, ...). */
typedef void (*reg_observe_fn)(struct reg_observer *obs, void *arg);

/* ---- the registry ---------------------------------------------------- */

/* max_series: cap per metric (ARGUS_MAX_SERIES; 0 means the default 2000, and
 * at least 2 so the overflow series has room). cluster is copied. Returns NULL
 * on allocation failure. */
struct reg *reg_create(uint32_t max_series, const char *cluster);
/* Frees the registry and its instruments. Refuses (returns -EBUSY, frees
 * nothing) while readers still exist. Accepts NULL. */
int reg_destroy(struct reg *r);

/* ---- defining instruments (any Argus thread; name, description and unit
 * are copied; unit is UCUM: "s", "By", "1", "{connection}") ---------------- */

struct reg_metric *reg_counter(struct reg *r, const char *name, const char *description,
                               const char *unit, enum reg_number number);
/* bounds: n_bounds (<= REG_MAX_BOUNDS) strictly increasing finite values, copied. */
struct reg_metric *reg_histogram(struct reg *r, const char *name, const char *description,
                                 const char *unit, const double *bounds, unsigned n_bounds);
/* fn and arg are kept; arg must outlive the registry (or the callback must cope). */
struct reg_metric *reg_gauge(struct reg *r, const char *name, const char *description,
                             const char *unit, enum reg_number number, unsigned flags,
                             reg_observe_fn fn, void *arg);
struct reg_metric *reg_observable_counter(struct reg *r, const char *name, const char *description,
                                          const char *unit, enum reg_number number, unsigned flags,
                                          reg_observe_fn fn, void *arg);
/* An info metric exports nothing until reg_info_set() gives it attributes. */
struct reg_metric *reg_info(struct reg *r, const char *name, const char *description);

/* ---- recording (decode thread, or any Argus thread) -------------------- */

void reg_counter_add(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                     uint64_t value);
void reg_histogram_record(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs,
                          double value);
/* Replaces the info's attribute set (values copied). */
void reg_info_set(struct reg_metric *m, const struct reg_attr *attrs, unsigned n_attrs);

/* Only from inside a reg_observe_fn, with the observer it was given. A second
 * sample with the same attribute set in one collection replaces the first.
 * For an observable counter the value is the running total (not an increment). */
void reg_observe(struct reg_observer *obs, const struct reg_attr *attrs, unsigned n_attrs,
                 double value);
void reg_observe_u64(struct reg_observer *obs, const struct reg_attr *attrs, unsigned n_attrs,
                     uint64_t value);

/* ---- readers and snapshots (export thread, Prometheus thread) ---------- */

/* pref maps to a temporality per instrument kind as
 * OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE specifies:
 *   cumulative: everything cumulative
 *   delta:      counter D, observable counter D, histogram D
 *   lowmemory:  counter D, observable counter C, histogram D
 * Returns NULL on allocation failure or when REG_MAX_DELTA_READERS delta
 * readers already exist. */
struct reg_reader *reg_reader_create(struct reg *r, enum argus_temporality pref);
void reg_reader_destroy(struct reg_reader *rd); /* accepts NULL */

/* A sum or gauge value, carried as enum reg_number says. */
union reg_value {
    uint64_t u64;
    double dbl;
};

struct reg_point {
    const struct reg_attr *attrs; /* sorted by key; `cluster` included where it applies */
    unsigned n_attrs;
    bool overflow;         /* the otel.metric.overflow=true series (attrs then hold only cluster) */
    uint64_t start_ns;     /* CLOCK_REALTIME ns; see "Start times" below */
    uint64_t time_ns;      /* the collection time */
    union reg_value value; /* counter, observable counter, gauge, info (info: always 1) */
    /* histogram */
    uint64_t count;
    double sum;
    double min, max;               /* meaningful only when count > 0 */
    const uint64_t *bucket_counts; /* n_bounds + 1 entries */
};

struct reg_metric_snapshot {
    const char *name;
    const char *description;
    const char *unit;
    enum reg_kind kind;
    enum reg_number number;           /* how value is carried (histograms: n/a) */
    enum reg_temporality temporality; /* NONE for gauges and infos */
    bool monotonic;                   /* true for counters and observable counters */
    const double *bounds;             /* histograms */
    unsigned n_bounds;
    const struct reg_point *points;
    size_t n_points;
};

struct reg_snapshot {
    uint64_t time_ns;                          /* CLOCK_REALTIME of the collection */
    size_t n_points;                           /* total over all metrics */
    const struct reg_metric_snapshot *metrics; /* in definition order; metrics with
                                                  no point are left out */
    size_t n_metrics;
};

/* Collects every metric: evaluates the callbacks, then copies the state under
 * the mutex. Start times:
 *   cumulative: a synchronous series repeats the time of its first
 *   measurement; an observable series the time its instrument was defined.
 *   delta: every point starts at this reader's previous collection (or the
 *   instrument's definition for the first), and only series that changed since
 *   then are included.
 *   gauges, infos: start = time of this collection's predecessor for this reader
 *   (or the definition), as SDKs do; consumers may ignore it.
 * On success *out holds a snapshot to pass to reg_snapshot_destroy(); it may
 * hold zero metrics (callers must not export an empty envelope). Returns 0 or
 * -ENOMEM (the reader's delta state is then left as it was). */
int reg_collect(struct reg_reader *rd, struct reg_snapshot **out);
void reg_snapshot_destroy(struct reg_snapshot *s); /* accepts NULL */

#endif
