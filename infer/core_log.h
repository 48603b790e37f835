/*
 * core_log.h - binds the core's argus_log() (contract/log.h) to the writer
 * the preload hands over. Called once, from core_start(), on Argus' thread.
 */
#ifndef ARGUS_CORE_LOG_H
#define ARGUS_CORE_LOG_H

#include "log.h"

void core_log_bind(argus_log_fn *sink);

#endif
