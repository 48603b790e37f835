/*
 * two_copies.c - a program holding two OpenSSL copies, as a Python process
 * with an auditwheel-bundled libssl does.
 *
 *   two_copies CERT KEY LIB_SYSTEM LIB_RENAMED
 *
 * It links no libssl itself: it dlopen()s, RTLD_LOCAL, one build of
 * tls_user.c linked against the system libssl and one linked against a
 * renamed copy (patchelf --set-soname), runs a Discord-named (SNI
 * discord.com) conversation through each, and prints the client's stream
 * lengths and hashes per copy. Under the preload the output must not change,
 * nothing may crash, and only the system copy's connection may be captured.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef int (*tls_user_run_fn)(const char *, const char *, const char *, size_t, uint64_t[4]);

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s CERT KEY LIB_SYSTEM LIB_RENAMED\n", argv[0]);
        return 2;
    }
    const char *names[2] = {"system", "renamed"};
    for (int i = 0; i < 2; i++) {
        void *h = dlopen(argv[3 + i], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "dlopen %s: %s\n", argv[3 + i], dlerror());
            return 2;
        }
        tls_user_run_fn run;
        *(void **)&run = dlsym(h, "tls_user_run");
        uint64_t out[4] = {0};
        int rc = run(argv[1], argv[2], "discord.com", (size_t)1 << 20, out);
        printf("%s rc=%d write_len=%" PRIu64 " write_fnv=%016" PRIx64 " read_len=%" PRIu64
               " read_fnv=%016" PRIx64 "\n",
               names[i], rc, out[0], out[1], out[2], out[3]);
    }
    return 0;
}
