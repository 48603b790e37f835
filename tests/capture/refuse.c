/*
 * refuse.c - an executable that exports SSL_read, SSL_write and SSL_free,
 * for the refusal test (issue 12, criterion 4).
 *
 *   -DREFUSE_RIPREL  SSL_read opens with a RIP-relative load
 *   -DREFUSE_JMP     SSL_read opens with a jmp
 *   neither          SSL_read is as patchable as the others (the control)
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

#if defined(REFUSE_RIPREL) || defined(REFUSE_JMP)
int SSL_read(void *ssl, void *buf, int num);
REFUSE_EXPORT int refuse_read_body(void *ssl, void *buf, int num)
{
    (void)ssl;
    (void)buf;
    return refuse_op(num, refuse_state) - 1; /* not a tail call */
}
#if defined(REFUSE_RIPREL)
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
    return 0;
}
