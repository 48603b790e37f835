/*
 * x86_insn.c - x86-64 instruction length and kind (see x86_insn.h).
 *
 * DESIGN
 *
 * Intel SDM vol. 2, chapter 2 (instruction format) and appendix A (opcode
 * maps), 64-bit mode only. An instruction is
 *
 *   [legacy prefixes] [REX | VEX | EVEX] opcode [ModRM [SIB] [disp]] [imm]
 *
 * and its length follows from three facts per opcode: whether it has a
 * ModRM byte, how wide its immediate is, and whether it is a branch. The
 * one-byte map is a table of those facts; the 0F map is mostly "ModRM, no
 * immediate", with its exceptions listed; 0F38 is always ModRM and 0F3A
 * always ModRM + imm8. That is enough for the code compilers emit in a
 * library like OpenSSL (integer, SSE, AVX, AVX-512 encodings all fit the
 * scheme). What the maps mark invalid in 64-bit mode, or what we have no
 * entry for (3DNow!, XOP), is -EINVAL: the patcher treats it as "cannot
 * prove safe" and leaves the function alone.
 *
 * A 66 prefix on a near branch is refused (-EINVAL): Intel ignores it, AMD
 * truncates the target to 16 bits, so no single relocation is right.
 */
#include "x86_insn.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Facts about one opcode. */
enum {
    OP_M = 1 << 0,      /* ModRM follows */
    OP_I8 = 1 << 1,     /* imm8 */
    OP_IZ = 1 << 2,     /* imm16 with 66, else imm32 */
    OP_I16 = 1 << 3,    /* imm16 */
    OP_BAD = 1 << 4,    /* invalid in 64-bit mode, or not known here */
    OP_END = 1 << 5,    /* flow leaves: ret, int3, hlt, iret */
    OP_JCC8 = 1 << 6,   /* 70-7F */
    OP_JMP8 = 1 << 7,   /* EB */
    OP_REL32 = 1 << 8,  /* E8 call, E9 jmp */
    OP_LOOP = 1 << 9,   /* E0-E3 */
    OP_MOFFS = 1 << 10, /* A0-A3: 64-bit absolute address (32 with 67) */
    OP_MOVI = 1 << 11,  /* B8-BF: imm64 with REX.W */
    OP_GRP3 = 1 << 12,  /* F6/F7: immediate only for /0 and /1 (test) */
};

static unsigned x86_op1(uint8_t op)
{
    uint8_t lo = op & 7;
    if (op < 0x40) {
        /* The eight ALU rows (add, or, adc, sbb, and, sub, xor, cmp): r/m
         * forms, then al/eAX with an immediate; 06/07, 0E, 16/17, 1E/1F,
         * 27, 2F, 37, 3F are invalid (push/pop segment, BCD). The prefixes
         * 26, 2E, 36, 3E are consumed before we get here. */
        if (lo < 4)
            return OP_M;
        if (lo == 4)
            return OP_I8;
        if (lo == 5)
            return OP_IZ;
        return OP_BAD;
    }
    if (op >= 0x50 && op <= 0x5F) /* push/pop reg */
        return 0;
    if (op >= 0x70 && op <= 0x7F)
        return OP_JCC8;
    if (op >= 0x91 && op <= 0x99) /* xchg eAX; cbw; cwd */
        return 0;
    if (op >= 0xB0 && op <= 0xB7)
        return OP_I8;
    if (op >= 0xB8 && op <= 0xBF)
        return OP_IZ | OP_MOVI;
    if (op >= 0xD8 && op <= 0xDF) /* x87 */
        return OP_M;
    switch (op) {
    case 0x63: /* movsxd */
        return OP_M;
    case 0x68: /* push imm32 */
        return OP_IZ;
    case 0x69: /* imul r, r/m, imm32 */
        return OP_M | OP_IZ;
    case 0x6A:
        return OP_I8;
    case 0x6B:
        return OP_M | OP_I8;
    case 0x6C: /* ins/outs */
    case 0x6D:
    case 0x6E:
    case 0x6F:
        return 0;
    case 0x80:
    case 0x83:
        return OP_M | OP_I8;
    case 0x81:
        return OP_M | OP_IZ;
    case 0x84: /* test, xchg, mov, lea, mov seg, pop r/m */
    case 0x85:
    case 0x86:
    case 0x87:
    case 0x88:
    case 0x89:
    case 0x8A:
    case 0x8B:
    case 0x8C:
    case 0x8D:
    case 0x8E:
    case 0x8F:
        return OP_M;
    case 0x90: /* nop / pause */
    case 0x9B: /* fwait */
    case 0x9C: /* pushf, popf, sahf, lahf */
    case 0x9D:
    case 0x9E:
    case 0x9F:
        return 0;
    case 0xA0:
    case 0xA1:
    case 0xA2:
    case 0xA3:
        return OP_MOFFS;
    case 0xA4: /* movs, cmps */
    case 0xA5:
    case 0xA6:
    case 0xA7:
        return 0;
    case 0xA8:
        return OP_I8;
    case 0xA9:
        return OP_IZ;
    case 0xAA: /* stos, lods, scas */
    case 0xAB:
    case 0xAC:
    case 0xAD:
    case 0xAE:
    case 0xAF:
        return 0;
    case 0xC0: /* shifts by imm8 */
    case 0xC1:
        return OP_M | OP_I8;
    case 0xC2: /* ret imm16 */
        return OP_I16 | OP_END;
    case 0xC3:
        return OP_END;
    case 0xC6:
        return OP_M | OP_I8;
    case 0xC7:
        return OP_M | OP_IZ;
    case 0xC8: /* enter imm16, imm8 */
        return OP_I16 | OP_I8;
    case 0xC9: /* leave */
        return 0;
    case 0xCA: /* far returns, int3 */
        return OP_I16 | OP_END;
    case 0xCB:
    case 0xCC:
        return OP_END;
    case 0xCD: /* int imm8 */
        return OP_I8;
    case 0xCF: /* iret */
        return OP_END;
    case 0xD0: /* shifts by 1 or cl */
    case 0xD1:
    case 0xD2:
    case 0xD3:
        return OP_M;
    case 0xD7: /* xlat */
        return 0;
    case 0xE0:
    case 0xE1:
    case 0xE2:
    case 0xE3:
        return OP_LOOP;
    case 0xE4: /* in/out imm8 */
    case 0xE5:
    case 0xE6:
    case 0xE7:
        return OP_I8;
    case 0xE8:
    case 0xE9:
        return OP_REL32;
    case 0xEB:
        return OP_JMP8;
    case 0xEC: /* in/out dx */
    case 0xED:
    case 0xEE:
    case 0xEF:
        return 0;
    case 0xF1: /* int1 */
    case 0xF4: /* hlt */
        return OP_END;
    case 0xF5: /* cmc */
        return 0;
    case 0xF6:
        return OP_M | OP_GRP3;
    case 0xF7:
        return OP_M | OP_GRP3;
    case 0xF8: /* clc, stc, cli, sti, cld, std */
    case 0xF9:
    case 0xFA:
    case 0xFB:
    case 0xFC:
    case 0xFD:
        return 0;
    case 0xFE:
    case 0xFF: /* inc, dec, call/jmp indirect, push r/m: reg field tells */
        return OP_M;
    default: /* 60-62, 82, 9A, C4/C5 and EA: invalid or handled by the caller */
        return OP_BAD;
    }
}

/* The 0F map (two-byte opcodes). */
static unsigned x86_op2(uint8_t op)
{
    if (op >= 0x80 && op <= 0x8F) /* jcc rel32: handled by the caller */
        return 0;
    if (op >= 0xC8 && op <= 0xCF) /* bswap */
        return 0;
    switch (op) {
    case 0x04:
    case 0x0A:
    case 0x0C:
    case 0x0F: /* 3DNow! has an opcode after ModRM: not handled */
    case 0x24:
    case 0x25:
    case 0x26:
    case 0x27:
    case 0x36:
    case 0x39:
    case 0x3B:
    case 0x3C:
    case 0x3D:
    case 0x3E:
    case 0x3F:
    case 0x7A:
    case 0x7B:
    case 0xA6:
    case 0xA7:
        return OP_BAD;
    case 0x05: /* syscall, clts, sysret, invd, wbinvd */
    case 0x06:
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0E: /* femms */
    case 0x30: /* wrmsr, rdtsc, rdmsr, rdpmc, sysenter, sysexit, getsec */
    case 0x31:
    case 0x32:
    case 0x33:
    case 0x34:
    case 0x35:
    case 0x37:
    case 0x77: /* emms (vzeroupper under VEX) */
    case 0xA0: /* push/pop fs, cpuid, push/pop gs, rsm */
    case 0xA1:
    case 0xA2:
    case 0xA8:
    case 0xA9:
    case 0xAA:
        return 0;
    case 0x0B: /* ud2 */
        return OP_END;
    case 0x70: /* pshuf*, shift groups by imm8 */
    case 0x71:
    case 0x72:
    case 0x73:
    case 0xA4: /* shld/shrd imm8 */
    case 0xAC:
    case 0xBA: /* bt group imm8 */
    case 0xC2: /* cmpps & co */
    case 0xC4: /* pinsrw, pextrw, shufps */
    case 0xC5:
    case 0xC6:
        return OP_M | OP_I8;
    default:
        return OP_M;
    }
}

/* ModRM, SIB and displacement at p (avail bytes). Returns their length or
 * a negative errno; *riprel is set for a RIP-relative operand. */
static int x86_modrm(const uint8_t *p, size_t avail, bool *riprel)
{
    if (avail < 1)
        return -ENODATA;
    uint8_t modrm = p[0];
    uint8_t mod = modrm >> 6, rm = modrm & 7;
    int n = 1;
    *riprel = false;
    if (mod == 3)
        return n;
    if (rm == 4) {
        if (avail < 2)
            return -ENODATA;
        uint8_t base = p[1] & 7;
        n++;
        if (mod == 0 && base == 5)
            n += 4; /* [index*scale + disp32], no base, not RIP-relative */
    } else if (mod == 0 && rm == 5) {
        *riprel = true;
        n += 4;
    }
    if (mod == 1)
        n += 1;
    else if (mod == 2)
        n += 4;
    return n;
}

static int64_t x86_rel(const uint8_t *p, int width)
{
    if (width == 1)
        return (int8_t)p[0];
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

int x86_insn_decode(const uint8_t *code, size_t avail, struct x86_insn *insn)
{
    const uint8_t *p = code;
    size_t lim = avail < X86_INSN_MAX ? avail : X86_INSN_MAX;
    bool opsize16 = false, addr32 = false, rex_w = false, rep = false;
    unsigned facts;
    int rc = -ENODATA;
    int map = 0; /* 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A */
    bool vex = false;
    uint8_t op;

    memset(insn, 0, sizeof(*insn));

    /* Legacy prefixes, in any order, then at most one REX right before the
     * opcode (a REX followed by a prefix is ignored by the CPU: refuse). */
    for (;;) {
        if ((size_t)(p - code) >= lim)
            goto out;
        uint8_t b = *p;
        if (b == 0x66)
            opsize16 = true;
        else if (b == 0x67)
            addr32 = true;
        else if (b == 0xF3 || b == 0xF2)
            rep = rep || b == 0xF3;
        else if (b != 0xF0 && b != 0x2E && b != 0x36 && b != 0x3E && b != 0x26 && b != 0x64 &&
                 b != 0x65)
            break;
        p++;
    }
    if ((*p & 0xF0) == 0x40) {
        rex_w = (*p & 8) != 0;
        p++;
        if ((size_t)(p - code) >= lim)
            goto out;
    }

    op = *p++;
    if (op == 0xC5 || op == 0xC4 || op == 0x62) {
        /* VEX (2 or 3 bytes) and EVEX (4 bytes): the map is in the prefix,
         * the opcode follows it, and ModRM always follows the opcode except
         * for vzeroupper/vzeroall (VEX 0F 77). */
        size_t plen = op == 0xC5 ? 1 : op == 0xC4 ? 2 : 3;
        if ((size_t)(p - code) + plen + 1 > lim)
            goto out;
        map = op == 0xC5 ? 1 : (p[0] & (op == 0x62 ? 3 : 0x1F));
        if (op == 0xC4)
            rex_w = (p[1] & 0x80) != 0;
        if (map < 1 || map > 3) {
            rc = -EINVAL;
            goto out;
        }
        p += plen;
        op = *p++;
        vex = true;
    } else if (op == 0x0F) {
        if ((size_t)(p - code) >= lim)
            goto out;
        op = *p++;
        map = 1;
        if (op == 0x38 || op == 0x3A) {
            map = op == 0x38 ? 2 : 3;
            if ((size_t)(p - code) >= lim)
                goto out;
            op = *p++;
        }
    }

    if (map == 0) {
        facts = x86_op1(op);
    } else if (map == 1) {
        facts = x86_op2(op);
        if (vex && op == 0x77)
            facts = 0;
        if (!vex && op >= 0x80 && op <= 0x8F) {
            if (opsize16) {
                rc = -EINVAL;
                goto out;
            }
            if ((size_t)(p - code) + 4 > lim)
                goto out;
            insn->kind = X86_INSN_JCC;
            insn->cc = op & 0xF;
            insn->rel = x86_rel(p, 4);
            p += 4;
            rc = 0;
            goto done;
        }
    } else {
        facts = OP_M | (map == 3 ? OP_I8 : 0);
    }
    if (facts & OP_BAD) {
        rc = -EINVAL;
        goto out;
    }

    if (facts & (OP_JCC8 | OP_JMP8 | OP_LOOP | OP_REL32)) {
        int width = (facts & OP_REL32) ? 4 : 1;
        if (opsize16) {
            rc = -EINVAL;
            goto out;
        }
        if ((size_t)(p - code) + (size_t)width > lim)
            goto out;
        insn->rel = x86_rel(p, width);
        p += width;
        if (facts & OP_JCC8) {
            insn->kind = X86_INSN_JCC;
            insn->cc = op & 0xF;
        } else if (facts & OP_LOOP) {
            insn->kind = X86_INSN_LOOP;
        } else {
            insn->kind = op == 0xE8 ? X86_INSN_CALL : X86_INSN_JMP;
        }
        rc = 0;
        goto done;
    }

    if (facts & OP_M) {
        bool riprel;
        uint8_t modrm;
        if ((size_t)(p - code) >= lim)
            goto out;
        modrm = *p;
        int n = x86_modrm(p, lim - (size_t)(p - code), &riprel);
        if (n < 0) {
            rc = n;
            goto out;
        }
        if (riprel) {
            insn->kind = X86_INSN_RIPREL;
            insn->disp_off = (uint8_t)(p - code + 1);
        }
        uint8_t reg = (modrm >> 3) & 7;
        if (map == 0 && op == 0xFF) {
            if (reg == 2 || reg == 3) {
                insn->kind = riprel ? X86_INSN_RIPREL : X86_INSN_INDIRECT_CALL;
                insn->indirect = X86_IND_CALL;
            } else if (reg == 4 || reg == 5) {
                insn->kind = X86_INSN_END;
                insn->indirect = X86_IND_JMP;
            } else if (reg == 7) {
                rc = -EINVAL;
                goto out;
            }
        }
        if ((facts & OP_GRP3) && reg < 2)
            facts |= op == 0xF6 ? OP_I8 : OP_IZ;
        if (map == 1 && !vex && op == 0x1E && rep && modrm == 0xFA && !rex_w)
            insn->endbr = 1;
        p += n;
    }

    size_t imm = 0;
    if (facts & OP_I8)
        imm += 1;
    if (facts & OP_I16)
        imm += 2;
    if (facts & OP_IZ)
        imm += ((facts & OP_MOVI) && rex_w) ? 8 : opsize16 ? 2 : 4;
    if (facts & OP_MOFFS)
        imm += addr32 ? 4 : 8;
    if ((size_t)(p - code) + imm > lim)
        goto out;
    p += imm;
    if ((facts & OP_END) && insn->kind == X86_INSN_PLAIN)
        insn->kind = X86_INSN_END;
    rc = 0;

done:
    insn->len = (uint8_t)(p - code);
out:
    if (rc == -ENODATA && avail >= X86_INSN_MAX)
        rc = -EINVAL; /* longer than any instruction can be */
    return rc == 0 ? insn->len : rc;
}
