/*
 * wh_fs.h - small file-system helpers shared by the stores that must
 * survive crashes (the compilation cache, wharfd's registry).  They
 * return 0, or -1 with errno set, like the system calls they wrap.
 */
#ifndef WH_FS_H
#define WH_FS_H

/* mkdir -p: creates every missing component with mode 0700; fails with
 * ENOTDIR when the path exists but is not a directory. */
int wh_fs_mkdir_p(const char *path);
/* fsync of a directory, so a rename or create inside it is durable. */
int wh_fs_fsync_dir(const char *path);

#endif /* WH_FS_H */
