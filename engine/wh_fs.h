/*
 * wh_fs.h - small file-system helpers shared by the stores that must
 * survive crashes (the compilation cache, wharfd's registry).  They
 * return 0, or -1 with errno set, like the system calls they wrap.
 */
#ifndef WH_FS_H
#define WH_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: creates every missing component with mode 0700; fails with
 * ENOTDIR when the path exists but is not a directory. */
int wh_fs_mkdir_p(const char *path);
/* fsync of a directory, so a rename or create inside it is durable. */
int wh_fs_fsync_dir(const char *path);

/* Writes all n bytes (retrying on EINTR and short writes). */
int wh_fs_write_all(int fd, const void *buf, size_t n);
/* Reads exactly n bytes; a file that ends early fails with ENODATA. */
int wh_fs_read_all(int fd, void *buf, size_t n);

/* Whether a path component is "." or "..". */
static inline bool wh_fs_is_dot(const char *c) { return c[0] == '.' && c[1] == '\0'; }
static inline bool wh_fs_is_dotdot(const char *c) {
  return c[0] == '.' && c[1] == '.' && c[2] == '\0';
}

/* Longest path wh_fs_open_beneath takes (bytes, NUL excluded). */
#define WH_FS_PATH_MAX 4096

/* open(2) of the relative `path` beneath directory fd `root`, never
 * leaving it, through symlinks and ".." included (the WASI hosts'
 * confinement): openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), or,
 * where the kernel lacks it (then *portable is set) or *portable is
 * already true, one component at a time with O_PATH | O_NOFOLLOW,
 * splicing symlink targets and popping ".." off a stack of opened
 * directories.  Leading slashes are skipped by the walk, so callers
 * refuse absolute paths first.  Returns the fd (O_CLOEXEC) or -errno:
 * -EXDEV when the path would leave `root`. */
int wh_fs_open_beneath(int root, const char *path, int flags, mode_t mode, bool *portable);

#endif /* WH_FS_H */
