/*
 * patch_a64.c - the arm64 backend of the patcher (see patch_arch.h for the
 * interface, patch.c's DESIGN for why each shape is what it is):
 *
 *   entry:  [bti c]  b relay                  (one word; the page within +-128 MiB)
 *   relay:  ldr x16, #8; br x16; .quad hook
 *   tramp:  bti c; relocated instructions; b entry+n
 *
 * and, for a function that opens with paciasp or pacibsp:
 *
 *   entry:  bti jc; b relay                   (two words replaced)
 *   tramp:  paciasp; second instruction; b entry+8
 *
 * A relocated conditional branch (b.cond, cbz/cbnz, tbz/tbnz) whose target
 * lies outside the patched words becomes the opposite condition over a
 * direct b to the same target: "cbnz x0, +8; b target". A relocated adr or
 * adrp becomes a load of the address it computed at its old place:
 * "ldr xd, #8; b #12; .quad address". Every branch the
 * backend emits is direct, except the relay's br x16 into the hook (a C
 * function of cap.c that starts with a landing pad); a br back into a
 * guarded page would land on a non-pad and fault.
 */
#include "patch_arch.h"

#include <stdio.h>
#include <string.h>

#include "a64_insn.h"

#if defined(__AARCH64EB__)
#error "the arm64 patcher writes instruction words in host byte order: little-endian only"
#endif

#define A64_BTI_C_WORD 0xd503245fu
#define A64_BTI_JC_WORD 0xd50324dfu
#define A64_LDR_X16_8 0x58000050u /* ldr x16, #8 */
#define A64_BR_X16 0xd61f0200u
#define A64_RELAY 16               /* bytes: ldr, br, .quad */
#define A64_WORDS (PATCH_SLOT / 4) /* words of one slot */

/* b from..to, or false if out of imm26 reach. */
static bool a64_b(uintptr_t from, uintptr_t to, uint32_t *out)
{
    int64_t d = (int64_t)(to - from);
    if (d < -(1ll << 27) || d >= (1ll << 27))
        return false;
    *out = 0x14000000u | ((uint32_t)(d >> 2) & 0x03ffffffu);
    return true;
}

/* The opposite of a conditional branch, whose target is the word after the
 * next (imm = 2 words). */
static uint32_t a64_invert_skip(uint32_t w, const struct a64_insn *insn)
{
    if (insn->kind == A64_INSN_TBZ)
        return ((w ^ (1u << 24)) & ~(0x3fffu << 5)) | (2u << 5);
    if (insn->kind == A64_INSN_CBZ)
        return ((w ^ (1u << 24)) & ~(0x7ffffu << 5)) | (2u << 5);
    return ((w ^ 1u) & ~(0x7ffffu << 5)) | (2u << 5); /* b.cond: cond ^ 1 */
}

static const char *a64_refusal(const struct a64_insn *insn)
{
    switch (insn->kind) {
    case A64_INSN_ADR:
        return "a PC-relative adr";
    case A64_INSN_ADRP:
        return "a PC-relative adrp";
    case A64_INSN_B:
        return "a branch";
    case A64_INSN_BL:
        return "a call";
    case A64_INSN_LITERAL:
        return "a PC-relative literal load";
    case A64_INSN_BR:
        return "an indirect branch";
    case A64_INSN_BLR:
        return "an indirect call";
    case A64_INSN_RET:
        return "a return";
    case A64_INSN_BCOND:
        return "an unconditional b.al/b.nv";
    default:
        return "an instruction not proved position-independent";
    }
}

static uint32_t a64_word(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* The words of fn's slot (relay, then trampoline), into out[A64_WORDS].
 * Returns the number of words, or 0 with plan->why set. The same code
 * checks (patch_arch_plan_fn) and emits, so what was checked is what runs. */
static size_t a64_build(struct patch_plan *plan, int f, uint32_t *out, const char *name)
{
    const struct patch_fn *fn = &plan->fns[f];
    uintptr_t slot = (uintptr_t)patch_slot(plan, f);
    uintptr_t back = (uintptr_t)fn->entry + fn->skip + fn->len;
    size_t n = 0;
    uint64_t hook = (uintptr_t)fn->hook;

    out[n++] = A64_LDR_X16_8;
    out[n++] = A64_BR_X16;
    memcpy(&out[n], &hook, 8);
    n += 2;
    /* The hook calls the trampoline through a pointer (blr): it opens with
     * a landing pad, unless its first word is paciasp, which is one. */
    struct a64_insn first;
    a64_insn_decode(a64_word(fn->entry + fn->skip), &first);
    if (first.kind != A64_INSN_PACSP)
        out[n++] = A64_BTI_C_WORD;
    for (size_t off = fn->skip; off < fn->skip + fn->len; off += 4) {
        uint32_t w = a64_word(fn->entry + off);
        struct a64_insn insn;
        a64_insn_decode(w, &insn);
        if (n + 5 > A64_WORDS) { /* the longest rewrite, and the b back */
            snprintf(plan->why, sizeof(plan->why), "%s: its trampoline would not fit", name);
            return 0;
        }
        bool cond = insn.kind == A64_INSN_CBZ || insn.kind == A64_INSN_TBZ ||
                    (insn.kind == A64_INSN_BCOND && insn.cond < 14);
        if (insn.kind == A64_INSN_PLAIN || insn.kind == A64_INSN_BTI ||
            insn.kind == A64_INSN_PACSP) {
            out[n++] = w;
        } else if (cond) {
            uintptr_t target = (uintptr_t)fn->entry + off + (uintptr_t)insn.rel;
            out[n++] = a64_invert_skip(w, &insn);
            if (!a64_b(slot + n * 4, target, &out[n])) {
                snprintf(plan->why, sizeof(plan->why),
                         "%s+%zu: the target of its branch is out of reach of the trampolines",
                         name, off);
                return 0;
            }
            n++;
        } else if (insn.kind == A64_INSN_ADR || insn.kind == A64_INSN_ADRP) {
            /* The address it computes, as a literal: ldr xd, #8; b #12;
             * .quad value (the literal is read as data, never run). */
            uintptr_t pc = (uintptr_t)fn->entry + off;
            uint64_t value =
                (insn.kind == A64_INSN_ADRP ? pc & ~(uintptr_t)0xfff : pc) + (uint64_t)insn.rel;
            out[n++] = 0x58000040u | (w & 0x1f);
            out[n++] = 0x14000003u;
            memcpy(&out[n], &value, 8);
            n += 2;
        } else {
            snprintf(plan->why, sizeof(plan->why), "%s+%zu: %s", name, off, a64_refusal(&insn));
            return 0;
        }
    }
    if (!a64_b(slot + n * 4, back, &out[n])) {
        snprintf(plan->why, sizeof(plan->why), "%s is out of branch reach of its trampoline", name);
        return 0;
    }
    return n + 1;
}

bool patch_arch_plan_fn(struct patch_plan *plan, struct patch_fn *fn, const char *name)
{
    uint32_t words[A64_WORDS];
    struct a64_insn insn;
    int f = (int)(fn - plan->fns);

    if (fn->size < 8 || fn->size > PATCH_BODY_MAX || fn->size % 4 != 0 ||
        (uintptr_t)fn->entry % 4 != 0) {
        snprintf(plan->why, sizeof(plan->why), "%s has an implausible size (%zu bytes)", name,
                 fn->size);
        return false;
    }
    /* A bti stays where it is; paciasp moves to the trampoline (it signs
     * LR, which must be the hook's return address, not the caller's) and
     * leaves a bti jc in its place, so that every indirect branch that
     * landed on it still lands on a pad: patch.c's DESIGN has the
     * reasoning. */
    a64_insn_decode(a64_word(fn->entry), &insn);
    fn->skip = insn.kind == A64_INSN_BTI ? 4 : 0;
    fn->len = insn.kind == A64_INSN_PACSP ? 8 : 4;
    fn->patch_len = fn->len;
    if (fn->skip + fn->len > fn->size) {
        snprintf(plan->why, sizeof(plan->why), "%s has an implausible size (%zu bytes)", name,
                 fn->size);
        return false;
    }
    if (!plan->near) {
        snprintf(plan->why, sizeof(plan->why), "%s: no page for its relay in branch reach", name);
        return false;
    }
    uint32_t b;
    uintptr_t at = (uintptr_t)fn->entry + fn->skip + fn->patch_len - 4;
    if (!a64_b(at, (uintptr_t)patch_slot(plan, f), &b)) {
        snprintf(plan->why, sizeof(plan->why), "%s is out of branch reach of its relay", name);
        return false;
    }
    if (a64_build(plan, f, words, name) == 0)
        return false;

    /* Nothing in the function may branch into the words we replace, and it
     * must call out somewhere (see DESIGN: callers of a leaf may keep values
     * in the registers it leaves alone). A literal pool or jump table in the
     * body decodes as some instruction too: at worst a refusal. */
    bool calls = false;
    for (size_t off = 0; off < fn->size; off += 4) {
        a64_insn_decode(a64_word(fn->entry + off), &insn);
        if (a64_insn_is_branch(&insn)) {
            uintptr_t target = (uintptr_t)fn->entry + off + (uintptr_t)insn.rel;
            if (!patch_body_branch(plan, fn, name, off, target, insn.kind == A64_INSN_BL, &calls))
                return false;
        }
        /* A br through x16 or x17 is a tail call (the registers of veneers
         * and of BTI-compatible indirect tail calls); one through another
         * register may be a switch. */
        if (insn.kind == A64_INSN_BLR ||
            (insn.kind == A64_INSN_BR && (insn.reg == 16 || insn.reg == 17)))
            calls = true;
    }
    if (!calls) {
        snprintf(plan->why, sizeof(plan->why),
                 "%s calls nothing, so its callers may rely on registers it leaves alone", name);
        return false;
    }
    return true;
}

void *patch_arch_emit(struct patch_plan *plan, int f)
{
    uint32_t words[A64_WORDS];
    size_t n = a64_build(plan, f, words, "");
    uint8_t *slot = patch_slot(plan, f);
    memcpy(slot, words, n * 4);
    return slot + A64_RELAY;
}

void patch_arch_entry_bytes(const struct patch_plan *plan, int f, uint8_t *out)
{
    const struct patch_fn *fn = &plan->fns[f];
    uintptr_t at = (uintptr_t)fn->entry + fn->skip;
    uint32_t w[2];
    size_t n = 0;
    if (fn->patch_len == 8)
        w[n++] = A64_BTI_JC_WORD; /* in place of paciasp: see DESIGN */
    a64_b(at + n * 4, (uintptr_t)patch_slot(plan, f), &w[n]);
    n++;
    memcpy(out, w, n * 4);
}
