/*
 * prom_name.h - Prometheus names for OpenTelemetry metrics, units and
 * attribute keys.
 *
 * Owns the translation of prometheus/otlptranslator's default strategy
 * (UnderscoreEscapingWithSuffixes: metric_namer.go, unit_namer.go,
 * label_namer.go), which the OpenTelemetry Collector's Prometheus exporters
 * and Prometheus' own OTLP receiver use. It promises that a series gets the
 * same name whether it is scraped from Argus or pushed through a Collector.
 *
 * All functions are pure (no allocation, no global state) and may be called
 * from any thread. Each writes a NUL-terminated name into the caller's out
 * buffer of cap bytes and returns its length, -EINVAL when the result would
 * be empty, or -ENAMETOOLONG when it does not fit in cap (out then holds
 * nothing useful).
 */
#ifndef ARGUS_PROM_NAME_H
#define ARGUS_PROM_NAME_H

#include <stddef.h>

/* A translated metric or label name, NUL included: the registry's names and
 * keys are at most 255 bytes, and suffixes add a few words. */
#define PROM_NAME_MAX 512

/* The OTLP metric types that decide the suffixes (otlptranslator MetricType). */
enum prom_name_type {
    PROM_NAME_GAUGE = 0,
    PROM_NAME_MONOTONIC_COUNTER,
    PROM_NAME_NON_MONOTONIC_COUNTER,
    PROM_NAME_HISTOGRAM,
};

/* The Prometheus name of an OTLP metric (name, UCUM unit, type), exactly as
 * otlptranslator's normalizeName gives it with suffixes and escaping:
 *   - split the name at every character outside [A-Za-z0-9:] (runs of '_'
 *     collapse as a consequence);
 *   - unit "a/b": main word from the unit table (s->seconds, By->bytes, 1->"",
 *     ...; unknown units kept, "{...}" dropped), "per_" + per word (s->second,
 *     ...), each cleaned to [A-Za-z0-9:_]; a word already among the name's
 *     tokens is not added again;
 *   - monotonic counters end in a single "total" token, gauges with unit "1"
 *     in a single "ratio" token;
 *   - joined with '_', prefixed with '_' if it would start with a digit. */
int prom_name_metric(const char *name, const char *unit, enum prom_name_type type, char *out,
                     size_t cap);

/* The unit word of a UCUM unit as otlptranslator's UnitNamer gives it ("s" ->
 * "seconds", "By/s" -> "bytes_per_second", "1" and "{x}" -> ""), used for the
 * OpenMetrics UNIT line. An empty word returns 0, not -EINVAL. */
int prom_name_unit(const char *unit, char *out, size_t cap);

/* A Prometheus label name for an attribute key (otlptranslator LabelNamer):
 * characters outside [A-Za-z0-9_] become '_' (one per UTF-8 character), a
 * leading digit gets "key_", a single leading '_' gets "key" (a "__" prefix
 * is kept). */
int prom_name_label(const char *key, char *out, size_t cap);

#endif
