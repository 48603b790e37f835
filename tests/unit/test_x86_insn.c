/* Unit tests for preload/x86_insn.c: lengths and kinds of the instructions
 * the patcher meets at the entry of real OpenSSL functions (the prologues
 * below are copied from the official Node 20, 22 and 24 builds and from
 * Debian's libssl.a), and the encodings it must refuse to relocate. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "x86_insn.h"
#include "check_run.h"

struct insn_case {
    const char *what;
    uint8_t bytes[16];
    int len; /* or a negative errno */
    int kind;
};

static void check_case(const struct insn_case *c, size_t avail)
{
    struct x86_insn insn;
    int n = x86_insn_decode(c->bytes, avail, &insn);
    ck_assert_msg(n == c->len, "%s: length %d, expected %d", c->what, n, c->len);
    if (n > 0) {
        ck_assert_msg(insn.len == n, "%s: insn.len %d", c->what, insn.len);
        ck_assert_msg(insn.kind == c->kind, "%s: kind %d, expected %d", c->what, insn.kind,
                      c->kind);
    }
}

static void check_cases(const struct insn_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_case(&cases[i], sizeof(cases[i].bytes));
}

START_TEST(prologue_instructions_are_plain)
{
    static const struct insn_case cases[] = {
        {"push rbp", {0x55}, 1, X86_INSN_PLAIN},
        {"mov rbp,rsp", {0x48, 0x89, 0xe5}, 3, X86_INSN_PLAIN},
        {"push r15", {0x41, 0x57}, 2, X86_INSN_PLAIN},
        {"push rbx", {0x53}, 1, X86_INSN_PLAIN},
        {"sub rsp,0x48", {0x48, 0x83, 0xec, 0x48}, 4, X86_INSN_PLAIN},
        {"sub rsp,0x100", {0x48, 0x81, 0xec, 0x00, 0x01, 0x00, 0x00}, 7, X86_INSN_PLAIN},
        {"test edx,edx", {0x85, 0xd2}, 2, X86_INSN_PLAIN},
        {"test rdi,rdi", {0x48, 0x85, 0xff}, 3, X86_INSN_PLAIN},
        {"mov eax,-1", {0xb8, 0xff, 0xff, 0xff, 0xff}, 5, X86_INSN_PLAIN},
        {"mov r12,rdi", {0x49, 0x89, 0xfc}, 3, X86_INSN_PLAIN},
        {"mov rax,fs:0x28",
         {0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00},
         9,
         X86_INSN_PLAIN},
        {"mov [rsp+8],rax", {0x48, 0x89, 0x44, 0x24, 0x08}, 5, X86_INSN_PLAIN},
        {"lea rbp,[rsp-0x38]", {0x48, 0x8d, 0x6c, 0x24, 0xc8}, 5, X86_INSN_PLAIN},
        {"lock xadd [rdi+0x9e0],eax",
         {0xf0, 0x0f, 0xc1, 0x87, 0xe0, 0x09, 0x00, 0x00},
         8,
         X86_INSN_PLAIN},
        {"movabs rax,imm64", {0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, 10, X86_INSN_PLAIN},
        {"nopw 0(rax,rax)", {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00}, 6, X86_INSN_PLAIN},
        {"xor eax,eax", {0x31, 0xc0}, 2, X86_INSN_PLAIN},
        {"test byte [rdi],1", {0xf6, 0x07, 0x01}, 3, X86_INSN_PLAIN},
        {"vmovdqu xmm0,[rsi]", {0xc5, 0xfa, 0x6f, 0x06}, 4, X86_INSN_PLAIN},
        {"vmovdqa32 zmm0,[rsi]", {0x62, 0xf1, 0x7d, 0x48, 0x6f, 0x06}, 6, X86_INSN_PLAIN},
        {"pshufd xmm0,xmm1,0x1b", {0x66, 0x0f, 0x70, 0xc1, 0x1b}, 5, X86_INSN_PLAIN},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(endbr64_is_recognised)
{
    static const uint8_t endbr[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x55};
    struct x86_insn insn;
    ck_assert_int_eq(x86_insn_decode(endbr, sizeof(endbr), &insn), 4);
    ck_assert_int_eq(insn.kind, X86_INSN_PLAIN);
    ck_assert(insn.endbr);
    /* The same opcode without F3 is a nop-class hint, not endbr64. */
    static const uint8_t hint[] = {0x0f, 0x1e, 0xfa};
    ck_assert_int_eq(x86_insn_decode(hint, sizeof(hint), &insn), 3);
    ck_assert(!insn.endbr);
}
END_TEST

START_TEST(branches_carry_their_target)
{
    struct x86_insn insn;
    static const uint8_t je8[] = {0x74, 0x16};
    ck_assert_int_eq(x86_insn_decode(je8, sizeof(je8), &insn), 2);
    ck_assert_int_eq(insn.kind, X86_INSN_JCC);
    ck_assert_int_eq(insn.cc, 4);
    ck_assert_int_eq(insn.rel, 0x16);
    /* Node 22's SSL_free: test rdi,rdi; je +0x97 (rel32). */
    static const uint8_t je32[] = {0x0f, 0x84, 0x97, 0x00, 0x00, 0x00};
    ck_assert_int_eq(x86_insn_decode(je32, sizeof(je32), &insn), 6);
    ck_assert_int_eq(insn.kind, X86_INSN_JCC);
    ck_assert_int_eq(insn.rel, 0x97);
    static const uint8_t js_back[] = {0x78, 0xf0};
    ck_assert_int_eq(x86_insn_decode(js_back, sizeof(js_back), &insn), 2);
    ck_assert_int_eq(insn.cc, 8);
    ck_assert_int_eq(insn.rel, -16);
    static const uint8_t call[] = {0xe8, 0xc7, 0xfd, 0xff, 0xff};
    ck_assert_int_eq(x86_insn_decode(call, sizeof(call), &insn), 5);
    ck_assert_int_eq(insn.kind, X86_INSN_CALL);
    ck_assert_int_eq(insn.rel, -0x239);
}
END_TEST

START_TEST(what_cannot_move_is_classified)
{
    static const struct insn_case cases[] = {
        {"mov rax,[rip+x]", {0x48, 0x8b, 0x05, 1, 2, 3, 4}, 7, X86_INSN_RIPREL},
        {"lea rdi,[rip+x]", {0x48, 0x8d, 0x3d, 1, 2, 3, 4}, 7, X86_INSN_RIPREL},
        {"cmp byte [rip+x],0", {0x80, 0x3d, 1, 2, 3, 4, 0}, 7, X86_INSN_RIPREL},
        {"vmovdqa xmm0,[rip+x]", {0xc5, 0xf9, 0x6f, 0x05, 1, 2, 3, 4}, 8, X86_INSN_RIPREL},
        {"call [rip+x]", {0xff, 0x15, 1, 2, 3, 4}, 6, X86_INSN_RIPREL},
        {"jmp rel32", {0xe9, 1, 2, 3, 4}, 5, X86_INSN_JMP},
        {"jmp rel8", {0xeb, 0x10}, 2, X86_INSN_JMP},
        {"loop", {0xe2, 0xfe}, 2, X86_INSN_LOOP},
        {"ret", {0xc3}, 1, X86_INSN_END},
        {"ret 8", {0xc2, 0x08, 0x00}, 3, X86_INSN_END},
        {"int3", {0xcc}, 1, X86_INSN_END},
        {"ud2", {0x0f, 0x0b}, 2, X86_INSN_END},
        {"jmp rax", {0xff, 0xe0}, 2, X86_INSN_END},
        {"call rax", {0xff, 0xd0}, 2, X86_INSN_INDIRECT_CALL},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
    /* [index*scale+disp32] with no base looks like RIP-relative and is not. */
    static const struct insn_case sib = {
        "mov eax,[rax*4+disp32]", {0x8b, 0x04, 0x85, 1, 2, 3, 4}, 7, X86_INSN_PLAIN};
    check_case(&sib, sizeof(sib.bytes));
}
END_TEST

START_TEST(unknown_or_invalid_encodings_are_refused)
{
    static const struct insn_case cases[] = {
        {"push es (invalid in 64-bit mode)", {0x06}, -EINVAL, 0},
        {"3DNow!", {0x0f, 0x0f, 0xc1, 0x9e}, -EINVAL, 0},
        {"jmp with 66 prefix", {0x66, 0xe9, 1, 2}, -EINVAL, 0},
        {"jcc rel32 with 66 prefix", {0x66, 0x0f, 0x84, 1, 2}, -EINVAL, 0},
        {"VEX map 0", {0xc4, 0xe0, 0x79, 0x6f, 0x06}, -EINVAL, 0},
        {"FF /7", {0xff, 0xf8}, -EINVAL, 0},
        {"fifteen prefixes and more",
         {0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
          0x90},
         -EINVAL,
         0},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(truncated_input_needs_more)
{
    static const uint8_t code[] = {0x48, 0x81, 0xec, 0x00, 0x01, 0x00, 0x00};
    struct x86_insn insn;
    for (size_t avail = 0; avail < sizeof(code); avail++)
        ck_assert_int_eq(x86_insn_decode(code, avail, &insn), -ENODATA);
    ck_assert_int_eq(x86_insn_decode(code, sizeof(code), &insn), 7);
}
END_TEST

/* The first instructions of Node 22's SSL_read, one after the other. */
START_TEST(a_whole_prologue_decodes_instruction_by_instruction)
{
    static const uint8_t code[] = {0x55, 0x48, 0x89, 0xe5, 0x41, 0x57, 0x41, 0x56, 0x41,
                                   0x55, 0x41, 0x54, 0x53, 0x48, 0x83, 0xec, 0x48};
    static const int lens[] = {1, 3, 2, 2, 2, 2, 1, 4};
    struct x86_insn insn;
    size_t off = 0;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int n = x86_insn_decode(code + off, sizeof(code) - off, &insn);
        ck_assert_int_eq(n, lens[i]);
        ck_assert_int_eq(insn.kind, X86_INSN_PLAIN);
        off += (size_t)n;
    }
    ck_assert_uint_eq(off, sizeof(code));
}
END_TEST

static Suite *x86_insn_suite(void)
{
    Suite *s = suite_create("x86_insn");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, prologue_instructions_are_plain);
    tcase_add_test(tc, endbr64_is_recognised);
    tcase_add_test(tc, branches_carry_their_target);
    tcase_add_test(tc, what_cannot_move_is_classified);
    tcase_add_test(tc, unknown_or_invalid_encodings_are_refused);
    tcase_add_test(tc, truncated_input_needs_more);
    tcase_add_test(tc, a_whole_prologue_decodes_instruction_by_instruction);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(x86_insn_suite());
}
