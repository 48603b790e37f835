/*
 * record.c - test-only stream recording (see record.h for the file layout).
 *
 * Runs on the decode thread of libargus_core_record.so only. It opens, writes
 * and closes one file per record: slow, and simple enough to be obviously
 * right, which is what a test oracle needs. The folder is read from the
 * environment once; the pid is taken per record so a forked child's records
 * land in its own files.
 */
#include "record.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *record_dir(void)
{
    static const char *dir;
    static int looked;
    if (!looked) {
        dir = getenv("ARGUS_TEST_RECORD_DIR");
        looked = 1;
    }
    return dir;
}

static void record_append(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            break;
        p += n;
        len -= (size_t)n;
    }
    close(fd);
}

static void record_meta(const char *dir, const struct ring_record *rec, const char *what,
                        const char *arg, int arg_len)
{
    char path[4096];
    char line[512];
    snprintf(path, sizeof(path), "%s/%d-%llu.meta", dir, (int)getpid(),
             (unsigned long long)rec->conn_id);
    int n = snprintf(line, sizeof(line), "%llu %s%s%.*s\n", (unsigned long long)rec->t_ns, what,
                     arg_len > 0 ? " " : "", arg_len, arg);
    if (n > 0 && (size_t)n < sizeof(line))
        record_append(path, line, (size_t)n);
}

void record_feed(const struct ring_record *rec)
{
    const char *dir = record_dir();
    if (dir == NULL)
        return;
    const char *dir_name = rec->dir == RING_DIR_READ ? "read" : "write";
    switch (rec->type) {
    case RING_OPEN:
        record_meta(dir, rec, "open", (const char *)rec->data, (int)rec->len);
        break;
    case RING_CLOSE:
        record_meta(dir, rec, "close", "", 0);
        break;
    case RING_DATA: {
        if (rec->flags & RING_F_GAP)
            record_meta(dir, rec, "gap", dir_name, (int)strlen(dir_name));
        /* One line per record, so a replay can interleave the two
         * directions in capture order (tests/decode/replay.c). */
        char what[48];
        int n = snprintf(what, sizeof(what), "%s %u", dir_name, (unsigned)rec->len);
        record_meta(dir, rec, "data", what, n);
        char path[4096];
        snprintf(path, sizeof(path), "%s/%d-%llu-%s.bin", dir, (int)getpid(),
                 (unsigned long long)rec->conn_id, dir_name);
        record_append(path, rec->data, rec->len);
        break;
    }
    default:
        break;
    }
}
