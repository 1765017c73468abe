/*
 * fuzz_replay.c - main() for a fuzz target built without libFuzzer.
 *
 *   fuzz-X-replay [--every N] [--all] [--quiet] PATH...
 *
 * Runs LLVMFuzzerTestOneInput once on each file: a PATH that is a file is
 * run as is, a directory is walked for *.wasm files, or for every file
 * with --all (a libFuzzer corpus names its inputs by hash), sorted so that
 * runs repeat.  --every N keeps every Nth of the files found (a quicker smoke).
 * Prints each file before running it (unless --quiet), so the file that
 * crashes is the last one printed, then a count.  Exit 0 when every input
 * ran, 77 (ctest's skip) when a PATH does not exist, 2 on a usage error.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz.h"

#define EXIT_SKIP 77

typedef struct list {
  char **v;
  size_t n, cap;
} list_t;

static int push(list_t *l, const char *path) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n] = strdup(path);
  return l->v[l->n++] ? 0 : -1;
}

static bool is_wasm(const char *name) {
  size_t n = strlen(name);
  return n > 5 && strcmp(name + n - 5, ".wasm") == 0;
}

static bool all_files;   /* --all */

static int walk(list_t *l, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) rc = walk(l, path);
    else if (S_ISREG(st.st_mode) && (all_files || is_wasm(e->d_name))) rc = push(l, path);
  }
  closedir(d);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return -1;
  }
  size_t cap = 4096, len = 0, got;
  uint8_t *buf = malloc(cap);
  while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      uint8_t *p = realloc(buf, cap * 2);
      if (!p) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = p;
      cap *= 2;
    }
  }
  fclose(f);
  if (!buf) return -1;
  /* An exactly sized copy, so that ASan sees reads past the input. */
  uint8_t *in = malloc(len ? len : 1);
  if (!in) {
    free(buf);
    return -1;
  }
  memcpy(in, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(in, len);
  free(in);
  return 0;
}

int main(int argc, char **argv) {
  long every = 1;
  bool quiet = false;
  list_t files = {0};
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--every") == 0 && i + 1 < argc) {
      every = strtol(argv[++i], NULL, 10);
      if (every < 1) every = 1;
    } else if (strcmp(argv[i], "--all") == 0) {
      all_files = true;
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else {
      fprintf(stderr, "usage: %s [--every N] [--all] [--quiet] PATH...\n", argv[0]);
      return 2;
    }
  }
  if (i == argc) {
    fprintf(stderr, "usage: %s [--every N] [--all] [--quiet] PATH...\n", argv[0]);
    return 2;
  }
  for (; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      printf("%s: not found; skipping\n", argv[i]);
      return EXIT_SKIP;
    }
    size_t first = files.n;
    int rc = S_ISDIR(st.st_mode) ? walk(&files, argv[i]) : push(&files, argv[i]);
    if (rc != 0) {
      fprintf(stderr, "%s: cannot list\n", argv[i]);
      return 1;
    }
    qsort(files.v + first, files.n - first, sizeof *files.v, cmp_str);
  }

  LLVMFuzzerInitialize(&argc, &argv);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t ran = 0;
  int status = 0;
  for (size_t k = 0; k < files.n; k++) {
    if (k % (size_t)every == 0) {
      if (!quiet) {
        printf("%s\n", files.v[k]);
        fflush(stdout);
      }
      if (run_file(files.v[k]) == 0) ran++;
      else status = 1;
    }
    free(files.v[k]);
  }
  free(files.v);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%zu inputs replayed in %.1f s\n", ran,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return status;
}
