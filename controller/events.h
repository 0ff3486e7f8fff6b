/* bulkheadd's events for other systems: each command result, agent alert
 * and playbook stage change as one JSON object, appended to events_file,
 * sent to syslog (events_syslog) and handed to events_exec on its stdin. */
#ifndef BULKHEAD_CTL_EVENTS_H
#define BULKHEAD_CTL_EVENTS_H

#include <stdint.h>

#include "bulkhead/names.h"

struct ctl;
struct events;

/* Sets c->events when any sink is configured; problems (events_file cannot
 * be opened, events_exec is not there) are logged, and each event that
 * fails later is logged and counted. Always 0. */
int events_start(struct ctl *c);
/* Kills the programs still running and frees everything; NULL is fine. */
void events_stop(struct events *e);

/* Each accepts e NULL (no sink) and does nothing. counts: by host status,
 * HOST_STATUS_MAX + 1 of them. */
void events_command(struct events *e, enum action a, uint64_t epoch, int64_t id, const int *counts,
		    int total, uint64_t elapsed_us);
void events_alert(struct events *e, const char *host, enum alert_kind k, const char *text);
void events_stage(struct events *e, const char *playbook, int64_t run, int index, const char *stage,
		  enum stage_state st);

#endif
