/*
 * fs.c - see wh_fs.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wh_fs.h"

#define FS_MAX_SYMLINKS 40    /* symlinks expanded per resolution */
#define FS_MAX_DEPTH 512      /* directory depth during a portable walk */

int wh_fs_fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

int wh_fs_mkdir_p(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    buf[i] = saved;
  }
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

int wh_fs_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int wh_fs_read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) {
      errno = ENODATA; /* the file shrank under us */
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* ---- opening beneath a directory ------------------------------------------- */

/*
 * openat() of `path` beneath `root` without openat2: components are
 * opened one at a time (O_PATH | O_NOFOLLOW); a symlink met on the way is
 * read and its target spliced in front of the rest; `..` pops the stack
 * of opened directories and fails at the bottom.  The last component is
 * opened with `flags` plus O_NOFOLLOW (if it was a symlink to follow it
 * has been expanded already, so a symlink there now is a race: ELOOP).
 * Returns the fd or -errno.
 */
static int walk_open(int root, const char *path, int flags, mode_t mode)
{
  char *work = NULL, *next = NULL;
  int stack[FS_MAX_DEPTH];
  int depth = 0, links = 0, ret = -EINVAL;
  bool follow_last = !(flags & O_NOFOLLOW);
  size_t pos = 0;

  stack[0] = root;
  work = malloc(2 * (WH_FS_PATH_MAX + 1));
  next = malloc(2 * (WH_FS_PATH_MAX + 1));
  if (work == NULL || next == NULL) {
    ret = -ENOMEM;
    goto done;
  }
  if (path[0] == '\0') {
    ret = -ENOENT;
    goto done;
  }
  snprintf(work, 2 * (WH_FS_PATH_MAX + 1), "%s", path);

  for (;;) {
    char comp[NAME_MAX + 1];
    size_t start, end, after;
    bool last, trailing;

    while (work[pos] == '/')
      pos++;
    if (work[pos] == '\0') {
      /* The path ended on "." or "..": open the directory we are in. */
      ret = openat(stack[depth], ".", (flags & ~O_NOFOLLOW) | O_CLOEXEC, mode);
      if (ret < 0)
        ret = -errno;
      goto done;
    }
    start = pos;
    while (work[pos] != '\0' && work[pos] != '/')
      pos++;
    end = pos;
    after = pos;
    while (work[after] == '/')
      after++;
    last = work[after] == '\0';
    trailing = last && after > end;
    if (end - start > NAME_MAX) {
      ret = -ENAMETOOLONG;
      goto done;
    }
    memcpy(comp, work + start, end - start);
    comp[end - start] = '\0';

    if (wh_fs_is_dot(comp))
      continue;
    if (wh_fs_is_dotdot(comp)) {
      if (depth == 0) {
        ret = -EXDEV;
        goto done;
      }
      close(stack[depth--]);
      continue;
    }
    if (!last || follow_last || trailing) {
      char target[WH_FS_PATH_MAX + 1];
      ssize_t n = readlinkat(stack[depth], comp, target, sizeof target);
      if (n >= 0) {
        int len;
        if (++links > FS_MAX_SYMLINKS) {
          ret = -ELOOP;
          goto done;
        }
        if ((size_t)n >= sizeof target) {
          ret = -ENAMETOOLONG;
          goto done;
        }
        target[n] = '\0';
        if (n == 0) {
          ret = -ENOENT;
          goto done;
        }
        if (target[0] == '/') {
          ret = -EXDEV;
          goto done;
        }
        /* splice: target, then whatever followed the link (slashes kept) */
        len = snprintf(next, 2 * (WH_FS_PATH_MAX + 1), "%s%s", target, work + end);
        if (len < 0 || len >= 2 * (WH_FS_PATH_MAX + 1)) {
          ret = -ENAMETOOLONG;
          goto done;
        }
        memcpy(work, next, (size_t)len + 1);
        pos = 0;
        continue;
      }
      if (errno != EINVAL && !(errno == ENOENT && last)) {
        ret = -errno;
        goto done;
      }
    }
    if (!last) {
      int fd;
      if (depth + 1 >= FS_MAX_DEPTH) {
        ret = -ENAMETOOLONG;
        goto done;
      }
      fd = openat(stack[depth], comp,
                  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        ret = -errno;
        goto done;
      }
      stack[++depth] = fd;
      continue;
    }
    if (trailing && (flags & O_CREAT)) {
      ret = -EISDIR;
      goto done;
    }
    ret = openat(stack[depth], comp,
                 flags | O_NOFOLLOW | O_CLOEXEC | (trailing ? O_DIRECTORY : 0),
                 mode);
    if (ret < 0)
      ret = -errno;
    goto done;
  }

done:
  while (depth > 0)
    close(stack[depth--]);
  free(work);
  free(next);
  return ret;
}


int wh_fs_open_beneath(int root, const char *path, int flags, mode_t mode, bool *portable)
{
  if (strlen(path) > WH_FS_PATH_MAX)
    return -ENAMETOOLONG;
  if (!*portable) {
    struct open_how how;
    long fd;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    fd = syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0)
      return (int)fd;
    /* ENOSYS: an old kernel.  EPERM may be a seccomp filter that does not
     * know openat2 (or a real EPERM, which the walk will meet again). */
    if (errno == ENOSYS)
      *portable = true;
    else if (errno != EPERM)
      return -errno;
  }
  return walk_open(root, path, flags, mode);
}
