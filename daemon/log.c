/*
 * log.c - wharfd's log: one line per event on stderr,
 *
 *   2026-11-23T20:41:07.123Z info  message
 *
 * (journald adds its own metadata under systemd).  Only the daemon logs;
 * the libraries return diagnostics instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "daemon.h"

static int min_level = WH_LOG_INFO;

void wh_log_set_level(int level) { min_level = level; }

void wh_log(int level, const char *fmt, ...) {
  static const char *const names[] = {"debug", "info ", "warn ", "error"};
  if (level < min_level) return;
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, names[level & 3]);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);   /* one call: lines never interleave */
}

uint64_t wh_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t wh_now_ms_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
