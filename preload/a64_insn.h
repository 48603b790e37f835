/*
 * a64_insn.h - the kind of one A64 (arm64) instruction, for the patcher.
 *
 * patch.c moves the first instructions of an OpenSSL function into a
 * trampoline and must know, for each one, whether it can run at another
 * address; it also scans the whole function for branches into the bytes it
 * replaces. Every A64 instruction is one little-endian 32-bit word, so there
 * is no length to find. This is not a disassembler: it classifies the word
 * by what relocation would break (Arm ARM, "A64 Instruction Set Encoding",
 * the top-level op0 groups and the branch, PC-relative and literal classes):
 *
 *   A64_INSN_PLAIN    runs the same at any address (data processing, loads
 *                     and stores through a register, system instructions,
 *                     autiasp, nop, ...)
 *   A64_INSN_UNKNOWN  anything not provably PC-independent: unallocated,
 *                     reserved, SME, svc/brk/udf and other exceptions, eret
 *   A64_INSN_ADR      adr (target = address + rel)
 *   A64_INSN_ADRP     adrp (target = (address & ~4095) + rel)
 *   A64_INSN_B        b imm26
 *   A64_INSN_BL       bl imm26
 *   A64_INSN_BCOND    b.cond and bc.cond imm19 (cond)
 *   A64_INSN_CBZ      cbz and cbnz imm19
 *   A64_INSN_TBZ      tbz and tbnz imm14
 *   A64_INSN_LITERAL  ldr, ldrsw, prfm and SIMD/FP ldr (literal)
 *   A64_INSN_BR       br, braa, brab, braaz, brabz (reg: the register)
 *   A64_INSN_BLR      blr, blraa, blrab, blraaz, blrabz (reg)
 *   A64_INSN_RET      ret, retaa, retab
 *   A64_INSN_BTI      bti, bti c, bti j, bti jc (bti: the targets)
 *   A64_INSN_PACSP    paciasp, pacibsp: sign LR with SP (a landing pad)
 *
 * For every PC-relative kind, rel is the target minus the instruction's own
 * address (A64 branches count from the branch itself, not from the next
 * instruction); for adrp, minus the address of its 4 KiB page.
 *
 * a64_insn_decode() is pure (any thread, no allocation) and cannot fail: an
 * encoding it does not know is A64_INSN_UNKNOWN, and the patcher refuses to
 * move one. It never guesses that a word is PC-independent.
 */
#ifndef ARGUS_A64_INSN_H
#define ARGUS_A64_INSN_H

#include <stdbool.h>
#include <stdint.h>

enum a64_insn_kind {
    A64_INSN_PLAIN = 0,
    A64_INSN_UNKNOWN,
    A64_INSN_ADR,
    A64_INSN_ADRP,
    A64_INSN_B,
    A64_INSN_BL,
    A64_INSN_BCOND,
    A64_INSN_CBZ,
    A64_INSN_TBZ,
    A64_INSN_LITERAL,
    A64_INSN_BR,
    A64_INSN_BLR,
    A64_INSN_RET,
    A64_INSN_BTI,
    A64_INSN_PACSP,
};

/* bti targets (the hint's op2 bits 7:6). */
enum { A64_BTI_C = 1, A64_BTI_J = 2 };

struct a64_insn {
    uint8_t kind; /* enum a64_insn_kind */
    uint8_t cond; /* A64_INSN_BCOND: the condition (0-15) */
    uint8_t reg;  /* A64_INSN_BR, A64_INSN_BLR: the target register (30 for a bare ret) */
    uint8_t bti;  /* A64_INSN_BTI: A64_BTI_C | A64_BTI_J, or 0 for bare bti */
    int64_t rel;  /* PC-relative kinds: see above */
};

/* Decodes the instruction word. Out: *insn. */
void a64_insn_decode(uint32_t word, struct a64_insn *insn);

/* True for the direct branches: b, bl, b.cond, cbz/cbnz, tbz/tbnz. */
bool a64_insn_is_branch(const struct a64_insn *insn);

#endif
