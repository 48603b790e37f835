/*
 * prom_negotiate.h - what a scraper asked for: the exposition format from its
 * Accept header and gzip from its Accept-Encoding header.
 *
 * Owns nothing. Every function is pure and may be called from any thread
 * (the Prometheus server's thread calls them once per scrape). A NULL header
 * means the header was absent. Malformed parts of a header are skipped, never
 * an error: a scraper always gets an answer, in text format at worst.
 */
#ifndef ARGUS_PROM_NEGOTIATE_H
#define ARGUS_PROM_NEGOTIATE_H

#include <stdbool.h>

#include "prom_text.h" /* enum prom_text_format */

/* OpenMetrics when the Accept header gives application/openmetrics-text
 * (version 1.0.0, 0.0.1 or none) a higher quality than text/plain, text
 * format 0.0.4 otherwise (RFC 9110 §12.5.1 media ranges, q parameters). */
enum prom_text_format prom_negotiate_format(const char *accept);

/* The Content-Type header value for a format (a static string). */
const char *prom_negotiate_content_type(enum prom_text_format format);

/* True when an Accept-Encoding header accepts gzip, or "*", with q > 0. */
bool prom_negotiate_gzip(const char *accept_encoding);

#endif
