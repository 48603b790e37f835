/*
 * gzip.h - one-shot gzip (RFC 1952) of a buffer held in memory.
 *
 * Owns nothing between calls. Used by the OTLP sender (request bodies,
 * OTEL_EXPORTER_OTLP_COMPRESSION=gzip) and the Prometheus endpoint (scrapes
 * that accept gzip); any Argus thread may call it.
 */
#ifndef ARGUS_GZIP_H
#define ARGUS_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* Compresses in[0, len) into a new malloc()ed *out of *out_len bytes, which
 * the caller frees. Returns 0, -ENOMEM, or -EIO (zlib failed); on failure
 * *out is NULL and *out_len 0. */
int gzip_compress(const void *in, size_t len, uint8_t **out, size_t *out_len);

#endif
