/*
 * fuzz_gw.c - the gateway payload parser and the JSON skimmer on any bytes,
 * in both directions, with the streaming array counter alongside.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_opts opts;
    static int ready;
    struct ev_gw g;
    struct jscan_counter c;

    if (!ready) {
        /* The last one is past the limit config.h keeps ARGUS_PREFIX
         * within: gw_opts_init must skip it, not overrun. */
        gw_opts_init(&opts,
                     &(struct argus_list){
                         (const char *const[]){"!", "?", "", "toolongprefix-toolongprefix"}, 4});
        ready = 1;
    }
    (void)gw_parse((const char *)data, size, EV_DIR_IN, &opts, &g);
    (void)gw_parse((const char *)data, size, EV_DIR_OUT, &opts, &g);
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < size; i += 7)
        jscan_counter_feed(&c, data + i, size - i < 7 ? size - i : 7);
    return 0;
}
