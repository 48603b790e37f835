/*
 * tokhash.h - the keyed hash that stands in for interaction and webhook tokens.
 *
 * Tokens are secrets (discord-wire.md §8): Argus never stores one. The
 * lifecycle tracker still has to match the token of an INTERACTION_CREATE with
 * the same token in a later /webhooks/{id}/{token} path, so both places hash
 * the token with this one function and keep only the hash. SipHash-2-4 with a
 * per-process key from getrandom() means the hash says nothing about the token
 * outside this process, and cannot be precomputed by anyone who sees it.
 *
 * Threads: any (the key is set once, under pthread_once). Never returns 0,
 * which the events use for "no token".
 */
#ifndef ARGUS_TOKHASH_H
#define ARGUS_TOKHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t tokhash(const void *data, size_t len);

#endif
