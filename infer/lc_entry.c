/*
 * lc_entry.c - the names and answer facts of a lifecycle (lc_entry.h).
 *
 * The strings here are the label values of the metric catalogue and the
 * span attributes, so they live in one place: a metric and a span of the
 * same lifecycle can never disagree on a spelling.
 */
#include "lc_entry.h"

#include <stdio.h>

static const char *const lc_entry_outcome_names[LC_N_OUTCOMES] = {"success", "error", "timeout"};

struct lc_answer lc_entry_answer_of(const struct ev_rest *r)
{
    return (struct lc_answer){.request_ns = r->request_ns,
                              .response_ns = r->response_ns ? r->response_ns : r->request_ns,
                              .status = r->status,
                              .code = r->discord_error_code,
                              .callback_type = r->callback_type};
}

void lc_entry_error_type(const struct lc_answer *a, char out[LC_ERROR_TYPE_MAX])
{
    if (a->code > 0)
        snprintf(out, LC_ERROR_TYPE_MAX, "%d", a->code);
    else
        snprintf(out, LC_ERROR_TYPE_MAX, "http_%d", a->status);
}

const char *lc_entry_type_name(int interaction_type)
{
    switch (interaction_type) {
    case EV_INTERACTION_APPLICATION_COMMAND:
        return "application_command";
    case EV_INTERACTION_COMPONENT:
        return "component";
    case EV_INTERACTION_AUTOCOMPLETE:
        return "autocomplete";
    case EV_INTERACTION_MODAL_SUBMIT:
        return "modal_submit";
    default:
        return NULL;
    }
}

const char *lc_entry_outcome_name(enum lc_outcome outcome)
{
    return lc_entry_outcome_names[outcome];
}
