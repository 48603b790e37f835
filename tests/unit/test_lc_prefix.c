/* Unit tests for infer/lc_prefix.c: which messages are prefix commands, and
 * the bounded label vocabulary (issue 7). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lc_prefix.h"
#include "check_run.h"

/* A parsed ARGUS_PREFIX (or allow-list) of literal items. */
#define LIST(...)                                                                                  \
    (&(struct argus_list){(const char *const[]){__VA_ARGS__},                                      \
                          sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)})
#define NO_LIST (&(struct argus_list){NULL, 0})

static bool match(const struct argus_list *prefixes, uint64_t bot_id, const char *content,
                  bool truncated, char name[LC_PREFIX_NAME_MAX])
{
    return lc_prefix_match(prefixes, bot_id, content, strlen(content), truncated, name);
}

START_TEST(first_word_after_a_prefix_is_the_command)
{
    char name[LC_PREFIX_NAME_MAX];
    ck_assert(match(LIST("!"), 0, "!ping", false, name));
    ck_assert_str_eq(name, "ping");
    ck_assert(match(LIST("!"), 0, "!Stats all of them", false, name));
    ck_assert_str_eq(name, "stats");
    ck_assert(match(LIST("?", "!"), 0, "!help", false, name));
    ck_assert_str_eq(name, "help");
    ck_assert(match(LIST("bot ", "!"), 0, "bot roll 2d6", false, name));
    ck_assert_str_eq(name, "roll");
}
END_TEST

static const char *prefix_env;

static const char *prefix_getenv(const char *name)
{
    return strcmp(name, "ARGUS_PREFIX") == 0 ? prefix_env : NULL;
}

/* ARGUS_PREFIX as a process has it: parsed once by the configuration, the
 * list the decoder (gw_opts_init) is given too. */
START_TEST(the_configured_list_is_what_matches)
{
    static struct argus_config cfg;
    char name[LC_PREFIX_NAME_MAX];
    prefix_env = "bot%20, ! ,0123456789abcdefg";
    argus_config_load(&cfg, prefix_getenv);
    ck_assert(match(&cfg.prefixes, 0, "bot roll 2d6", false, name));
    ck_assert_str_eq(name, "roll");
    ck_assert(match(&cfg.prefixes, 0, "!ping", false, name));
    ck_assert_str_eq(name, "ping");
    /* Over 16 bytes: not a prefix here either, and said once. */
    ck_assert(!match(&cfg.prefixes, 0, "0123456789abcdefgping", false, name));
    ck_assert_uint_eq(cfg.n_problems, 1);
}
END_TEST

START_TEST(plain_messages_and_bare_prefixes_are_not_commands)
{
    char name[LC_PREFIX_NAME_MAX];
    ck_assert(!match(LIST("!"), 0, "hello there", false, name));
    ck_assert(!match(LIST("!"), 0, "!", false, name));
    ck_assert(!match(LIST("!"), 0, "! ping", false, name)); /* strip_after_prefix=False */
    ck_assert(!match(NULL, 0, "!ping", false, name));
    ck_assert(!match(NO_LIST, 0, "!ping", false, name));
}
END_TEST

START_TEST(a_mention_of_the_bot_is_a_prefix)
{
    char name[LC_PREFIX_NAME_MAX];
    ck_assert(match(LIST("!"), 1234, "<@1234> ping", false, name));
    ck_assert_str_eq(name, "ping");
    ck_assert(match(LIST("!"), 1234, "<@!1234>   Ping now", false, name));
    ck_assert_str_eq(name, "ping");
    ck_assert(!match(LIST("!"), 1234, "<@12345> ping", false, name)); /* someone else */
    ck_assert(!match(LIST("!"), 1234, "<@1234>ping", false, name));
    ck_assert(!match(LIST("!"), 1234, "<@1234>", false, name));
    ck_assert(!match(LIST("!"), 0, "<@1234> ping", false, name)); /* bot id not known yet */
}
END_TEST

START_TEST(words_that_cannot_be_labels_match_with_an_empty_name)
{
    char name[LC_PREFIX_NAME_MAX] = "x";
    ck_assert(match(LIST("!"), 0, "!héllo", false, name));
    ck_assert_str_eq(name, "");
    ck_assert(match(LIST("!"), 0, "!a.b", false, name));
    ck_assert_str_eq(name, "");
    ck_assert(match(LIST("!"), 0, "!abcdefghijabcdefghijabcdefghijabc", false, name)); /* 33 */
    ck_assert_str_eq(name, "");
    ck_assert(match(LIST("!"), 0, "!abcdefghijabcdefghijabcdefghijab", false, name)); /* 32 */
    ck_assert_str_eq(name, "abcdefghijabcdefghijabcdefghijab");
    /* The head was cut inside the word: its real end is unknown. */
    ck_assert(match(LIST("!"), 0, "!pin", true, name));
    ck_assert_str_eq(name, "");
    ck_assert(match(LIST("!"), 0, "!ping and more", true, name));
    ck_assert_str_eq(name, "ping");
}
END_TEST

START_TEST(inference_learns_answered_names_up_to_the_cap)
{
    struct lc_prefix_labels l;
    ck_assert_int_eq(lc_prefix_labels_init(&l, NULL, 2), 0);
    ck_assert_str_eq(lc_prefix_label(&l, "ping", false), LC_PREFIX_UNKNOWN);
    ck_assert_str_eq(lc_prefix_label(&l, "ping", true), "ping");
    ck_assert_str_eq(lc_prefix_label(&l, "ping", false), "ping"); /* known now */
    ck_assert_str_eq(lc_prefix_label(&l, "", true), LC_PREFIX_OTHER);
    ck_assert_str_eq(lc_prefix_label(&l, "", false), LC_PREFIX_UNKNOWN);
    ck_assert_str_eq(lc_prefix_label(&l, "help", true), "help");
    ck_assert_str_eq(lc_prefix_label(&l, "stats", true), LC_PREFIX_OTHER); /* cap of 2 */
    ck_assert_str_eq(lc_prefix_label(&l, "stats", false), LC_PREFIX_UNKNOWN);
    ck_assert_str_eq(lc_prefix_label(&l, "help", false), "help");
    ck_assert_uint_eq(l.n_names, 2);
    lc_prefix_labels_fini(&l);
}
END_TEST

START_TEST(an_allow_list_replaces_inference)
{
    struct lc_prefix_labels l;
    ck_assert_int_eq(lc_prefix_labels_init(&l, LIST("ping", "Stats", "bad name", "help"), 1), 0);
    ck_assert_str_eq(lc_prefix_label(&l, "ping", false), "ping");
    ck_assert_str_eq(lc_prefix_label(&l, "stats", true), "stats");
    ck_assert_str_eq(lc_prefix_label(&l, "help", false), "help"); /* beyond max: listed */
    ck_assert_str_eq(lc_prefix_label(&l, "hello", true), LC_PREFIX_OTHER);
    ck_assert_str_eq(lc_prefix_label(&l, "hello", false), LC_PREFIX_OTHER);
    ck_assert_uint_eq(l.n_names, 3);
    lc_prefix_labels_fini(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lc_prefix");
    TCase *tc = tcase_create("lc_prefix");
    tcase_add_test(tc, first_word_after_a_prefix_is_the_command);
    tcase_add_test(tc, plain_messages_and_bare_prefixes_are_not_commands);
    tcase_add_test(tc, the_configured_list_is_what_matches);
    tcase_add_test(tc, a_mention_of_the_bot_is_a_prefix);
    tcase_add_test(tc, words_that_cannot_be_labels_match_with_an_empty_name);
    tcase_add_test(tc, inference_learns_answered_names_up_to_the_cap);
    tcase_add_test(tc, an_allow_list_replaces_inference);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
