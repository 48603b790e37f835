/*
 * stub_core.c - a minimal libargus_core for the capture tests.
 *
 * It implements struct argus_core_ops with nothing but the decode loop's
 * first duty: drain the ring and hand every record to record_feed()
 * (tests/support/record.c), so a test can compare what was captured with what the
 * program sent and received, without depending on the exporter. At
 * exit_flush it drains what is left and writes the capture counters to
 * $ARGUS_TEST_RECORD_DIR/<pid>.stats, one "name value" per line.
 *
 * ARGUS_TEST_STUB_SLOW_US makes the loop sleep that long after each record,
 * so the overflow test can fill a small ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_api.h"
#include "record.h"
#include "ring.h"

static const struct argus_host *stub_host;
static atomic_bool stub_stop;
static atomic_bool stub_done;
static unsigned stub_slow_us;

static int stub_start(const struct argus_host *host)
{
    if (host->abi_version != ARGUS_CORE_ABI_VERSION || host->ring == NULL)
        return -EINVAL;
    stub_host = host;
    const char *slow = getenv("ARGUS_TEST_STUB_SLOW_US");
    stub_slow_us = slow ? (unsigned)strtoul(slow, NULL, 10) : 0;
    atomic_store(&stub_stop, false);
    atomic_store(&stub_done, false);
    return 0;
}

static int stub_drain(void)
{
    struct ring_record rec;
    int n = 0;
    while (ring_pop(stub_host->ring, &rec)) {
        record_feed(&rec);
        ring_release(stub_host->ring, &rec);
        n++;
        if (stub_slow_us != 0 && !atomic_load(&stub_stop))
            usleep(stub_slow_us);
    }
    return n;
}

static void stub_run(void)
{
    while (!atomic_load(&stub_stop)) {
        if (stub_drain() == 0)
            ring_wait(stub_host->ring, 200);
    }
    stub_drain();
    atomic_store(&stub_done, true);
}

static void stub_write_stats(void)
{
    const char *dir = getenv("ARGUS_TEST_RECORD_DIR");
    if (dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%d.stats", dir, (int)getpid());
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    struct cap_stats *s = stub_host->stats;
    fprintf(f, "captured_read %llu\n", (unsigned long long)atomic_load(&s->captured_bytes[0]));
    fprintf(f, "captured_write %llu\n", (unsigned long long)atomic_load(&s->captured_bytes[1]));
    fprintf(f, "dropped_bytes %llu\n", (unsigned long long)atomic_load(&s->dropped_bytes));
    fprintf(f, "dropped_records %llu\n", (unsigned long long)atomic_load(&s->dropped_records));
    fprintf(f, "connections_ignored %llu\n",
            (unsigned long long)atomic_load(&s->connections_ignored));
    fprintf(f, "connections_evicted %llu\n",
            (unsigned long long)atomic_load(&s->connections_evicted));
    fprintf(f, "libssl %s\n", stub_host->libssl_path ? stub_host->libssl_path : "-");
    fclose(f);
}

static void stub_exit_flush(void)
{
    if (stub_host == NULL || atomic_exchange(&stub_stop, true))
        return;
    ring_wake(stub_host->ring);
    /* Bounded wait for the loop to drain: 5 s, checked every millisecond. */
    for (int i = 0; i < 5000 && !atomic_load(&stub_done); i++) {
        ring_wake(stub_host->ring);
        usleep(1000);
    }
    stub_write_stats();
}

static void stub_fork_child(void)
{
    stub_host = NULL; /* abandoned: the child's preload hands a new host to start() */
}

static const struct argus_core_ops stub_ops = {
    .abi_version = ARGUS_CORE_ABI_VERSION,
    .struct_size = sizeof(struct argus_core_ops),
    .start = stub_start,
    .run = stub_run,
    .exit_flush = stub_exit_flush,
    .fork_child = stub_fork_child,
};

__attribute__((visibility("default"))) const struct argus_core_ops *
argus_core_entry(uint32_t abi_version)
{
    return abi_version == ARGUS_CORE_ABI_VERSION ? &stub_ops : NULL;
}
