/*
 * patch_x86.c - the x86-64 backend of the patcher (see patch_arch.h for the
 * interface, patch.c's DESIGN for the shapes):
 *
 *   entry:  [endbr64]  jmp rel32 -> relay       (5 bytes; 14 with no near page)
 *   relay:  jmp [rip+0]; .quad hook             (in a page within +-2 GiB)
 *   tramp:  endbr64; relocated instructions; jmp [rip+0]; .quad entry+n
 */
#include "patch_arch.h"

#include <stdio.h>
#include <string.h>

#include "x86_insn.h"

#define PATCH_JMP_NEAR 5 /* jmp rel32 */
#define PATCH_JMP_ABS 14 /* jmp [rip+0]; .quad target */

/* Decides how many instructions to move. Returns false (and says why) if
 * the prologue cannot be proved safe to relocate. */
bool patch_arch_plan_fn(struct patch_plan *plan, struct patch_fn *fn, const char *name)
{
    struct x86_insn insn;
    size_t off;
    size_t jmp_len = plan->near ? PATCH_JMP_NEAR : PATCH_JMP_ABS;

    if (fn->size < jmp_len || fn->size > PATCH_BODY_MAX) {
        snprintf(plan->why, sizeof(plan->why), "%s has an implausible size (%zu bytes)", name,
                 fn->size);
        return false;
    }
    fn->skip = 0;
    if (x86_insn_decode(fn->entry, fn->size, &insn) > 0 && insn.endbr)
        fn->skip = insn.len;
    /* relay, endbr64, the relocated instructions, the jmp back */
    size_t emitted = PATCH_JMP_ABS + 4 + PATCH_JMP_ABS;
    for (off = fn->skip; off - fn->skip < jmp_len;) {
        int n = x86_insn_decode(fn->entry + off, fn->size - off, &insn);
        if (n < 0) {
            snprintf(plan->why, sizeof(plan->why), "%s+%zu: an instruction it cannot decode", name,
                     off);
            return false;
        }
        if (insn.kind != X86_INSN_PLAIN && insn.kind != X86_INSN_JCC) {
            static const char *const kinds[] = {
                [X86_INSN_RIPREL] = "a RIP-relative operand",
                [X86_INSN_JMP] = "a jump",
                [X86_INSN_CALL] = "a call",
                [X86_INSN_LOOP] = "a loop branch",
                [X86_INSN_END] = "the end of the function",
                [X86_INSN_INDIRECT_CALL] = "an indirect call",
            };
            snprintf(plan->why, sizeof(plan->why), "%s+%zu: %s", name, off, kinds[insn.kind]);
            return false;
        }
        emitted += insn.kind == X86_INSN_JCC ? 2 + PATCH_JMP_ABS : (size_t)n;
        off += (size_t)n;
    }
    fn->len = off - fn->skip;
    if (emitted > PATCH_SLOT) {
        snprintf(plan->why, sizeof(plan->why), "%s: its trampoline would not fit", name);
        return false;
    }
    fn->patch_len = jmp_len;
    if (plan->near) {
        int64_t d = (int64_t)((intptr_t)plan->code - (intptr_t)fn->entry);
        if (d > INT32_MAX / 2 || d < -(INT32_MAX / 2)) {
            snprintf(plan->why, sizeof(plan->why), "%s is out of rel32 reach of the trampolines",
                     name);
            return false;
        }
    }

    /* Nothing in the function may branch into the bytes we replace, and it
     * must call out somewhere (see DESIGN: callers of a leaf may keep values
     * in the registers it leaves alone). */
    bool calls = false;
    for (off = 0; off < fn->size;) {
        int n = x86_insn_decode(fn->entry + off, fn->size - off, &insn);
        if (n < 0) {
            snprintf(plan->why, sizeof(plan->why), "%s+%zu: cannot decode the body to check it",
                     name, off);
            return false;
        }
        if (insn.kind == X86_INSN_JCC || insn.kind == X86_INSN_JMP || insn.kind == X86_INSN_CALL ||
            insn.kind == X86_INSN_LOOP) {
            uintptr_t target = (uintptr_t)fn->entry + off + (size_t)n + (uintptr_t)insn.rel;
            if (!patch_body_branch(plan, fn, name, off, target, insn.kind == X86_INSN_CALL, &calls))
                return false;
        }
        /* A jmp through memory at a RIP-relative address is a tail call
         * through the GOT; one through a register may be a switch. */
        if (insn.indirect == X86_IND_CALL || (insn.indirect == X86_IND_JMP && insn.disp_off != 0))
            calls = true;
        off += (size_t)n;
    }
    if (!calls) {
        snprintf(plan->why, sizeof(plan->why),
                 "%s calls nothing, so its callers may rely on registers it leaves alone", name);
        return false;
    }
    return true;
}

static uint8_t *patch_emit_abs_jmp(uint8_t *p, uintptr_t target)
{
    static const uint8_t jmp[6] = {0xFF, 0x25, 0, 0, 0, 0}; /* jmp [rip+0] */
    memcpy(p, jmp, sizeof(jmp));
    memcpy(p + 6, &target, 8);
    return p + 14;
}

/* Writes fn's relay (if near) and trampoline into its slot; returns the
 * trampoline. */
void *patch_arch_emit(struct patch_plan *plan, int f)
{
    static const uint8_t endbr64[4] = {0xF3, 0x0F, 0x1E, 0xFA};
    struct patch_fn *fn = &plan->fns[f];
    uint8_t *slot = patch_slot(plan, f);
    uint8_t *p = slot;

    if (plan->near)
        p = patch_emit_abs_jmp(p, (uintptr_t)fn->hook); /* the relay */
    uint8_t *tramp = p;
    memcpy(p, endbr64, sizeof(endbr64));
    p += sizeof(endbr64);
    for (size_t off = fn->skip; off < fn->skip + fn->len;) {
        struct x86_insn insn;
        const uint8_t *src = fn->entry + off;
        int n = x86_insn_decode(src, fn->skip + fn->len - off, &insn);
        if (insn.kind == X86_INSN_JCC) {
            uintptr_t target = (uintptr_t)src + (size_t)n + (uintptr_t)insn.rel;
            *p++ = (uint8_t)(0x70 | (insn.cc ^ 1)); /* the opposite condition */
            *p++ = PATCH_JMP_ABS;                   /* skips the jmp below */
            p = patch_emit_abs_jmp(p, target);
        } else {
            memcpy(p, src, (size_t)n);
            p += n;
        }
        off += (size_t)n;
    }
    patch_emit_abs_jmp(p, (uintptr_t)fn->entry + fn->skip + fn->len);
    return tramp;
}

/* The bytes written at fn's entry + skip. */
void patch_arch_entry_bytes(const struct patch_plan *plan, int f, uint8_t *out)
{
    const struct patch_fn *fn = &plan->fns[f];
    uint8_t *relay = patch_slot(plan, f);
    if (plan->near) {
        int32_t rel = (int32_t)((intptr_t)relay - ((intptr_t)fn->entry + (intptr_t)fn->skip + 5));
        out[0] = 0xE9;
        memcpy(out + 1, &rel, 4);
    } else {
        patch_emit_abs_jmp(out, (uintptr_t)fn->hook);
    }
}
