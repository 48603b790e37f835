/*
 * refuse.c - an executable that exports SSL_read, SSL_write and SSL_free,
 * for the refusal test (issue 12, criterion 4).
 *
 *   -DREFUSE_RIPREL  SSL_read opens with a RIP-relative load (arm64: a
 *                    literal load)
 *   -DREFUSE_JMP     SSL_read opens with a jmp (arm64: b)
 *   -DREFUSE_INTO    (arm64) SSL_read branches back to its own entry
 *   -DREFUSE_LEAF    (arm64) SSL_read calls nothing
 *   -DCONDBR         (arm64) not a refusal: SSL_read opens with tbnz, as
 *                    Node 22's SSL_read has it a few words later, and main
 *                    also calls it with a negative length, so the relocated
 *                    branch is taken once and not taken once
 *   -DADRP           (arm64) not a refusal: SSL_read opens with adrp, which
 *                    the trampoline turns into a load of the same address
 *   none of these    SSL_read is as patchable as the others (the control)
 *
 * It calls each function once and prints the first 16 bytes of each entry,
 * as the process sees them in main(): under the preload, a refused object
 * shows exactly the bytes it shows without it, and the control shows changed
 * entries (so the comparison can fail).
 */
#include <stdio.h>

#define REFUSE_EXPORT __attribute__((visibility("default"), noinline))

volatile int refuse_state = 7;

/* Called through a pointer, so that no caller may assume (gcc -fipa-ra)
 * that a function below leaves some registers alone: the patcher refuses
 * such leaf functions, and the control must be patchable. */
static int refuse_add(int a, int b)
{
    return a + b;
}
int (*volatile refuse_op)(int, int) = refuse_add;

#if defined(REFUSE_RIPREL) || defined(REFUSE_JMP) || defined(REFUSE_INTO) ||                       \
    defined(REFUSE_LEAF) || defined(CONDBR) || defined(ADRP)
int SSL_read(void *ssl, void *buf, int num);
REFUSE_EXPORT int refuse_read_body(void *ssl, void *buf, int num)
{
    (void)ssl;
    (void)buf;
    return refuse_op(num, refuse_state) - 1; /* not a tail call */
}
#if defined(__aarch64__)
/* Each returns what the control's SSL_read returns (num + refuse_state - 1),
 * so the program's output does not depend on the variant. */
#if defined(REFUSE_RIPREL)
__asm__(".text\n.globl SSL_read\n.type SSL_read,%function\nSSL_read:\n"
        "  ldr w9, 1f\n"
        "  add w0, w2, w9\n"
        "  ret\n"
        "1: .word 6\n"
        ".size SSL_read, .-SSL_read\n");
#elif defined(ADRP)
/* Passes num + refuse_state to the body: 3 + 7 + 7 - 1 = 16 if the adrp
 * found refuse_state, anything else (or a fault) if not. */
__asm__(".text\n.globl SSL_read\n.type SSL_read,%function\nSSL_read:\n"
        "  adrp x8, refuse_state\n"
        "  stp x29, x30, [sp, #-16]!\n"
        "  mov x29, sp\n"
        "  ldr w9, [x8, :lo12:refuse_state]\n"
        "  add w2, w2, w9\n"
        "  bl refuse_read_body\n"
        "  ldp x29, x30, [sp], #16\n"
        "  ret\n"
        ".size SSL_read, .-SSL_read\n");
#elif defined(REFUSE_JMP)
__asm__(".text\n.globl SSL_read\n.type SSL_read,%function\nSSL_read:\n"
        "  b refuse_read_body\n"
        "  brk #0\n"
        ".size SSL_read, .-SSL_read\n");
#elif defined(REFUSE_INTO)
/* The b.gt back to the entry is never taken (the body returns a small
 * number), but the patcher cannot know that. */
__asm__(".text\n.globl SSL_read\n.type SSL_read,%function\nSSL_read:\n"
        "  stp x29, x30, [sp, #-16]!\n"
        "  mov x29, sp\n"
        "  bl refuse_read_body\n"
        "  ldp x29, x30, [sp], #16\n"
        "  cmp w0, #1000\n"
        "  b.gt SSL_read\n"
        "  ret\n"
        ".size SSL_read, .-SSL_read\n");
#elif defined(CONDBR)
__asm__(".text\n.globl SSL_read\n.type SSL_read,%function\nSSL_read:\n"
        "  tbnz w2, #31, 1f\n"
        "  stp x29, x30, [sp, #-16]!\n"
        "  mov x29, sp\n"
        "  bl refuse_read_body\n"
        "  ldp x29, x30, [sp], #16\n"
        "  ret\n"
        "1:\n"
        "  mov w0, #-2\n"
        "  ret\n"
        ".size SSL_read, .-SSL_read\n");
#else
__asm__(".text\n.globl SSL_read\n.type SSL_read,%function\nSSL_read:\n"
        "  add w0, w2, #6\n"
        "  ret\n"
        ".size SSL_read, .-SSL_read\n");
#endif
#elif defined(REFUSE_RIPREL)
__asm__(".text\n.globl SSL_read\n.type SSL_read,@function\nSSL_read:\n"
        "  movl refuse_state(%rip), %eax\n"
        "  addl %edx, %eax\n"
        "  ret\n"
        ".size SSL_read, .-SSL_read\n");
#else
__asm__(".text\n.globl SSL_read\n.type SSL_read,@function\nSSL_read:\n"
        "  jmp refuse_read_body\n"
        "  int3\n"
        ".size SSL_read, .-SSL_read\n");
#endif
#else
REFUSE_EXPORT int SSL_read(void *ssl, void *buf, int num)
{
    if (ssl == NULL)
        return -1;
    (void)buf;
    return refuse_op(num, refuse_state) - 1; /* not a tail call */
}
#endif

REFUSE_EXPORT int SSL_write(void *ssl, const void *buf, int num)
{
    if (ssl == NULL)
        return -1;
    (void)buf;
    return refuse_op(num, refuse_state) - 1; /* not a tail call */
}

REFUSE_EXPORT void SSL_free(void *ssl)
{
    if (ssl == NULL)
        return;
    refuse_state = refuse_op(refuse_state, 1) - 1;
}

static void refuse_show(const char *name, const void *fn)
{
    const unsigned char *p = fn;
    printf("%s", name);
    for (int i = 0; i < 16; i++)
        printf(" %02x", p[i]);
    printf("\n");
}

int main(void)
{
    char buf[4];
    int dummy;
    printf("read %d write %d\n", SSL_read(&dummy, buf, 3), SSL_write(&dummy, buf, 5));
    SSL_free(&dummy);
    printf("state %d\n", refuse_state);
    refuse_show("SSL_read", (const void *)SSL_read);
    refuse_show("SSL_write", (const void *)SSL_write);
    refuse_show("SSL_free", (const void *)SSL_free);
#if defined(CONDBR)
    printf("negative %d\n", SSL_read(&dummy, buf, -5));
#endif
    return 0;
}
