/*
 * probe: the runner's checks next to the load: an HTTP request (libcurl easy, bounded in time,
 * status range and optional body regex) or a shell command (/bin/sh -c, killed with its process
 * group on timeout). lb_health probes go through the target's ops and live in the runner.
 */
#ifndef ZD_PROBE_H
#define ZD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario/scenario.h"

#define PROBE_MAX_BODY (256u << 10) /* bytes of a response body looked at */

/* Runs one probe once. Returns true when it passed; *detail (caller frees) always says what
 * was seen: "200", "status 503", "timed out after 2s", "exit 1". lb_health is not handled here
 * (returns false with a detail that says so). */
bool probe_run(const struct scn_probe *p, char **detail);

/* The command probe on its own (also used for tests). */
bool probe_command(const char *command, uint64_t timeout_us, char **detail);

#endif
