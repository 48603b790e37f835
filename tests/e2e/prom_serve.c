/*
 * prom_serve.c - serves a registry holding every kind of metric on /metrics,
 * for tests/e2e/test_prom.py (promtool, gzip, OpenMetrics).
 *
 *     prom_serve PORT     (0: any free port)
 *
 * Prints "listening <port>" on stdout once the endpoint runs, then serves
 * until its stdin closes. The values are fixed so the test can check them.
 */
#include "prom.h"
#include "resource.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void observe_latency(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe(obs, REG_ATTRS({"shard", "0"}), 0.0425);
    reg_observe(obs, REG_ATTRS({"shard", "1"}), 0.051);
}

static void observe_dropped(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, 17);
}

int main(int argc, char **argv)
{
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    struct argus_config *cfg = calloc(1, sizeof(*cfg));
    struct resource res = {0};
    struct reg *r = NULL;
    struct prom *p = NULL;
    uint64_t port = 0;
    char *end = NULL;
    int rc = 1;

    if (argc != 2 || !cfg)
        goto out;
    errno = 0;
    port = strtoull(argv[1], &end, 10);
    if (errno || *end || port > 65535)
        goto out;
    cfg->prometheus_host = "127.0.0.1";
    cfg->prometheus_port = (uint16_t)port;
    cfg->metrics_exporters = ARGUS_EXPORTER_PROMETHEUS;

    r = reg_create(0, "default");
    struct reg_metric *commands = reg_counter(r, "discord_commands_total", "Commands by outcome",
                                              "{command}", REG_NUMBER_U64);
    struct reg_metric *duration =
        reg_histogram(r, "discord_command_duration_seconds", "Time from command to answer", "s",
                      bounds, sizeof(bounds) / sizeof(bounds[0]));
    struct reg_metric *info = reg_info(r, "discord_bot_info", "The bot Argus watches");
    reg_gauge(r, "discord_shard_latency_seconds", "Heartbeat to ACK round trip", "s",
              REG_NUMBER_DOUBLE, 0, observe_latency, NULL);
    reg_observable_counter(r, "argus_capture_dropped_bytes_total", "Bytes the full ring dropped",
                           "By", REG_NUMBER_U64, REG_F_CLUSTER, observe_dropped, NULL);
    reg_counter_add(commands, REG_ATTRS({"command", "ping"}, {"status", "success"}), 3);
    reg_counter_add(commands, REG_ATTRS({"command", "ban"}, {"status", "timeout"}), 1);
    reg_histogram_record(duration, REG_ATTRS({"command", "ping"}), 0.03);
    reg_histogram_record(duration, REG_ATTRS({"command", "ping"}), 0.2);
    reg_histogram_record(duration, REG_ATTRS({"command", "ping"}), 12);
    reg_info_set(info, REG_ATTRS({"bot_id", "42"}, {"library", "discord.py"}));

    res.n_attrs = 2;
    snprintf(res.attrs[0].key, RESOURCE_KEY_MAX, "service.name");
    snprintf(res.attrs[0].value, RESOURCE_VALUE_MAX, "prom-serve");
    snprintf(res.attrs[1].key, RESOURCE_KEY_MAX, "service.instance.id");
    snprintf(res.attrs[1].value, RESOURCE_VALUE_MAX, "instance-1");
    p = prom_start(
        cfg, r,
        &(struct prom_target){.resource = &res, .scope_name = "argus", .scope_version = "0.1.0"});
    if (!p)
        goto out;
    printf("listening %u\n", prom_port(p));
    fflush(stdout);
    char byte;
    while (read(STDIN_FILENO, &byte, 1) > 0)
        ;
    rc = 0;
out:
    prom_stop(p);
    reg_destroy(r);
    free(cfg);
    return rc;
}
