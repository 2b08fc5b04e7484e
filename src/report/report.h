/*
 * report: what a run leaves for people to look at, rendered from what the run directory holds
 * (result.json and journal.jsonl), so an old run renders the same as a new one.
 *
 * The folder is laid out ahead of its code (the reports issue fills it): HTML with inline SVG
 * charts, JUnit XML, a Markdown summary, the live terminal view, run comparison and webhook
 * notifications.
 * May use: base, and from run/ only results.h and journal.h (with measure.h and load's
 * timeline.h and hist.h, the types those two are made of).
 * Used by: cmd/ (report, and run for the live view and the files it writes). Never the runner's
 * internals: whatever the live view shows during a run reaches it through the runner's public
 * events, handed over by cmd/run.c.
 */
#ifndef ZD_REPORT_H
#define ZD_REPORT_H

#endif
