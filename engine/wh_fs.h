/*
 * wh_fs.h - small file-system helpers shared by the stores that must
 * survive crashes (the compilation cache, wharfd's registry).  They
 * return 0, or -1 with errno set, like the system calls they wrap.
 */
#ifndef WH_FS_H
#define WH_FS_H

#include <stddef.h>

/* mkdir -p: creates every missing component with mode 0700; fails with
 * ENOTDIR when the path exists but is not a directory. */
int wh_fs_mkdir_p(const char *path);
/* fsync of a directory, so a rename or create inside it is durable. */
int wh_fs_fsync_dir(const char *path);

/* Writes all n bytes (retrying on EINTR and short writes). */
int wh_fs_write_all(int fd, const void *buf, size_t n);
/* Reads exactly n bytes; a file that ends early fails with ENODATA. */
int wh_fs_read_all(int fd, void *buf, size_t n);

#endif /* WH_FS_H */
