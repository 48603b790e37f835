/* Unit tests for preload/sym.c: the primary libssl is found only once one is
 * loaded, even privately (RTLD_LOCAL, as CPython's _ssl loads it), and a call
 * site in the main program is bound to it and cached. */
#include <check.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sym.h"
#include "check_run.h"

/* Whether the test binary itself already maps libssl (through libcurl, if
 * the linker kept that dependency): the tests below then say less. */
static bool libssl_preloaded(void)
{
    void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
    if (h != NULL)
        dlclose(h);
    return h != NULL;
}

START_TEST(no_libssl_loaded_means_no_primary)
{
    if (libssl_preloaded()) {
        ck_assert_ptr_nonnull(sym_primary());
        return;
    }
    ck_assert_ptr_null(sym_primary());
    ck_assert_ptr_null(sym_for_caller(__builtin_return_address(0)));
}
END_TEST

START_TEST(a_privately_loaded_libssl_is_the_primary)
{
    bool before = libssl_preloaded();
    void *ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(ssl != NULL, "libssl.so.3: %s", dlerror());
    if (!before) /* what defeats a naive shim */
        ck_assert_ptr_null(dlsym(RTLD_NEXT, "SSL_read_ex"));

    const struct sym_ssl *lib = sym_primary();
    ck_assert_ptr_nonnull(lib);
    ck_assert(lib->primary);
    ck_assert_ptr_nonnull(strstr(lib->path, "libssl.so.3"));
    ck_assert_ptr_eq(*(void **)&lib->read_ex, dlsym(ssl, "SSL_read_ex"));
    ck_assert_ptr_eq(*(void **)&lib->write, dlsym(ssl, "SSL_write"));
    ck_assert_ptr_eq(*(void **)&lib->free, dlsym(ssl, "SSL_free"));
    ck_assert_ptr_nonnull(*(void **)&lib->get_servername);
}
END_TEST

/* noinline both: lookup_from_here() passes on its return address, which is
 * the one call instruction in one_site(), however often one_site() runs. */
static __attribute__((noinline)) const struct sym_ssl *lookup_from_here(void)
{
    return sym_for_caller(__builtin_return_address(0));
}

static __attribute__((noinline)) const struct sym_ssl *one_site(void)
{
    const struct sym_ssl *lib = lookup_from_here();
    __asm__ volatile("" ::: "memory"); /* keeps the call a call, not a tail jump */
    return lib;
}

START_TEST(a_main_program_call_site_is_bound_to_the_primary_and_cached)
{
    void *ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    ck_assert_ptr_nonnull(ssl);
    const struct sym_ssl *got[2] = {one_site(), one_site()};
    ck_assert_ptr_nonnull(got[0]);
    ck_assert(got[0]->primary);
    ck_assert_ptr_eq(got[1], got[0]);
    unsigned cached = 0;
    for (unsigned i = 0; i < SYM_SITES; i++)
        cached += atomic_load(&sym_sites[i]) != 0;
    ck_assert_uint_eq(cached, 1);
}
END_TEST

static Suite *sym_suite(void)
{
    Suite *s = suite_create("sym");
    TCase *tc = tcase_create("sym");
    tcase_add_test(tc, no_libssl_loaded_means_no_primary);
    tcase_add_test(tc, a_privately_loaded_libssl_is_the_primary);
    tcase_add_test(tc, a_main_program_call_site_is_bound_to_the_primary_and_cached);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(sym_suite());
}
