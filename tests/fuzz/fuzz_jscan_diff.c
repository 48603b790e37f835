/*
 * fuzz_jscan_diff.c - the JSON skimmer against jansson on arbitrary input.
 *
 * Whenever jansson loads the input (an object or array, no duplicate keys),
 * the skimmer must agree with it (tests/unit/jansson_ref.h):
 *   - its iterators see the same members, keys, strings, integers and
 *     literals, in the same order;
 *   - gw_parse() reports the same result and top-level op, s and t in both
 *     directions and, when the input has no backslash (the skimmer reads
 *     snowflakes and tokens raw, on purpose), the same payload fields;
 *   - the input cut short (as at the size cap) yields each of those fields
 *     either as the whole input has it or not at all.
 * A disagreement aborts with what differs.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "jansson_ref.h"
#include "jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *diff, const char *text, size_t len)
{
    fprintf(stderr, "fuzz_jscan_diff: %s: %s\ninput (%zu bytes): %.*s\n", what, diff, len,
            (int)(len < 2000 ? len : 2000), text);
    abort();
}

/* The cut text[0, at) against the whole text's parse. */
static void check_cut(const char *text, size_t at, enum ev_dir dir, const struct gw_opts *o,
                      const struct ev_gw *full)
{
    /* A private copy so that a read past the cut is caught by ASan. */
    char *copy = malloc(at ? at : 1);
    struct ev_gw cut;

    if (copy == NULL)
        abort();
    memcpy(copy, text, at);
    if (gw_parse(copy, at, dir, o, &cut) == GW_OK) {
        if (cut.op != full->op)
            fail("cut", "op differs from the whole text's", text, at);
        if (cut.seq != full->seq && cut.seq != -1)
            fail("cut", "seq is neither whole nor absent", text, at);
        if (strcmp(cut.t, full->t) != 0 && cut.t[0] != '\0')
            fail("cut", "t is neither whole nor absent", text, at);
        if (memcmp(&cut.u, &full->u, sizeof(cut.u)) != 0 && !ref_all_zero(&cut.u, sizeof(cut.u)))
            fail("cut", "payload fields partly read", text, at);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_opts opts;
    static bool ready;
    const char *text = (const char *)data;
    json_error_t err;
    json_t *root;
    const char *diff;

    if (!ready) {
        gw_opts_init(&opts, &(struct argus_list){(const char *const[]){"!", "?", ";;"}, 3});
        ready = true;
    }
    /* jansson 2.14 accepts a NUL byte right after a number or literal
     * ("[1\0]" loads as [1]); no JSON text contains a raw NUL, and the
     * skimmer rightly refuses it, so such inputs prove nothing either way. */
    if (memchr(text, '\0', size) != NULL)
        return 0;
    root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return 0; /* fuzz_gw covers what jansson refuses */
    diff = ref_text_diff(text, size, root);
    if (diff != NULL)
        fail("tree", diff, text, size);
    if (ref_raw_top_key_escaped(text, size))
        goto out;
    bool raw_fields = memchr(text, '\\', size) == NULL;
    for (int dir = EV_DIR_IN; dir <= EV_DIR_OUT; dir++) {
        struct ev_gw got, want;
        enum gw_result want_r = ref_gw(root, (enum ev_dir)dir, &opts, &want);
        if (gw_parse(text, size, (enum ev_dir)dir, &opts, &got) != want_r)
            fail("gw", "result differs", text, size);
        if (want_r != GW_OK)
            continue;
        if (raw_fields) {
            diff = ref_gw_diff(&got, &want, (enum ev_dir)dir);
        } else if (got.op != want.op || got.seq != want.seq || strcmp(got.t, want.t) != 0) {
            diff = "op, s or t differs";
        }
        if (diff != NULL)
            fail("gw", diff, text, size);
        /* Every cut of a short input, a few of a long one. */
        size_t step = size <= 512 ? 1 : size / 61;
        for (size_t at = 0; at < size; at += step)
            check_cut(text, at, (enum ev_dir)dir, &opts, &got);
    }
out:
    json_decref(root);
    return 0;
}
