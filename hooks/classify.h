/*
 * classify.h - is this TLS connection the bot talking to Discord?
 *
 * Decided once per connection by the hooks, from the SNI name the client set
 * (classify_sni) or, failing that, from the head of the first request the
 * bot writes on it (classify_request: the request line and the Host header,
 * looked at within CLASSIFY_HEAD_MAX bytes). Discord is discord.com,
 * discordapp.com, *.discord.gg and *.discord.com, plus cfg->discord_hosts
 * (ARGUS_DISCORD_HOSTS, host[:port], for TLS proxies and local tests; an
 * entry without a port matches any port, a Host header without a port means
 * 443, and an SNI name, which carries no port, matches entries whose port is
 * 0 or 443).
 *
 * Pure functions of their inputs: no allocation, no syscall, no lock; any
 * thread. On a match they return the matched host name's length and copy it,
 * lower-cased and NUL-terminated, into host_out (which must hold
 * CLASSIFY_HOST_MAX bytes); 0 means not Discord.
 */
#ifndef ARGUS_CLASSIFY_H
#define ARGUS_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct argus_config;

#define CLASSIFY_HOST_MAX 256  /* a DNS name is at most 253 characters */
#define CLASSIFY_HEAD_MAX 4096 /* bytes of the first write looked at */

/* sni may be NULL (no SNI set). */
size_t classify_sni(const struct argus_config *cfg, const char *sni, char *host_out);

/* buf/len: the bytes of the first successful write on the connection. */
size_t classify_request(const struct argus_config *cfg, const uint8_t *buf, size_t len,
                        char *host_out);

/* True if buf starts with an HTTP/1.x request line (within
 * CLASSIFY_HEAD_MAX bytes). The hooks use it to tell a connection seen from
 * its first request from one seen mid-stream (after its table entry was
 * evicted), whose first record must then carry RING_F_GAP. */
bool classify_starts_request(const uint8_t *buf, size_t len);

#endif
