/* Unit tests for preload/a64_insn.c: the kinds of the words the arm64
 * patcher meets at the entry of real OpenSSL functions (the prologues of the
 * official Node 22 arm64 build's SSL_read, SSL_write and SSL_free, and of
 * functions built with -mbranch-protection=standard), every PC-relative
 * kind with its target at the limits of its reach, and the encodings that
 * must not be moved. The words were assembled with aarch64-linux-gnu-as
 * (-march=armv8.5-a+pauth) and read back with objdump. The decoder is pure
 * C, so this runs on every architecture. */
#include <check.h>
#include <stdint.h>

#include "a64_insn.h"
#include "check_run.h"

struct a64_case {
    const char *what;
    uint32_t word;
    int kind;
    int64_t rel; /* checked for the PC-relative kinds */
};

static bool a64_pc_relative(int kind)
{
    return kind == A64_INSN_ADR || kind == A64_INSN_ADRP || kind == A64_INSN_B ||
           kind == A64_INSN_BL || kind == A64_INSN_BCOND || kind == A64_INSN_CBZ ||
           kind == A64_INSN_TBZ || kind == A64_INSN_LITERAL;
}

static void check_cases(const struct a64_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct a64_case *c = &cases[i];
        struct a64_insn insn;
        a64_insn_decode(c->word, &insn);
        ck_assert_msg(insn.kind == c->kind, "%s (%08x): kind %d, expected %d", c->what, c->word,
                      insn.kind, c->kind);
        if (a64_pc_relative(c->kind))
            ck_assert_msg(insn.rel == c->rel, "%s: rel %lld, expected %lld", c->what,
                          (long long)insn.rel, (long long)c->rel);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(prologue_instructions_are_plain)
{
    static const struct a64_case cases[] = {
        {"stp x29,x30,[sp,#-112]!", 0xa9b97bfd, A64_INSN_PLAIN, 0},
        {"mov x29,sp", 0x910003fd, A64_INSN_PLAIN, 0},
        {"stp x19,x20,[sp,#16]", 0xa90153f3, A64_INSN_PLAIN, 0},
        {"mov x20,x0", 0xaa0003f4, A64_INSN_PLAIN, 0},
        {"add x1,x0,#0x20", 0x91008001, A64_INSN_PLAIN, 0},
        {"sub sp,sp,#0x40", 0xd10103ff, A64_INSN_PLAIN, 0},
        {"ldr x0,[x1,#8]", 0xf9400420, A64_INSN_PLAIN, 0},
        {"ldr x0,[x1,x2,lsl #3]", 0xf8627820, A64_INSN_PLAIN, 0},
        {"ldp q0,q1,[x0]", 0xad400400, A64_INSN_PLAIN, 0},
        {"str w1,[sp,#12]", 0xb9000fe1, A64_INSN_PLAIN, 0},
        {"mrs x0,tpidr_el0", 0xd53bd040, A64_INSN_PLAIN, 0},
        {"dmb ish", 0xd5033bbf, A64_INSN_PLAIN, 0},
        {"add x0,x1,x2", 0x8b020020, A64_INSN_PLAIN, 0},
        {"fadd d0,d1,d2", 0x1e622820, A64_INSN_PLAIN, 0},
        {"mov x0,#1", 0xd2800020, A64_INSN_PLAIN, 0},
        {"autiasp", 0xd50323bf, A64_INSN_PLAIN, 0},
        {"nop", 0xd503201f, A64_INSN_PLAIN, 0},
    };
    check_cases(cases, N(cases));
}
END_TEST

START_TEST(landing_pads_and_pointer_signing_are_recognised)
{
    static const struct {
        uint32_t word;
        int kind;
        int bti;
    } cases[] = {
        {0xd503233f, A64_INSN_PACSP, 0},                   /* paciasp */
        {0xd503237f, A64_INSN_PACSP, 0},                   /* pacibsp */
        {0xd503241f, A64_INSN_BTI, 0},                     /* bti */
        {0xd503245f, A64_INSN_BTI, A64_BTI_C},             /* bti c */
        {0xd503249f, A64_INSN_BTI, A64_BTI_J},             /* bti j */
        {0xd50324df, A64_INSN_BTI, A64_BTI_C | A64_BTI_J}, /* bti jc */
        {0xd50323bf, A64_INSN_PLAIN, 0},                   /* autiasp: neither */
        {0xd503251f, A64_INSN_PLAIN, 0},                   /* hint #40: neither */
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct a64_insn insn;
        a64_insn_decode(cases[i].word, &insn);
        ck_assert_msg(insn.kind == cases[i].kind, "%08x: kind %d", cases[i].word, insn.kind);
        ck_assert_int_eq(insn.bti, cases[i].bti);
    }
}
END_TEST

START_TEST(pc_relative_addresses_carry_their_offset)
{
    static const struct a64_case cases[] = {
        {"adr x0,.", 0x10000000, A64_INSN_ADR, 0},
        {"adr x0,.+1048575", 0x707fffe0, A64_INSN_ADR, 1048575},
        {"adr x0,.-1048576", 0x10800000, A64_INSN_ADR, -1048576},
        {"adrp x0,.", 0x90000000, A64_INSN_ADRP, 0},
        {"adrp x1,.+4096", 0xb0000001, A64_INSN_ADRP, 4096},
        {"adrp x0,.-4GiB", 0x90800000, A64_INSN_ADRP, -(1ll << 32)},
        {"ldr x0,.+8", 0x58000040, A64_INSN_LITERAL, 8},
        {"ldr w1,.-4", 0x18ffffe1, A64_INSN_LITERAL, -4},
        {"ldrsw x2,.+0xffffc", 0x987fffe2, A64_INSN_LITERAL, 0xffffc},
        {"prfm pldl1keep,.+16", 0xd8000080, A64_INSN_LITERAL, 16},
        {"ldr q0,.+16", 0x9c000080, A64_INSN_LITERAL, 16},
        {"ldr d1,.-0x100000", 0x5c800001, A64_INSN_LITERAL, -0x100000},
        {"ldr s2,.+4", 0x1c000022, A64_INSN_LITERAL, 4},
    };
    check_cases(cases, N(cases));
}
END_TEST

START_TEST(branches_carry_their_target_to_the_limits_of_reach)
{
    static const struct a64_case cases[] = {
        {"b .", 0x14000000, A64_INSN_B, 0},
        {"b .+0x7fffffc", 0x15ffffff, A64_INSN_B, 0x7fffffc},
        {"b .-0x8000000", 0x16000000, A64_INSN_B, -0x8000000},
        {"bl .+4", 0x94000001, A64_INSN_BL, 4},
        {"bl .-0x8000000", 0x96000000, A64_INSN_BL, -0x8000000},
        {"b.eq .+8", 0x54000040, A64_INSN_BCOND, 8},
        {"b.ne .-0x100000", 0x54800001, A64_INSN_BCOND, -0x100000},
        {"b.le .+0xffffc", 0x547fffed, A64_INSN_BCOND, 0xffffc},
        {"b.al .+8", 0x5400004e, A64_INSN_BCOND, 8},
        {"cbz x0,.+0xbc (Node 22 SSL_free)", 0xb40005e0, A64_INSN_CBZ, 0xbc},
        {"cbnz w3,.-4", 0x35ffffe3, A64_INSN_CBZ, -4},
        {"cbz x0,.+0xffffc", 0xb47fffe0, A64_INSN_CBZ, 0xffffc},
        {"tbnz w2,#31,.+0x1a0 (Node 22 SSL_read)", 0x37f80d02, A64_INSN_TBZ, 0x1a0},
        {"tbz x5,#63,.-0x8000", 0xb6fc0005, A64_INSN_TBZ, -0x8000},
        {"tbz w0,#0,.+0x7ffc", 0x3603ffe0, A64_INSN_TBZ, 0x7ffc},
    };
    check_cases(cases, N(cases));
    struct a64_insn insn;
    a64_insn_decode(0x547fffed, &insn); /* b.le */
    ck_assert_int_eq(insn.cond, 0xd);
    ck_assert(a64_insn_is_branch(&insn));
    a64_insn_decode(0xd63f0100, &insn); /* blr x8: not a direct branch */
    ck_assert(!a64_insn_is_branch(&insn));
}
END_TEST

START_TEST(branches_through_registers_name_the_register)
{
    static const struct {
        const char *what;
        uint32_t word;
        int kind;
        int reg;
    } cases[] = {
        {"br x16", 0xd61f0200, A64_INSN_BR, 16},      {"br x1", 0xd61f0020, A64_INSN_BR, 1},
        {"blr x8", 0xd63f0100, A64_INSN_BLR, 8},      {"ret", 0xd65f03c0, A64_INSN_RET, 30},
        {"ret x1", 0xd65f0020, A64_INSN_RET, 1},      {"retaa", 0xd65f0bff, A64_INSN_RET, 31},
        {"retab", 0xd65f0fff, A64_INSN_RET, 31},      {"braa x16,x17", 0xd71f0a11, A64_INSN_BR, 16},
        {"brab x1,sp", 0xd71f0c3f, A64_INSN_BR, 1},   {"braaz x16", 0xd61f0a1f, A64_INSN_BR, 16},
        {"blraa x8,x9", 0xd73f0909, A64_INSN_BLR, 8}, {"blraaz x3", 0xd63f087f, A64_INSN_BLR, 3},
        {"blrabz x4", 0xd63f0c9f, A64_INSN_BLR, 4},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct a64_insn insn;
        a64_insn_decode(cases[i].word, &insn);
        ck_assert_msg(insn.kind == cases[i].kind, "%s: kind %d", cases[i].what, insn.kind);
        ck_assert_msg(insn.reg == cases[i].reg, "%s: reg %d", cases[i].what, insn.reg);
    }
}
END_TEST

START_TEST(unknown_and_trapping_encodings_are_not_plain)
{
    static const struct a64_case cases[] = {
        {"udf #0", 0x00000000, A64_INSN_UNKNOWN, 0},
        {"svc #0", 0xd4000001, A64_INSN_UNKNOWN, 0},
        {"brk #0x3e8", 0xd4207d00, A64_INSN_UNKNOWN, 0},
        {"eret", 0xd69f03e0, A64_INSN_UNKNOWN, 0},
        {"drps", 0xd6bf03e0, A64_INSN_UNKNOWN, 0},
        {"op0 0001 (unallocated)", 0x02000000, A64_INSN_UNKNOWN, 0},
        {"op0 0011 (unallocated)", 0x06000000, A64_INSN_UNKNOWN, 0},
        {"op0 0010 (SVE)", 0x04a00000, A64_INSN_UNKNOWN, 0},
        {"ldr literal opc=11 V=1 (unallocated)", 0xdc000000, A64_INSN_UNKNOWN, 0},
        {"br with op3 bits set (unallocated)", 0xd61f0600, A64_INSN_UNKNOWN, 0},
        {"ret with rm set (unallocated)", 0xd65f03c1, A64_INSN_UNKNOWN, 0},
    };
    check_cases(cases, N(cases));
}
END_TEST

START_TEST(the_official_node_22_prologues_classify_as_the_patcher_expects)
{
    /* SSL_read: stp; mov x29,sp; stp; tbnz. SSL_free: cbz; stp; add; mov. */
    static const uint32_t ssl_read[] = {0xa9b97bfd, 0x910003fd, 0xa90153f3, 0x37f80ca2};
    static const int read_kinds[] = {A64_INSN_PLAIN, A64_INSN_PLAIN, A64_INSN_PLAIN, A64_INSN_TBZ};
    static const uint32_t ssl_free[] = {0xb40005e0, 0xa9be7bfd, 0x91008001, 0x910003fd};
    static const int free_kinds[] = {A64_INSN_CBZ, A64_INSN_PLAIN, A64_INSN_PLAIN, A64_INSN_PLAIN};
    struct a64_insn insn;
    for (size_t i = 0; i < N(ssl_read); i++) {
        a64_insn_decode(ssl_read[i], &insn);
        ck_assert_int_eq(insn.kind, read_kinds[i]);
        a64_insn_decode(ssl_free[i], &insn);
        ck_assert_int_eq(insn.kind, free_kinds[i]);
    }
    a64_insn_decode(0x37f80ca2, &insn);
    ck_assert_int_eq(insn.rel, 0x1e20fe4 - 0x1e20e50); /* SSL_read+0x1a0 from +0xc */
}
END_TEST

static Suite *a64_insn_suite(void)
{
    Suite *s = suite_create("a64_insn");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, prologue_instructions_are_plain);
    tcase_add_test(tc, landing_pads_and_pointer_signing_are_recognised);
    tcase_add_test(tc, pc_relative_addresses_carry_their_offset);
    tcase_add_test(tc, branches_carry_their_target_to_the_limits_of_reach);
    tcase_add_test(tc, branches_through_registers_name_the_register);
    tcase_add_test(tc, unknown_and_trapping_encodings_are_not_plain);
    tcase_add_test(tc, the_official_node_22_prologues_classify_as_the_patcher_expects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(a64_insn_suite());
}
