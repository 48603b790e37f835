/*
 * bti_probe.c - the arm64 BTI case's library (libbio_pair_bti.so: bio_pair.c
 * and ssl_shim.c built with -mbranch-protection=standard, linked -z
 * force-bti, so glibc maps its code PROT_BTI) and the program that runs it.
 *
 *   bio_pair_patched_bti probe     calls, through a pointer, code of the
 *                                  library that opens with no landing pad:
 *                                  SIGILL where BTI is enforced (a CPU with
 *                                  FEAT_BTI, qemu's default CPU), else 42
 *   bio_pair_patched_bti ARGS...   bio_pair with ARGS, run from the library
 *
 * The library, not the executable, is guarded: the executable's start files
 * (crti.o, crtbeginS.o) carry no landing pads, so an executable linked -z
 * force-bti faults in _init; the library is linked without them.
 */
#include <string.h>

#if defined(BTI_PROBE_LIB)
__asm__(".text\n.p2align 2\n.globl bti_probe_target\n"
        ".type bti_probe_target,%function\nbti_probe_target:\n"
        "  mov w0, #42\n  ret\n.size bti_probe_target, .-bti_probe_target\n");
#else
int bti_probe_target(void);
int bio_pair_main(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "probe") == 0) {
        int (*volatile target)(void) = bti_probe_target;
        return target();
    }
    return bio_pair_main(argc, argv);
}
#endif
