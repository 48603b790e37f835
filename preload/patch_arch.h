/*
 * patch_arch.h - the architecture-specific half of patch.c (internal to the
 * patcher; see patch.c's DESIGN for the whole).
 *
 * patch.c finds the functions, maps the page for the relays and trampolines,
 * and swaps the patched pages in; what the bytes are is decided here, by one
 * backend per architecture, chosen at build time (preload/meson.build):
 * patch_x86.c (x86-64) or patch_a64.c (arm64). Another architecture has no
 * backend, PATCH_ARCH is 0, and patch.c refuses with a debug line.
 *
 * Every function here runs in the preload's constructor (one thread). Each
 * function gets one PATCH_SLOT of the code page, for its relay and its
 * trampoline. A backend
 *
 *   - plans a function (patch_arch_plan_fn): decides fn->skip, fn->len and
 *     fn->patch_len, or refuses with the reason in plan->why; it checks that
 *     every branch it will emit reaches its target from plan->code;
 *   - emits its relay and trampoline into the slot (patch_arch_emit, which
 *     returns the trampoline: the "real" function the hook will call);
 *   - gives the fn->patch_len bytes written at fn->entry + fn->skip
 *     (patch_arch_entry_bytes).
 *
 * It never writes the program's code itself; patch.c does, into copies.
 */
#ifndef ARGUS_PATCH_ARCH_H
#define ARGUS_PATCH_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__x86_64__)
#define PATCH_ARCH 1
#define PATCH_ARCH_NAME "x86-64"
#define PATCH_ENTRY_MAX 14      /* jmp [rip+0]; .quad hook */
#define PATCH_REACH (1ul << 30) /* a near page: within +-1 GiB (rel32 is +-2) */
#define PATCH_FAR_OK true       /* beyond, the entry takes the absolute jmp */
#elif defined(__aarch64__)
#define PATCH_ARCH 1
#define PATCH_ARCH_NAME "arm64"
#define PATCH_ENTRY_MAX 8         /* [bti c;] b relay */
#define PATCH_REACH (120ul << 20) /* b imm26 reaches +-128 MiB; keep a margin */
#define PATCH_FAR_OK false        /* no page in reach: refuse */
#else
#define PATCH_ARCH 0
#define PATCH_ARCH_NAME "this architecture"
#define PATCH_ENTRY_MAX 1
#define PATCH_REACH 0ul
#define PATCH_FAR_OK false
#endif

/* The functions we patch, in this order in every table. */
enum { PATCH_READ, PATCH_READ_EX, PATCH_WRITE, PATCH_WRITE_EX, PATCH_FREE, PATCH_N_FNS };

#define PATCH_SLOT 256 /* code page bytes per function: relay + trampoline */
#define PATCH_BODY_MAX (1u << 20)

struct patch_fn {
    uint8_t *entry;
    size_t size;      /* st_size */
    size_t skip;      /* bytes left as they are at the entry (endbr64, bti) */
    size_t len;       /* bytes relocated, from entry + skip */
    size_t patch_len; /* bytes written at entry + skip (<= len, <= PATCH_ENTRY_MAX) */
    void *hook;
};

struct patch_plan {
    struct patch_fn fns[PATCH_N_FNS];
    uint8_t *code; /* the relay + trampoline page */
    size_t page;
    bool near;     /* code is within PATCH_REACH of every entry */
    int exec_prot; /* for the patched copies of the program's pages */
    char why[160]; /* the refusal, for the debug line */
};

static inline uint8_t *patch_slot(const struct patch_plan *plan, int f)
{
    return plan->code + (size_t)f * PATCH_SLOT;
}

/* The bytes a branch must never land in: the entry itself (the function
 * would re-enter the hook from the middle of its own body) up to the end of
 * the relocated instructions. */
static inline bool patch_in_region(const struct patch_fn *fn, uintptr_t target)
{
    return target >= (uintptr_t)fn->entry && target < (uintptr_t)fn->entry + fn->skip + fn->len;
}

/* One direct branch of fn's body, at off, to target (is_call: a call).
 * Returns false, with the refusal in plan->why, if it lands in the patched
 * bytes; sets *calls for a call or a branch out of the function (a tail
 * call). Both backends' whole-body scans go through it. */
static inline bool patch_body_branch(struct patch_plan *plan, const struct patch_fn *fn,
                                     const char *name, size_t off, uintptr_t target, bool is_call,
                                     bool *calls)
{
    if (patch_in_region(fn, target)) {
        snprintf(plan->why, sizeof(plan->why), "%s+%zu: a branch into the patched bytes", name,
                 off);
        return false;
    }
    if (is_call || target < (uintptr_t)fn->entry || target >= (uintptr_t)fn->entry + fn->size)
        *calls = true;
    return true;
}

#if PATCH_ARCH
/* Returns false, with plan->why set, if the prologue cannot be proved safe
 * to relocate. fn->entry, size and hook are set; plan->code is mapped. */
bool patch_arch_plan_fn(struct patch_plan *plan, struct patch_fn *fn, const char *name);

/* Writes fn's relay and trampoline into its slot; returns the trampoline. */
void *patch_arch_emit(struct patch_plan *plan, int f);

/* The fn->patch_len bytes written at fn's entry + skip, into out. */
void patch_arch_entry_bytes(const struct patch_plan *plan, int f, uint8_t *out);
#else
/* No backend: patch.c refuses before it would call these. */
static inline bool patch_arch_plan_fn(struct patch_plan *plan, struct patch_fn *fn,
                                      const char *name)
{
    (void)plan, (void)fn, (void)name;
    return false;
}
static inline void *patch_arch_emit(struct patch_plan *plan, int f)
{
    (void)plan, (void)f;
    return NULL;
}
static inline void patch_arch_entry_bytes(const struct patch_plan *plan, int f, uint8_t *out)
{
    (void)plan, (void)f, (void)out;
}
#endif

#endif
