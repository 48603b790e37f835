/*
 * reg_impl.h - the registry's internals, shared by reg.c (definitions and
 * recording) and reg_collect.c (readers, snapshots, collection). Only those
 * two files include it; everyone else sees reg.h.
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
#ifndef ARGUS_REG_IMPL_H
#define ARGUS_REG_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "arena.h"
#include "clock.h"
#include "reg.h"

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

#endif
