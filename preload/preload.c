/*
 * preload.c - the entry of libargus_preload.so: constructor, activation,
 * Argus' thread, loading the core, fork and exit.
 *
 * DESIGN
 *
 * Dormant until Discord (design.md, invariant 7). The constructor only reads
 * the configuration into a static struct, registers the fork handler and
 * looks for an OpenSSL built into the program (patch.h: a few hash look-ups
 * in memory): no thread, no library, no output. Every process that inherits
 * LD_PRELOAD (sh, ffmpeg, ...) pays that and nothing more. A program with
 * OpenSSL built in (an official Node) is patched there and then, before main
 * and while it has one thread, at the cost of one page of trampolines and a
 * private copy of the few code pages patched; its hooks then stay
 * pass-through until the first Discord connection, as the dynamic ones do.
 *
 * Activation happens once per process, on the bot thread whose call first
 * classified a connection as Discord (or in the constructor with
 * ARGUS_EAGER): it maps the ring, publishes it to the hooks, and starts Argus'
 * thread, all before the hook pushes the connection's first record, so the
 * first request (typically GET /users/@me) is never lost. Everything slow
 * (reporting configuration problems, dlopen of the core and its libcurl,
 * starting the exporter) happens on Argus' thread.
 *
 * ARGUS_EAGER applies to the process started with it, not to the programs
 * it execs: those inherit the environment, and an eager sh or ffmpeg would
 * load the core and push its own stream. Without touching the environment
 * (which the bot owns), the test is: eager only if the parent process does
 * not itself map libargus_preload.so (/proc/<ppid>/maps, read only when
 * ARGUS_EAGER is set). A bot started by a shell, systemd or a container
 * runtime has a parent without the preload; a child the bot execs has the bot
 * as parent. The one miss: a bot exec'd by a wrapper process that is itself
 * under the preload (a shell that forks it instead of exec'ing it). Such a
 * bot still activates on its first Discord connection, only not at load.
 *
 * fork(): the child gets a copy of the parent's Argus state but none of its
 * threads. The atfork child handler abandons (never frees, unmaps or closes)
 * the ring and the connection table, zeroes the counters, tells a loaded core
 * to do the same (fork_child), and returns to dormant, so the child starts
 * its own Argus on its own first Discord traffic. The parent is untouched.
 */
#include "preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "argus_build.h"
#include "cap.h"
#include "config.h"
#include "core_api.h"
#include "log.h"
#include "patch.h"
#include "ring.h"
#include "spin.h"
#include "sym.h"

#define ARGUS_PRELOAD_NAME "libargus_preload.so"
#define ARGUS_CORE_NAME "libargus_core.so"
#define ARGUS_PATH_MAX 4096

enum argus_act_state {
    ARGUS_ACT_DORMANT = 0,
    ARGUS_ACT_STARTING,
    ARGUS_ACT_RUNNING,
    ARGUS_ACT_FAILED,
};

__thread bool argus_on_argus_thread __attribute__((tls_model("initial-exec")));

static struct argus_config argus_cfg;
static struct cap_stats argus_stats;
static struct argus_host argus_host;
static _Atomic int argus_act_state;
static const struct argus_core_ops *_Atomic argus_ops; /* set once the core is loaded */
static char argus_self_dir[ARGUS_PATH_MAX];            /* folder holding the preload */
static uint64_t argus_process_start_ns;
static atomic_bool argus_exit_registered;

void argus_mark_thread(void)
{
    argus_on_argus_thread = true;
}

/* Where the preload was loaded from, made absolute now: the bot may chdir
 * before Argus loads the core. Costs a getcwd only for a relative path. */
static void argus_find_self_dir(void)
{
    Dl_info info;
    if (dladdr((void *)argus_find_self_dir, &info) == 0 || info.dli_fname == NULL)
        return;
    const char *path = info.dli_fname;
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return; /* found through the search path: no folder to look in */
    int dir_len = (int)(slash - path);
    char cwd[ARGUS_PATH_MAX];
    int n;
    if (path[0] == '/')
        n = snprintf(argus_self_dir, sizeof(argus_self_dir), "%.*s", dir_len, path);
    else if (getcwd(cwd, sizeof(cwd)) != NULL)
        n = snprintf(argus_self_dir, sizeof(argus_self_dir), "%s/%.*s", cwd, dir_len, path);
    else
        n = -1;
    if (n < 0 || (size_t)n >= sizeof(argus_self_dir))
        argus_self_dir[0] = '\0'; /* truncated: better no folder than a wrong one */
}

/* True if /proc/<ppid>/maps mentions a libargus_preload.so. Scans in chunks,
 * keeping a tail the length of the name so a match across reads is seen. */
static bool argus_parent_has_preload(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)getppid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    enum { NAME_LEN = sizeof(ARGUS_PRELOAD_NAME) - 1 };
    char buf[8192 + 1];
    size_t keep = 0;
    bool found = false;
    for (;;) {
        ssize_t n = read(fd, buf + keep, sizeof(buf) - 1 - keep);
        if (n <= 0)
            break;
        size_t have = keep + (size_t)n;
        buf[have] = '\0';
        if (memmem(buf, have, ARGUS_PRELOAD_NAME, NAME_LEN) != NULL) {
            found = true;
            break;
        }
        keep = have < NAME_LEN ? have : NAME_LEN;
        memmove(buf, buf + have - keep, keep);
    }
    close(fd);
    return found;
}

static const struct argus_core_ops *argus_try_core(const char *path)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        argus_log_debug("core %s: %s", path, dlerror());
        return NULL;
    }
    argus_core_entry_fn entry;
    *(void **)&entry = dlsym(handle, ARGUS_CORE_ENTRY);
    const struct argus_core_ops *ops = entry ? entry(ARGUS_CORE_ABI_VERSION) : NULL;
    if (ops == NULL || ops->abi_version != ARGUS_CORE_ABI_VERSION ||
        ops->struct_size < sizeof(*ops)) {
        argus_log_error("core %s speaks another ABI than this preload (%u); not using it", path,
                        ARGUS_CORE_ABI_VERSION);
        /* Left loaded: a core that answered may have started something. */
        return NULL;
    }
    argus_log_debug("loaded core %s", path);
    return ops;
}

/* ARGUS_CORE_PATH, else next to the preload (build tree), else in argus/
 * under the preload's folder (installed layout), else the install path
 * this build was configured with. */
static const struct argus_core_ops *argus_load_core(void)
{
    char path[ARGUS_PATH_MAX + 32];
    const struct argus_core_ops *ops = NULL;

    if (argus_cfg.core_path != NULL)
        return argus_try_core(argus_cfg.core_path);
    if (argus_self_dir[0] != '\0') {
        snprintf(path, sizeof(path), "%s/%s", argus_self_dir, ARGUS_CORE_NAME);
        ops = argus_try_core(path);
        if (ops == NULL) {
            snprintf(path, sizeof(path), "%s/argus/%s", argus_self_dir, ARGUS_CORE_NAME);
            ops = argus_try_core(path);
        }
    }
    if (ops == NULL)
        ops = argus_try_core(ARGUS_CORE_INSTALL_PATH);
    return ops;
}

static void argus_atexit(void)
{
    const struct argus_core_ops *ops = atomic_load_explicit(&argus_ops, memory_order_acquire);
    if (ops != NULL)
        ops->exit_flush();
}

static void *argus_thread_main(void *arg)
{
    (void)arg;
    argus_mark_thread();
    /* Named so that top, perf and /proc tell Argus' time from the bot's. */
    pthread_setname_np(pthread_self(), "argus-decode");
    argus_config_report(&argus_cfg);
    /* The OpenSSL patched into an executable takes the place of a libssl
     * (the program has none of its own then). */
    const struct sym_ssl *primary = patch_n_libs > 0 ? &patch_libs[0] : sym_primary();
    if (argus_log_get_level() >= ARGUS_LOG_DEBUG) {
        char summary[1024];
        argus_config_describe(&argus_cfg, summary, sizeof(summary));
        argus_log_debug("active in pid %ld (%s); configuration: %s", (long)getpid(),
                        argus_cfg.eager ? "ARGUS_EAGER" : "first Discord connection", summary);
        char what[SYM_PATH_MAX + 64];
        for (unsigned i = 0; i < patch_n_libs; i++) {
            patch_describe(i, what, sizeof(what));
            argus_log_debug("capturing TLS: patched %s", what);
        }
        if (patch_n_libs > 0)
            argus_log_debug("(symbol interposition still serves any libssl loaded later)");
        else if (primary != NULL)
            argus_log_debug("capturing TLS: hooked %s (%s)",
                            strrchr(primary->path, '/') ? strrchr(primary->path, '/') + 1
                                                        : primary->path,
                            primary->path);
        else
            argus_log_debug("no libssl is loaded yet; the hooks will bind to the first one the "
                            "program loads (a program that never loads one is invisible to Argus)");
    }
    argus_host.libssl_path = primary ? primary->path : NULL;

    const struct argus_core_ops *ops = argus_load_core();
    if (ops == NULL) {
        argus_log_error("cannot load %s (set ARGUS_CORE_PATH, or run OTEL_LOG_LEVEL=debug for "
                        "the paths tried); Argus is off for this process",
                        ARGUS_CORE_NAME);
        goto fail;
    }
    /* Published before start(): a fork() while start() runs, or right after
     * it returned, must still reach the core's fork_child, or the child keeps
     * a started core whose threads it does not have (and its exit flush
     * would wait on them). fork_child and exit_flush are safe on a core that
     * never started. */
    atomic_store_explicit(&argus_ops, ops, memory_order_release);
    int rc = ops->start(&argus_host);
    if (rc != 0) {
        argus_log_error("core failed to start (%s); Argus is off for this process", strerror(-rc));
        goto fail;
    }
    /* The core registers its own exit flush after curl_global_init; this one
     * is the preload's backstop (exit_flush is safe to call twice). */
    if (!atomic_exchange(&argus_exit_registered, true))
        atexit(argus_atexit);
    ops->run();
    return NULL;

fail:
    cap_off();
    atomic_store_explicit(&argus_act_state, ARGUS_ACT_FAILED, memory_order_release);
    return NULL;
}

/* Argus' thread runs with every signal blocked, so no signal meant for the
 * bot is delivered to it; the core's threads inherit that mask. */
static int argus_start_thread(void)
{
    pthread_attr_t attr;
    sigset_t all;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return -rc;
    sigfillset(&all);
    rc = pthread_attr_setsigmask_np(&attr, &all);
    if (rc == 0)
        rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (rc == 0)
        rc = pthread_create(&tid, &attr, argus_thread_main, NULL);
    pthread_attr_destroy(&attr);
    return -rc;
}

int argus_activate(void)
{
    int state = atomic_load_explicit(&argus_act_state, memory_order_acquire);
    if (state == ARGUS_ACT_RUNNING)
        return 0;
    if (state == ARGUS_ACT_FAILED)
        return -ENODEV;

    int expected = ARGUS_ACT_DORMANT;
    if (!atomic_compare_exchange_strong_explicit(&argus_act_state, &expected, ARGUS_ACT_STARTING,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        /* Another thread is activating: it takes an mmap and a clone. */
        while ((state = atomic_load_explicit(&argus_act_state, memory_order_acquire)) ==
               ARGUS_ACT_STARTING)
            spin_pause();
        return state == ARGUS_ACT_RUNNING ? 0 : -ENODEV;
    }

    int rc = 0;
    struct ring *ring = ring_create(argus_cfg.ring_bytes, &argus_stats);
    if (ring == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    argus_host.abi_version = ARGUS_CORE_ABI_VERSION;
    argus_host.struct_size = sizeof(argus_host);
    argus_host.config = &argus_cfg;
    argus_host.ring = ring;
    argus_host.stats = &argus_stats;
    argus_host.process_start_ns = argus_process_start_ns;
    argus_host.mark_argus_thread = argus_mark_thread;
    argus_host.log = argus_log_v;
    cap_set_ring(ring);
    rc = argus_start_thread();

out:
    if (rc != 0)
        cap_off(); /* a mapped ring is abandoned: nobody would read it */
    /* A CAS, not a store: Argus' thread may already have failed to load the
     * core and said FAILED, which must stay. The ring is published either
     * way, so this thread's first record still has somewhere to go. */
    expected = ARGUS_ACT_STARTING;
    atomic_compare_exchange_strong_explicit(&argus_act_state, &expected,
                                            rc == 0 ? ARGUS_ACT_RUNNING : ARGUS_ACT_FAILED,
                                            memory_order_acq_rel, memory_order_acquire);
    return rc;
}

static void argus_atfork_child(void)
{
    const struct argus_core_ops *ops = atomic_load_explicit(&argus_ops, memory_order_acquire);
    if (ops != NULL && ops->fork_child != NULL)
        ops->fork_child();
    atomic_store_explicit(&argus_ops, NULL, memory_order_relaxed);
    sym_fork_child();
    cap_fork_child();
    memset(&argus_host, 0, sizeof(argus_host));
    atomic_store_explicit(&argus_stats.captured_bytes[0], 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.captured_bytes[1], 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.dropped_bytes, 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.dropped_records, 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.connections_evicted, 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.connections_ignored, 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.instrumentation_errors, 0, memory_order_relaxed);
    atomic_store_explicit(&argus_stats.foreign_ssl_calls, 0, memory_order_relaxed);
    atomic_store_explicit(&argus_act_state, ARGUS_ACT_DORMANT, memory_order_release);
}

__attribute__((constructor)) static void argus_preload_init(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    argus_process_start_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;

    argus_config_load(&argus_cfg, NULL);
    argus_log_set_level(argus_cfg.log_level);
    cap_init(&argus_cfg, &argus_stats, !argus_cfg.sdk_disabled);
    if (argus_cfg.sdk_disabled)
        return;
    pthread_atfork(NULL, NULL, argus_atfork_child);
    /* Before main, while the process has one thread (patch.h). */
    patch_init();
    argus_find_self_dir();
    if (argus_cfg.eager && argus_parent_has_preload())
        argus_cfg.eager = false;
    if (argus_cfg.eager)
        argus_activate();
}
