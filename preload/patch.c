/*
 * patch.c - finding and patching the OpenSSL built into an object (see
 * patch.h for the contract).
 *
 * DESIGN
 *
 * Find. dl_iterate_phdr() gives every loaded object's program headers; its
 * PT_DYNAMIC gives the GNU hash table, the symbols and the strings, already
 * in memory. A look-up of "SSL_read" is a Bloom filter test that rejects
 * nearly every object at once, so a dormant program (sh, ffmpeg, a Python
 * with the system libssl) pays microseconds. An object whose soname starts
 * with "libssl" is left to symbol interposition (sym.c), and the preload is
 * skipped (it defines SSL_read too).
 *
 * Patch, per function (x86-64, patch_x86.c):
 *
 *   entry:  [endbr64]  jmp rel32 -> relay       (5 bytes; 14 with no near page)
 *   relay:  jmp [rip+0]; .quad hook             (in a page within +-2 GiB)
 *   tramp:  endbr64; relocated instructions; jmp [rip+0]; .quad entry+n
 *
 * An endbr64 at the entry stays where it is, so an indirect call into the
 * function still lands on one under IBT; the trampoline opens with its own,
 * since the hook reaches it through a function pointer. The hook is cap.c's,
 * with the trampoline as its real function.
 *
 * The relocated instructions are only those x86_insn.c classifies as plain,
 * plus conditional branches whose target lies outside the patched bytes: a
 * jcc is rewritten as the inverted short jcc over an absolute jmp to the
 * same target. Every official Node's SSL_free opens with "test rdi,rdi; je",
 * and since refusing it would leave every official Node unhooked, relocating
 * that jcc is what makes the feature work at all. RIP-relative operands,
 * calls, unconditional jumps, returns and anything unknown are refused.
 * Then the whole function (its st_size) is decoded, and any direct branch
 * into the patched bytes (past their first) is a refusal, as is a body that
 * cannot be decoded, and so is a function that calls nothing: a caller
 * compiled with it (gcc's -fipa-ra, on by default at -O2) may keep values in
 * the caller-saved registers such a leaf leaves alone, which our hook does
 * not. A function that calls out, even once, clobbers them all as far as its
 * callers know (OpenSSL's SSL_read & co. all reach an indirect call). What this cannot see is a
 * branch from outside the function (a split-off .cold part jumping back into the prologue) or a
 * computed jump; compilers resume such paths after the prologue.
 *
 * Patch, per function (arm64, patch_a64.c):
 *
 *   entry:  [bti]  b relay                      (one word; the page within +-128 MiB)
 *   relay:  ldr x16, #8; br x16; .quad hook
 *   tramp:  bti c; relocated instruction; b entry+n
 *
 * b reaches +-128 MiB and there is no short absolute form, so the relay
 * page must be that near every entry (patch_map_code tries pages just past
 * and before the object, within PATCH_REACH) or the object is refused. The
 * relay may clobber x16: IP0 and IP1 are free at every call boundary under
 * AAPCS64 (veneers and PLT entries use them), and br x16 into a hook that
 * opens with paciasp or bti c is a valid BTI landing (bti c accepts br from
 * x16/x17). Every other branch emitted is direct, and a direct branch is
 * never BTI-checked: a br from the trampoline back into a guarded page would
 * land on a non-pad and fault. A bti at the entry stays, as endbr64 does on
 * x86-64. An entry opening with paciasp (or pacibsp) is the one two-word
 * patch:
 *
 *   entry:  bti jc; b relay
 *   tramp:  paciasp; second instruction; b entry+8
 *
 * paciasp signs LR with SP as the modifier, and the function's autiasp
 * checks it with the SP it has restored by then, which is the SP it was
 * entered with. Left at the entry it would sign the caller's return address
 * and the hook, itself compiled with pac-ret, would return through an LR
 * still signed: a fault. In the trampoline it runs with LR = the hook's
 * return address and SP = the hook's SP at its blr, which is exactly the SP
 * the function's epilogue restores before autiasp, so sign and check agree
 * and the function returns into the hook. paciasp is also the landing pad
 * of indirect calls into the function (and is one for the hook's blr into
 * the trampoline, which so needs no bti). Its place at the entry gets a
 * bti jc, not a bti c: paciasp accepts BTYPE 01 and 10 (br x16/x17, blr)
 * always, and 11 (br through another register) too when SCTLR_EL1.BT0 is
 * 0; bti jc accepts all three, so whatever the kernel chose, every branch
 * that landed there still lands. On a CPU without BTI it is a nop.
 *
 * On arm64 the relocated instructions are those a64_insn.c classifies as
 * plain, plus, as on x86-64, conditional branches (b.cond, cbz/cbnz,
 * tbz/tbnz) whose target lies outside the patched words, rewritten as the
 * opposite condition over a direct b (Node 22's SSL_free opens with
 * "cbz x0"), and adr and adrp, rewritten as a literal load of the address
 * they computed in place.
 * Literal loads (which would need a scratch register for the address), b,
 * bl, returns and branches through registers are refused by name. The body scan is the same: any
 * direct branch into the patched words, or no call at all (no bl, blr, branch out of the function,
 * or br through x16/x17, the register of a BTI-compatible indirect tail call; a br through another
 * register may be a switch) is a refusal.
 *
 * Instruction caches. arm64 does not keep the instruction cache coherent
 * with stores: the trampolines and each patched copy are cleaned to the
 * point of unification and invalidated (__builtin___clear_cache: DC CVAU,
 * IC IVAU, DSB, ISB) after they are written and before they can run. The
 * data side is physically tagged, so cleaning through the copy's address
 * suffices; IC IVAU works on virtual addresses, and an instruction cache may
 * still hold the replaced page's code under the program's address, so the
 * final range is invalidated again after the mremap. On x86-64 these calls
 * compile to nothing. Where the object's code is BTI-guarded (its
 * PT_GNU_PROPERTY says BTI), the copies are made PROT_BTI too, so the
 * patched pages keep their guard.
 *
 * The switch. The entry is not made writable in place: SELinux (execmod)
 * may let a file page become writable and then refuse to make the modified
 * page executable again, which would leave the program without that code.
 * Instead each page to patch is copied into a fresh anonymous page, patched
 * there while it is RW, turned RX, and only then moved over the original
 * with mremap(MREMAP_FIXED), which replaces the page in one step. So every
 * mprotect that can fail (RX on the trampoline page, RX on each copy) runs
 * before anything of the program changed: on failure everything is unmapped
 * and the program is exactly as it was. The pages of an object are moved
 * after all of them are ready; only a failing mremap (out of mappings) after
 * the first could leave an object half patched, which is said at debug and
 * costs capture, never correctness: each hooked function still does what it
 * did.
 *
 * Everything here runs in the constructor, before main, while the process has
 * one thread, so no thread can be executing the bytes being replaced.
 */
#include "patch.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cap.h"
#include "log.h"
#include "patch_arch.h"

struct sym_ssl patch_libs[PATCH_MAX_OBJECTS];
unsigned patch_n_libs;
/* Each patched object's OpenSSL_version(), if it exports one. */
static const char *(*patch_version[PATCH_MAX_OBJECTS])(int);

static const char *const patch_fn_names[PATCH_N_FNS] = {"SSL_read", "SSL_read_ex", "SSL_write",
                                                        "SSL_write_ex", "SSL_free"};

/* One object that defines SSL_read, as dl_iterate_phdr found it. */
struct patch_obj {
    uintptr_t base;
    const char *name; /* "" for the main executable */
    const ElfW(Phdr) * phdr;
    ElfW(Half) phnum;
    const ElfW(Sym) * fns[PATCH_N_FNS];
    const ElfW(Sym) * servername, *is_server, *version;
};

struct patch_found {
    struct patch_obj objs[PATCH_MAX_OBJECTS];
    unsigned n;
    uintptr_t self; /* an address inside the preload */
};

/* --- find ------------------------------------------------------------------ */

struct patch_dynsym {
    const uint32_t *gnu_hash;
    const ElfW(Sym) * symtab;
    const char *strtab;
    uintptr_t soname; /* offset in strtab, or UINTPTR_MAX */
};

/* glibc relocates the d_ptr entries it uses in place; the vDSO's and those
 * of a read-only dynamic section stay link-time offsets. */
static uintptr_t patch_dyn_ptr(uintptr_t base, ElfW(Addr) v)
{
    return v < base ? base + v : v;
}

static bool patch_dynsym_of(const struct dl_phdr_info *info, struct patch_dynsym *ds)
{
    const ElfW(Dyn) *dyn = NULL;
    memset(ds, 0, sizeof(*ds));
    ds->soname = UINTPTR_MAX;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (dyn == NULL)
        return false;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_GNU_HASH)
            ds->gnu_hash = (const uint32_t *)patch_dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_SYMTAB)
            ds->symtab = (const ElfW(Sym) *)patch_dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_STRTAB)
            ds->strtab = (const char *)patch_dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_SONAME)
            ds->soname = dyn->d_un.d_val;
    }
    return ds->gnu_hash != NULL && ds->symtab != NULL && ds->strtab != NULL;
}

static uint32_t patch_gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s != '\0'; s++)
        h = h * 33 + (uint8_t)*s;
    return h;
}

/* The defined function called name, or NULL. The table layout is the GNU
 * one: nbuckets, symoffset, bloom_size, bloom_shift, Bloom words (one
 * ElfW(Addr) each), buckets, then one chain word per hashed symbol whose low
 * bit ends the chain. */
static const ElfW(Sym) * patch_lookup(const struct patch_dynsym *ds, const char *name)
{
    enum { BITS = sizeof(ElfW(Addr)) * 8 };
    const uint32_t *t = ds->gnu_hash;
    uint32_t nbuckets = t[0], symoffset = t[1], bloom_size = t[2], bloom_shift = t[3];
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(t + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t h = patch_gnu_hash(name);

    if (nbuckets == 0 || bloom_size == 0)
        return NULL;
    ElfW(Addr) word = bloom[(h / BITS) % bloom_size];
    ElfW(Addr) mask =
        ((ElfW(Addr))1 << (h % BITS)) | ((ElfW(Addr))1 << ((h >> bloom_shift) % BITS));
    if ((word & mask) != mask)
        return NULL;
    uint32_t i = buckets[h % nbuckets];
    if (i < symoffset)
        return NULL;
    for (;; i++) {
        uint32_t h2 = chain[i - symoffset];
        const ElfW(Sym) *sym = &ds->symtab[i];
        if ((h | 1) == (h2 | 1) && strcmp(name, ds->strtab + sym->st_name) == 0 &&
            sym->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(sym->st_info) == STT_FUNC)
            return sym;
        if (h2 & 1)
            return NULL;
    }
}

static bool patch_contains(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= start && addr < start + ph->p_memsz)
            return true;
    }
    return false;
}

static int patch_find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct patch_found *found = arg;
    struct patch_dynsym ds;
    (void)size;

    if (!patch_dynsym_of(info, &ds))
        return 0;
    const ElfW(Sym) *read = patch_lookup(&ds, "SSL_read");
    if (read == NULL)
        return 0;
    if (patch_contains(info, found->self))
        return 0;
    if (ds.soname != UINTPTR_MAX && strncmp(ds.strtab + ds.soname, "libssl", 6) == 0)
        return 0; /* a shared libssl: symbol interposition reaches it */
    if (found->n >= PATCH_MAX_OBJECTS) {
        argus_log_debug("not patching %s: more than %d objects with OpenSSL built in",
                        info->dlpi_name, PATCH_MAX_OBJECTS);
        return 0;
    }
    struct patch_obj *obj = &found->objs[found->n++];
    obj->base = info->dlpi_addr;
    obj->name = info->dlpi_name ? info->dlpi_name : "";
    obj->phdr = info->dlpi_phdr;
    obj->phnum = info->dlpi_phnum;
    for (int f = 0; f < PATCH_N_FNS; f++)
        obj->fns[f] = patch_lookup(&ds, patch_fn_names[f]);
    obj->servername = patch_lookup(&ds, "SSL_get_servername");
    obj->is_server = patch_lookup(&ds, "SSL_is_server");
    obj->version = patch_lookup(&ds, "OpenSSL_version");
    return 0;
}

/* A page for the relays and trampolines, within PATCH_REACH of every entry
 * (the code from elo to ehi) if one can be had (tried just past and just
 * before the object's mappings), else, where the architecture has a far
 * form (x86-64: a 14-byte absolute jmp at the entry), anywhere. */
static bool patch_map_code(struct patch_plan *plan, const struct patch_obj *obj, uintptr_t elo,
                           uintptr_t ehi)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0, page = plan->page;
    for (ElfW(Half) i = 0; i < obj->phnum; i++) {
        const ElfW(Phdr) *ph = &obj->phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = obj->base + ph->p_vaddr, e = s + ph->p_memsz;
        lo = s < lo ? s : lo;
        hi = e > hi ? e : hi;
    }
    hi = (hi + page - 1) & ~(page - 1);
    lo &= ~(page - 1);
    for (uintptr_t step = 0; step < 64; step++) {
        uintptr_t hints[2] = {hi + step * (1u << 20), lo - (step + 1) * (1u << 20)};
        for (int h = 0; h < 2; h++) {
            if (hints[h] < (1u << 20) || hints[h] + PATCH_REACH < ehi ||
                hints[h] + page > elo + PATCH_REACH)
                continue;
            void *p = mmap((void *)hints[h], page, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (p == MAP_FAILED)
                continue;
            if ((uintptr_t)p != hints[h]) { /* a kernel without FIXED_NOREPLACE */
                munmap(p, page);
                continue;
            }
            plan->code = p;
            plan->near = true;
            return true;
        }
    }
    if (!PATCH_FAR_OK)
        return false;
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    plan->code = p;
    plan->near = false;
    return true;
}

/* --- switch ---------------------------------------------------------------- */

#define PATCH_MAX_PAGES (2 * PATCH_N_FNS)

struct patch_page {
    uintptr_t at;  /* the program's page */
    uint8_t *copy; /* its patched copy, RX once ready */
};

static int patch_page_index(struct patch_page *pages, unsigned *n, uintptr_t at)
{
    for (unsigned i = 0; i < *n; i++)
        if (pages[i].at == at)
            return (int)i;
    pages[*n].at = at;
    pages[*n].copy = NULL;
    return (int)(*n)++;
}

/* Copies, patches and seals every page the entries touch, then moves them
 * into place. Returns 0, or a negative errno with nothing changed, or
 * -EALREADY if the program was changed only in part (see DESIGN). */
static int patch_switch(struct patch_plan *plan, const bool *present)
{
    struct patch_page pages[PATCH_MAX_PAGES];
    unsigned n_pages = 0, moved = 0;
    int rc = 0;

    for (int f = 0; f < PATCH_N_FNS; f++) {
        if (!present[f])
            continue;
        uintptr_t at = (uintptr_t)plan->fns[f].entry + plan->fns[f].skip;
        patch_page_index(pages, &n_pages, at & ~(plan->page - 1));
        patch_page_index(pages, &n_pages, (at + plan->fns[f].patch_len - 1) & ~(plan->page - 1));
    }
    for (unsigned i = 0; i < n_pages; i++) {
        void *p =
            mmap(NULL, plan->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
            goto out;
        }
        pages[i].copy = p;
        memcpy(p, (const void *)pages[i].at, plan->page);
    }
    for (int f = 0; f < PATCH_N_FNS; f++) {
        if (!present[f])
            continue;
        uint8_t bytes[PATCH_ENTRY_MAX];
        uintptr_t at = (uintptr_t)plan->fns[f].entry + plan->fns[f].skip;
        patch_arch_entry_bytes(plan, f, bytes);
        for (size_t k = 0; k < plan->fns[f].patch_len; k++) {
            uintptr_t a = at + k;
            int i = patch_page_index(pages, &n_pages, a & ~(plan->page - 1));
            pages[i].copy[a & (plan->page - 1)] = bytes[k];
        }
    }
    for (unsigned i = 0; i < n_pages; i++) {
        /* The new code reaches the point of unification through the copy's
         * address (data cache lines are physically tagged); the moved page
         * is cleaned again at its final address below. */
        __builtin___clear_cache((char *)pages[i].copy, (char *)pages[i].copy + plan->page);
        int rx = mprotect(pages[i].copy, plan->page, plan->exec_prot);
        if (rx != 0 && errno == EINVAL && plan->exec_prot != (PROT_READ | PROT_EXEC))
            rx = mprotect(pages[i].copy, plan->page, PROT_READ | PROT_EXEC); /* no BTI here */
        if (rx != 0) {
            rc = -errno;
            goto out;
        }
    }
    for (; moved < n_pages; moved++) {
        void *p = mremap(pages[moved].copy, plan->page, plan->page, MREMAP_MAYMOVE | MREMAP_FIXED,
                         (void *)pages[moved].at);
        if (p == MAP_FAILED) {
            rc = moved == 0 ? -errno : -EALREADY;
            goto out;
        }
        pages[moved].copy = NULL; /* it is the program's page now */
        /* IC IVAU works on virtual addresses: an instruction cache indexed
         * by them may still hold the replaced page's code at this address,
         * which the maintenance through the copy's address did not touch. */
        __builtin___clear_cache((char *)pages[moved].at, (char *)pages[moved].at + plan->page);
    }

out:
    for (unsigned i = moved; i < n_pages; i++)
        if (pages[i].copy != NULL)
            munmap(pages[i].copy, plan->page);
    return rc;
}

/* --- per object ------------------------------------------------------------ */

/* The number of threads of this process (field 20 of /proc/self/stat), or 0
 * if it cannot be told. Read only when there is something to patch: the
 * preload is normally loaded before main, but a program may dlopen it later,
 * from any thread, and then no entry may be rewritten under a running one. */
static long patch_thread_count(void)
{
    char buf[1024];
    long threads = 0;
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count
     * fields from the last ')'. */
    const char *p = strrchr(buf, ')');
    for (int field = 2; p != NULL && field < 20; field++)
        p = strchr(p + 1, ' ');
    if (p != NULL)
        threads = strtol(p + 1, NULL, 10);
    return threads;
}

/* The executable's own path, for the debug lines; "" if unknown. */
static void patch_obj_path(const struct patch_obj *obj, char *path, size_t size)
{
    if (obj->name[0] != '\0') {
        snprintf(path, size, "%s", obj->name);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", path, size - 1);
    path[n > 0 ? n : 0] = '\0';
}

static bool patch_has_rx(const struct patch_obj *obj, uintptr_t addr)
{
    for (ElfW(Half) i = 0; i < obj->phnum; i++) {
        const ElfW(Phdr) *ph = &obj->phdr[i];
        uintptr_t s = obj->base + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= s && addr < s + ph->p_filesz)
            return (ph->p_flags & (PF_R | PF_X)) == (PF_R | PF_X) && !(ph->p_flags & PF_W);
    }
    return false;
}

#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY 0x6474e553
#endif
#ifndef PROT_BTI
#define PROT_BTI 0x10 /* arm64 */
#endif

/* The protection of the object's code pages. On arm64 an object marked for
 * BTI (GNU_PROPERTY_AARCH64_FEATURE_1_BTI in its PT_GNU_PROPERTY note) is
 * mapped guarded (PROT_BTI) by the kernel or the loader where the CPU has
 * BTI, and its patched pages must stay guarded; where the CPU has none, that
 * mprotect fails with EINVAL and patch_switch() falls back to plain RX, as
 * the original pages are. */
static int patch_exec_prot(const struct patch_obj *obj)
{
#if defined(__aarch64__)
    for (ElfW(Half) i = 0; i < obj->phnum; i++) {
        const ElfW(Phdr) *ph = &obj->phdr[i];
        if (ph->p_type != PT_GNU_PROPERTY || ph->p_filesz < 16)
            continue;
        /* One note: namesz 4, descsz, type 5 (NT_GNU_PROPERTY_TYPE_0),
         * "GNU", then properties {u32 type, u32 datasz, data} padded to 8. */
        const uint32_t *note = (const uint32_t *)(obj->base + ph->p_vaddr);
        if (note[0] != 4 || note[2] != 5 || memcmp(note + 3, "GNU", 4) != 0 ||
            note[1] > ph->p_filesz - 16)
            continue;
        const uint8_t *p = (const uint8_t *)(note + 4), *end = p + note[1];
        while (p + 8 <= end) {
            uint32_t type, size, bits;
            memcpy(&type, p, 4);
            memcpy(&size, p + 4, 4);
            if (size > (size_t)(end - p) - 8)
                break;
            if (type == 0xc0000000u && size >= 4) { /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
                memcpy(&bits, p + 8, 4);
                if (bits & 1u) /* BTI */
                    return PROT_READ | PROT_EXEC | PROT_BTI;
            }
            p += 8 + ((size + 7u) & ~7u);
        }
    }
#else
    (void)obj;
#endif
    return PROT_READ | PROT_EXEC;
}

/* Caller: patch_n_libs < PATCH_MAX_OBJECTS (patch_find_cb keeps at most that
 * many candidates). */
static void patch_object(const struct patch_obj *obj)
{
    struct patch_plan plan;
    struct sym_ssl *lib = &patch_libs[patch_n_libs];
    struct cap_hook_set hooks;
    bool present[PATCH_N_FNS];
    bool mapped = false;
    int rc = 0;

    memset(&plan, 0, sizeof(plan));
    plan.page = (size_t)sysconf(_SC_PAGESIZE);
    memset(lib, 0, sizeof(*lib));
    patch_obj_path(obj, lib->path, sizeof(lib->path));

    if (!PATCH_ARCH) {
        snprintf(plan.why, sizeof(plan.why), "in-process patching is not implemented for %s",
                 PATCH_ARCH_NAME);
        rc = -ENOTSUP;
        goto out;
    }
    long threads = patch_thread_count();
    if (threads != 1) {
        snprintf(plan.why, sizeof(plan.why),
                 "the process has %ld threads (the preload was loaded late)", threads);
        rc = -EBUSY;
        goto out;
    }
    cap_patched_hooks(patch_n_libs, &hooks);
    void *hook_of[PATCH_N_FNS] = {hooks.read, hooks.read_ex, hooks.write, hooks.write_ex,
                                  hooks.free};
    uintptr_t elo = UINTPTR_MAX, ehi = 0; /* the span of the functions to patch */
    for (int f = 0; f < PATCH_N_FNS; f++) {
        present[f] = obj->fns[f] != NULL;
        bool required = f == PATCH_READ || f == PATCH_WRITE || f == PATCH_FREE;
        if (required && !present[f]) {
            snprintf(plan.why, sizeof(plan.why), "it does not export %s", patch_fn_names[f]);
            rc = -ENOENT;
            goto out;
        }
        if (!present[f])
            continue;
        struct patch_fn *fn = &plan.fns[f];
        fn->entry = (uint8_t *)(obj->base + obj->fns[f]->st_value);
        fn->size = obj->fns[f]->st_size;
        fn->hook = hook_of[f];
        if (!patch_has_rx(obj, (uintptr_t)fn->entry) ||
            !patch_has_rx(obj, (uintptr_t)fn->entry + fn->size - 1)) {
            snprintf(plan.why, sizeof(plan.why), "%s is not in read-only executable code",
                     patch_fn_names[f]);
            rc = -EINVAL;
            goto out;
        }
        elo = (uintptr_t)fn->entry < elo ? (uintptr_t)fn->entry : elo;
        ehi = (uintptr_t)fn->entry + fn->size > ehi ? (uintptr_t)fn->entry + fn->size : ehi;
    }
    if (!patch_map_code(&plan, obj, elo, ehi)) {
        snprintf(plan.why, sizeof(plan.why), "no page for the trampolines%s",
                 PATCH_FAR_OK ? "" : " within branch reach of its functions");
        rc = -ENOMEM;
        goto out;
    }
    mapped = true;
    plan.exec_prot = patch_exec_prot(obj);
    for (int f = 0; f < PATCH_N_FNS; f++) {
        if (present[f] && !patch_arch_plan_fn(&plan, &plan.fns[f], patch_fn_names[f])) {
            rc = -EINVAL;
            goto out;
        }
    }
    void *real[PATCH_N_FNS] = {NULL};
    for (int f = 0; f < PATCH_N_FNS; f++)
        if (present[f])
            real[f] = patch_arch_emit(&plan, f);
    /* The trampolines are new code: clean and invalidate before they can run
     * (a no-op on x86-64, whose instruction fetch snoops stores). */
    __builtin___clear_cache((char *)plan.code, (char *)plan.code + plan.page);
    if (mprotect(plan.code, plan.page, PROT_READ | PROT_EXEC) != 0) {
        rc = -errno;
        snprintf(plan.why, sizeof(plan.why), "the trampolines cannot be made executable (%s)",
                 strerror(-rc));
        goto out;
    }
    *(void **)&lib->read = real[PATCH_READ];
    *(void **)&lib->read_ex = real[PATCH_READ_EX];
    *(void **)&lib->write = real[PATCH_WRITE];
    *(void **)&lib->write_ex = real[PATCH_WRITE_EX];
    *(void **)&lib->free = real[PATCH_FREE];
    if (obj->servername != NULL)
        *(void **)&lib->get_servername = (void *)(obj->base + obj->servername->st_value);
    if (obj->is_server != NULL)
        *(void **)&lib->is_server = (void *)(obj->base + obj->is_server->st_value);
    if (obj->version != NULL)
        *(void **)&patch_version[patch_n_libs] = (void *)(obj->base + obj->version->st_value);
    lib->base = (const void *)obj->base;
    lib->primary = true;
    /* The hooks can be reached from the moment the first page moves. */
    rc = patch_switch(&plan, present);
    if (rc == -EALREADY) {
        snprintf(plan.why, sizeof(plan.why), "a page could not be moved after others were");
        mapped = false; /* reachable: the trampolines stay */
        patch_n_libs++;
        goto out;
    }
    if (rc != 0) {
        patch_version[patch_n_libs] = NULL;
        snprintf(plan.why, sizeof(plan.why), "the patched code cannot be made executable (%s)",
                 strerror(-rc));
        goto out;
    }
    mapped = false;
    patch_n_libs++;

out:
    if (mapped)
        munmap(plan.code, plan.page);
    if (rc == -EALREADY)
        argus_log_debug("patched the OpenSSL built into %s only in part: %s", lib->path, plan.why);
    else if (rc != 0)
        argus_log_debug("not patching the OpenSSL built into %s: %s; nothing of it is hooked",
                        lib->path[0] ? lib->path : "the executable", plan.why);
}

unsigned patch_init(void)
{
    struct patch_found found;

    memset(&found, 0, sizeof(found));
    found.self = (uintptr_t)patch_init;
    dl_iterate_phdr(patch_find_cb, &found);
    for (unsigned i = 0; i < found.n; i++)
        patch_object(&found.objs[i]);
    for (unsigned i = 0; i < patch_n_libs && argus_log_get_level() >= ARGUS_LOG_DEBUG; i++) {
        char what[SYM_PATH_MAX + 64];
        patch_describe(i, what, sizeof(what));
        argus_log_debug("patched %s", what);
    }
    return patch_n_libs;
}

void patch_describe(unsigned i, char *buf, size_t size)
{
    const struct sym_ssl *lib = &patch_libs[i];
    /* OpenSSL_version(OPENSSL_VERSION): "OpenSSL 3.5.9 30 Sep 2025". */
    const char *version = patch_version[i] != NULL ? patch_version[i](0) : NULL;
    int words = 0;
    size_t vlen = 0;
    if (version != NULL)
        for (; version[vlen] != '\0' && vlen < 40; vlen++)
            if (version[vlen] == ' ' && ++words == 2)
                break;
    if (vlen > 0)
        snprintf(buf, size, "the OpenSSL built into %s (%.*s)", lib->path, (int)vlen, version);
    else
        snprintf(buf, size, "the OpenSSL built into %s", lib->path);
}
