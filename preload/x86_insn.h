/*
 * x86_insn.h - the length and kind of one x86-64 instruction, for the patcher.
 *
 * patch.c moves the first instructions of an OpenSSL function into a
 * trampoline and must know, for each one, how long it is and whether it can
 * run at another address. This is not a disassembler: it decodes prefixes
 * (legacy, REX, VEX, EVEX), the opcode maps 0F, 0F38 and 0F3A, ModRM, SIB,
 * displacements and immediates, which is what a length needs, and classifies
 * the instruction by what relocation would break:
 *
 *   X86_INSN_PLAIN   runs the same at any address (push, mov between
 *                    registers or through a register, sub/lea on rsp,
 *                    endbr64, a %fs-relative load, ...)
 *   X86_INSN_RIPREL  has a RIP-relative memory operand (disp_off says where)
 *   X86_INSN_JCC     conditional branch, rel8 or rel32 (cc, target)
 *   X86_INSN_JMP     unconditional direct jmp (target)
 *   X86_INSN_CALL    direct call (target)
 *   X86_INSN_LOOP    loop/jrcxz (rel8 with no long form: target)
 *   X86_INSN_END     control flow leaves without a known target: ret,
 *                    indirect jmp, int3, ud2, hlt, iret
 *   X86_INSN_INDIRECT_CALL  call through a register or memory
 *
 * x86_insn_decode() is pure (any thread, no allocation). It reads at most
 * min(avail, 15) bytes of code. It returns the length (1..15), or -EINVAL for
 * an encoding it does not know or one invalid in 64-bit mode, or -ENODATA
 * when the instruction would run past avail. An unknown encoding is never
 * guessed at: the caller refuses to patch.
 */
#ifndef ARGUS_X86_INSN_H
#define ARGUS_X86_INSN_H

#include <stddef.h>
#include <stdint.h>

#define X86_INSN_MAX 15

enum x86_insn_kind {
    X86_INSN_PLAIN = 0,
    X86_INSN_RIPREL,
    X86_INSN_JCC,
    X86_INSN_JMP,
    X86_INSN_CALL,
    X86_INSN_LOOP,
    X86_INSN_END,
    X86_INSN_INDIRECT_CALL,
};

enum { X86_IND_NONE = 0, X86_IND_CALL, X86_IND_JMP };

struct x86_insn {
    uint8_t len;
    uint8_t kind;     /* enum x86_insn_kind */
    uint8_t cc;       /* X86_INSN_JCC: the condition (low nibble of 7x) */
    uint8_t disp_off; /* X86_INSN_RIPREL: offset of the disp32 in the instruction */
    uint8_t endbr;    /* endbr64 (F3 0F 1E FA) */
    uint8_t indirect; /* FF /2 or /3: X86_IND_CALL; FF /4 or /5: X86_IND_JMP (any kind) */
    int64_t rel;      /* branches: target minus the address after the instruction */
};

/* Decodes the instruction at code (avail readable bytes). Out: *insn. */
int x86_insn_decode(const uint8_t *code, size_t avail, struct x86_insn *insn);

#endif
