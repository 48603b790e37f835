/*
 * a64_insn.c - the kind of one A64 instruction (see a64_insn.h).
 *
 * DESIGN
 *
 * Arm ARM (DDI 0487), section C4.1 "A64 instruction set encoding": bits
 * 28:25 (op0) split the space into the main groups, and only two of them
 * hold anything that depends on the instruction's address:
 *
 *   100x  data processing, immediate: adr and adrp (C4.1.86, bits 28:24 =
 *         10000); everything else (add/sub, logical, move wide, bitfield,
 *         extract) is plain
 *   101x  branches, exception generation, system (C4.1.87): b, bl, b.cond,
 *         cbz/cbnz, tbz/tbnz, the branches through a register; the hints
 *         (bti, paciasp) and the other system instructions are plain
 *   x1x0  loads and stores (C4.1.88): only "load register (literal)"
 *         (bits 29:27 = 011, 25:24 = 00) reads at the PC; every other form
 *         addresses through a register
 *   x101, x111  data processing on registers, SIMD and FP: plain
 *
 * The rest (0000 reserved and SME, 0001 and 0011 unallocated, 0010 SVE) is
 * unknown: SVE has no PC-relative form, but nothing the patcher meets in a
 * prologue is SVE, and "not proved" is the rule. Exception generation (svc,
 * brk, hvc, ...) and eret/drps are unknown too: they are not moved.
 */
#include "a64_insn.h"

#include <string.h>

static int64_t a64_sext(uint32_t v, unsigned bits)
{
    uint64_t m = (uint64_t)1 << (bits - 1);
    return (int64_t)(((uint64_t)v ^ m) - m);
}

/* 101x: branches, exception generation, system. */
static void a64_branch_sys(uint32_t w, struct a64_insn *insn)
{
    if ((w & 0x7c000000) == 0x14000000) { /* b, bl */
        insn->kind = (w >> 31) ? A64_INSN_BL : A64_INSN_B;
        insn->rel = a64_sext(w & 0x03ffffff, 26) * 4;
    } else if ((w & 0x7e000000) == 0x34000000) { /* cbz, cbnz */
        insn->kind = A64_INSN_CBZ;
        insn->rel = a64_sext((w >> 5) & 0x7ffff, 19) * 4;
    } else if ((w & 0x7e000000) == 0x36000000) { /* tbz, tbnz */
        insn->kind = A64_INSN_TBZ;
        insn->rel = a64_sext((w >> 5) & 0x3fff, 14) * 4;
    } else if ((w & 0xff000000) == 0x54000000) { /* b.cond; bc.cond with bit 4 */
        insn->kind = A64_INSN_BCOND;
        insn->cond = w & 0xf;
        insn->rel = a64_sext((w >> 5) & 0x7ffff, 19) * 4;
    } else if ((w & 0xffffff3f) == 0xd503241f) { /* hint #32-38 even: bti */
        insn->kind = A64_INSN_BTI;
        insn->bti = (w >> 6) & 3;
    } else if (w == 0xd503233f || w == 0xd503237f) { /* paciasp, pacibsp */
        insn->kind = A64_INSN_PACSP;
    } else if ((w & 0xffc00000) == 0xd5000000) { /* system: hints, barriers, msr/mrs */
        insn->kind = A64_INSN_PLAIN;
    } else if ((w & 0xfe1f0000) == 0xd61f0000) { /* unconditional branch (register) */
        unsigned opc = (w >> 21) & 0xf, op3 = (w >> 10) & 0x3f, rn = (w >> 5) & 0x1f;
        unsigned rm = w & 0x1f;
        bool plain = op3 == 0 && rm == 0; /* br, blr, ret */
        bool pac = op3 == 2 || op3 == 3;  /* the A and B key forms */
        insn->reg = (uint8_t)rn;
        if ((opc == 0 || opc == 1) && (plain || (pac && rm == 31)))
            insn->kind = opc == 0 ? A64_INSN_BR : A64_INSN_BLR; /* braaz, blraaz, ... */
        else if (opc == 2 && (plain || (pac && rn == 31 && rm == 31)))
            insn->kind = A64_INSN_RET; /* ret, retaa, retab */
        else if ((opc == 8 || opc == 9) && pac)
            insn->kind = opc == 8 ? A64_INSN_BR : A64_INSN_BLR; /* braa, blraa, ... */
    }
}

void a64_insn_decode(uint32_t w, struct a64_insn *insn)
{
    memset(insn, 0, sizeof(*insn));
    insn->kind = A64_INSN_UNKNOWN;
    unsigned op0 = (w >> 25) & 0xf;

    if ((op0 & 0xe) == 0x8) { /* 100x: data processing, immediate */
        if ((w & 0x1f000000) == 0x10000000) {
            int64_t imm = a64_sext(((w >> 5) & 0x7ffff) << 2 | ((w >> 29) & 3), 21);
            insn->kind = (w >> 31) ? A64_INSN_ADRP : A64_INSN_ADR;
            insn->rel = (w >> 31) ? imm * 4096 : imm;
        } else {
            insn->kind = A64_INSN_PLAIN;
        }
    } else if ((op0 & 0xe) == 0xa) { /* 101x */
        a64_branch_sys(w, insn);
    } else if ((op0 & 0x5) == 0x4) {          /* x1x0: loads and stores */
        if ((w & 0x3b000000) == 0x18000000) { /* load register (literal) */
            insn->kind = (w & 0xc4000000) == 0xc4000000 ? A64_INSN_UNKNOWN : A64_INSN_LITERAL;
            insn->rel = a64_sext((w >> 5) & 0x7ffff, 19) * 4;
        } else {
            insn->kind = A64_INSN_PLAIN;
        }
    } else if ((op0 & 0x7) == 0x5 || (op0 & 0x7) == 0x7) { /* x101, x111 */
        insn->kind = A64_INSN_PLAIN;
    }
}

bool a64_insn_is_branch(const struct a64_insn *insn)
{
    return insn->kind == A64_INSN_B || insn->kind == A64_INSN_BL || insn->kind == A64_INSN_BCOND ||
           insn->kind == A64_INSN_CBZ || insn->kind == A64_INSN_TBZ;
}
