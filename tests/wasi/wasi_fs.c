/*
 * wasi_fs.c - a C guest (wasi-libc) that exercises WASI preview1 through
 * libc: args, environment, clocks, sleep (poll_oneoff), random, files,
 * directories, symlinks, times, and a few ways out of the sandbox.
 *
 * run-wasi-fs.sh builds it with clang --target=wasm32-wasi and runs it as
 *   wharf run --dir SCRATCH::. --env WHARF_T=yes wasi_fs.wasm one two
 * with an empty SCRATCH directory.  Each check prints nothing unless it
 * fails ("FAIL line N: ..." and exit 1); "wasi_fs: ok" at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static int failures;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      printf("FAIL line %d: %s (errno %d %s)\n", __LINE__, #cond, errno,     \
             strerror(errno));                                               \
      failures++;                                                            \
    }                                                                        \
  } while (0)

static void test_args_env(int argc, char **argv)
{
  CHECK(argc == 3);
  CHECK(argc > 2 && strcmp(argv[1], "one") == 0 && strcmp(argv[2], "two") == 0);
  CHECK(getenv("WHARF_T") != NULL && strcmp(getenv("WHARF_T"), "yes") == 0);
  CHECK(getenv("HOME") == NULL);   /* nothing leaks from the host */
}

static void test_clocks(void)
{
  struct timespec a, b, r;
  unsigned char buf[64], zero[64] = {0};
  CHECK(clock_gettime(CLOCK_REALTIME, &a) == 0);
  CHECK(a.tv_sec > 1600000000);
  CHECK(clock_getres(CLOCK_MONOTONIC, &r) == 0);
  CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
  CHECK(usleep(20000) == 0);
  CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
  CHECK((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) >= 19000000LL);
  CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a) == 0);
  memset(buf, 0, sizeof buf);
  CHECK(getentropy(buf, sizeof buf) == 0);
  CHECK(memcmp(buf, zero, sizeof buf) != 0);
}

static void test_poll(void)
{
  struct pollfd p[2];
  int fd = open("poll.txt", O_CREAT | O_RDWR, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "abc", 3) == 3);
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  p[0].fd = 1;                 /* stdout: a pipe or tty, writable */
  p[0].events = POLLOUT;
  p[1].fd = fd;                /* a regular file: always ready */
  p[1].events = POLLIN;
  CHECK(poll(p, 2, 5000) == 2);
  CHECK(p[0].revents & POLLOUT);
  CHECK(p[1].revents & POLLIN);
  CHECK(poll(NULL, 0, 10) == 0);  /* a plain sleep */
  close(fd);
  unlink("poll.txt");
}

static void test_fd_ops(void)
{
  char buf[16];
  int a = open("ra.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
  int b = open("rb.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(a >= 0 && b >= 0);
  CHECK(write(a, "AAA", 3) == 3);
  CHECK(__wasi_fd_renumber(a, b) == 0);
  CHECK(lseek(b, 0, SEEK_SET) == 0);
  CHECK(read(b, buf, sizeof buf) == 3 && memcmp(buf, "AAA", 3) == 0);
  CHECK(write(a, "x", 1) == -1 && errno == EBADF);
  CHECK(fcntl(b, F_SETFL, O_APPEND) == 0);
  CHECK((fcntl(b, F_GETFL) & O_APPEND) != 0);
  CHECK(lseek(b, 0, SEEK_SET) == 0);
  CHECK(write(b, "B", 1) == 1);
  CHECK(lseek(b, 0, SEEK_CUR) == 4);
  close(b);
  CHECK(unlink("ra.txt") == 0);
  CHECK(unlink("rb.txt") == 0);
  /* the embedder's stdout is shared: the guest may not change its flags */
  CHECK(fcntl(1, F_SETFL, O_NONBLOCK) == -1);
}

static void test_files(void)
{
  char buf[64];
  struct stat st;
  int fd;
  FILE *f;

  fd = open("a.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "hello, world", 12) == 12);
  CHECK(lseek(fd, 0, SEEK_CUR) == 12);
  CHECK(lseek(fd, 7, SEEK_SET) == 7);
  CHECK(read(fd, buf, sizeof buf) == 5 && memcmp(buf, "world", 5) == 0);
  CHECK(pwrite(fd, "W", 1, 7) == 1);
  CHECK(pread(fd, buf, 5, 7) == 5 && memcmp(buf, "World", 5) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 12 && S_ISREG(st.st_mode));
  CHECK(ftruncate(fd, 5) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
  CHECK(fsync(fd) == 0);
  CHECK(fdatasync(fd) == 0);
  CHECK(posix_fadvise(fd, 0, 5, POSIX_FADV_SEQUENTIAL) == 0);
  CHECK(posix_fallocate(fd, 0, 4096) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 4096);
  CHECK(close(fd) == 0);
  CHECK(close(fd) == -1 && errno == EBADF);

  f = fopen("b.txt", "w");
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "line %d\n", 42);
    fclose(f);
  }
  f = fopen("b.txt", "a");
  CHECK(f != NULL);
  if (f) {
    fputs("more\n", f);
    fclose(f);
  }
  f = fopen("b.txt", "r");
  CHECK(f != NULL);
  if (f) {
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(strcmp(buf, "line 42\nmore\n") == 0);
    fclose(f);
  }
  CHECK(stat("b.txt", &st) == 0 && st.st_size == 13);
  CHECK(access("b.txt", R_OK) == 0);
  CHECK(open("missing.txt", O_RDONLY) == -1 && errno == ENOENT);
  CHECK(open("b.txt", O_CREAT | O_EXCL | O_WRONLY, 0644) == -1 && errno == EEXIST);
  CHECK(open("b.txt/x", O_RDONLY) == -1 && errno == ENOTDIR);
}

static void test_times(void)
{
  struct timespec ts[2] = {{1000000000, 5}, {1100000000, 7}};
  struct stat st;
  CHECK(utimensat(AT_FDCWD, "b.txt", ts, 0) == 0);
  CHECK(stat("b.txt", &st) == 0 && st.st_mtim.tv_sec == 1100000000 &&
        st.st_atim.tv_sec == 1000000000);
  int fd = open("b.txt", O_RDONLY);
  ts[1].tv_sec = 1200000000;
  CHECK(futimens(fd, ts) == 0);
  CHECK(fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 1200000000);
  close(fd);
}

static void test_dirs(void)
{
  char name[64], buf[64];
  struct stat st;
  DIR *d;
  struct dirent *de;
  int seen = 0, dots = 0;

  CHECK(mkdir("d", 0755) == 0);
  CHECK(mkdir("d", 0755) == -1 && errno == EEXIST);
  CHECK(mkdir("d/e", 0755) == 0);
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "d/file-with-a-longish-name-%03d", i);
    int fd = open(name, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
  }
  d = opendir("d");
  CHECK(d != NULL);
  while (d && (de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, "file-with", 9) == 0) {
      seen++;
      CHECK(de->d_type == DT_REG);
    } else if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
      dots++;
    } else {
      CHECK(strcmp(de->d_name, "e") == 0 && de->d_type == DT_DIR);
    }
  }
  if (d)
    closedir(d);
  CHECK(seen == 1000);
  CHECK(dots == 2);
  CHECK(rmdir("d") == -1 && errno == ENOTEMPTY);
  CHECK(rename("d/file-with-a-longish-name-000", "d/e/moved") == 0);
  CHECK(stat("d/e/moved", &st) == 0);
  CHECK(unlink("d/e/moved") == 0);
  CHECK(unlink("d/e/moved") == -1 && errno == ENOENT);
  CHECK(unlink("d/e") == -1);
  CHECK(rmdir("d/e") == 0);
  for (int i = 1; i < 1000; i++) {
    snprintf(name, sizeof name, "d/file-with-a-longish-name-%03d", i);
    CHECK(unlink(name) == 0);
  }
  CHECK(rmdir("d") == 0);
  CHECK(stat("d", &st) == -1 && errno == ENOENT);

  CHECK(symlink("b.txt", "ln") == 0);
  CHECK(readlink("ln", buf, sizeof buf) == 5 && memcmp(buf, "b.txt", 5) == 0);
  CHECK(lstat("ln", &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(stat("ln", &st) == 0 && S_ISREG(st.st_mode));
  CHECK(link("b.txt", "hard") == 0);
  CHECK(stat("hard", &st) == 0 && st.st_nlink == 2);
  CHECK(unlink("hard") == 0);
  CHECK(unlink("ln") == 0);
}

static void test_escapes(void)
{
  struct stat st;
  CHECK(open("../etc/passwd", O_RDONLY) == -1);
  CHECK(open("/etc/passwd", O_RDONLY) == -1);
  CHECK(stat("..", &st) == -1);
  CHECK(mkdir("../out", 0755) == -1);
  CHECK(symlink("/etc", "abs") == -1);
  CHECK(symlink("..", "up") == 0);
  CHECK(open("up/etc/passwd", O_RDONLY) == -1);
  CHECK(opendir("up") == NULL);
  CHECK(unlink("up") == 0);
}

int main(int argc, char **argv)
{
  test_args_env(argc, argv);
  test_clocks();
  test_poll();
  test_fd_ops();
  test_files();
  test_times();
  test_dirs();
  test_escapes();
  unlink("a.txt");
  unlink("b.txt");
  if (failures) {
    printf("wasi_fs: %d failure(s)\n", failures);
    return 1;
  }
  printf("wasi_fs: ok\n");
  return 0;
}
