/*
 * wasi_p2_fs.c - wasi:filesystem/types and wasi:filesystem/preopens.
 *
 * Preopens are the only way in, and they are read-only: a descriptor
 * wraps a host fd opened O_RDONLY beneath a preopen.  Reads, stats,
 * directory listings, readlink and opening more files or directories
 * work; writing through a descriptor fails with bad-descriptor (it was
 * not opened for writing) and changing the tree (create, unlink, rename,
 * link, symlink, set-times, open with create/truncate/write) with
 * read-only, without touching the host.
 *
 * Paths.  Every guest path is relative to a descriptor, and every
 * descriptor lies beneath a preopen, so "beneath this descriptor" is the
 * whole rule: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) checks it
 * in the kernel; where openat2 is missing (ENOSYS, or EPERM from an old
 * seccomp filter), wh_fs_open_beneath (engine/fs.c, shared with the
 * preview1 host) opens one component at a time with
 * O_NOFOLLOW, splices symlink targets in itself and keeps a stack of
 * directory fds, so `..` never climbs above the start.  Absolute paths,
 * absolute symlinks and escapes fail with not-permitted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_p2_int.h"
#include "wh_fs.h"

#define PATH_MAX_BYTES WH_FS_PATH_MAX

/* descriptor-type */
enum { DT_UNKNOWN_ = 0, DT_BLOCK, DT_CHAR, DT_DIR_, DT_FIFO_, DT_LINK, DT_FILE, DT_SOCKET };

uint32_t wh_wasi_p2__fs_errno(int e) {
  switch (e) {
  case EACCES: return FS_ACCESS;
  case EAGAIN: return FS_WOULD_BLOCK;
  case EALREADY: return FS_ALREADY;
  case EBADF: return FS_BAD_DESCRIPTOR;
  case EBUSY: return FS_BUSY;
  case EDEADLK: return FS_DEADLOCK;
  case EDQUOT: return FS_QUOTA;
  case EEXIST: return FS_EXIST;
  case EFBIG: return FS_FILE_TOO_LARGE;
  case EILSEQ: return FS_ILLEGAL_BYTE_SEQUENCE;
  case EINPROGRESS: return FS_IN_PROGRESS;
  case EINTR: return FS_INTERRUPTED;
  case EINVAL: return FS_INVALID;
  case EISDIR: return FS_IS_DIRECTORY;
  case ELOOP: return FS_LOOP;
  case EMLINK: return FS_TOO_MANY_LINKS;
  case EMSGSIZE: return FS_MESSAGE_SIZE;
  case ENAMETOOLONG: return FS_NAME_TOO_LONG;
  case ENODEV: return FS_NO_DEVICE;
  case ENOENT: return FS_NO_ENTRY;
  case ENOLCK: return FS_NO_LOCK;
  case ENOMEM: return FS_INSUFFICIENT_MEMORY;
  case ENOSPC: return FS_INSUFFICIENT_SPACE;
  case ENOTDIR: return FS_NOT_DIRECTORY;
  case ENOTEMPTY: return FS_NOT_EMPTY;
  case ENOTRECOVERABLE: return FS_NOT_RECOVERABLE;
  case EOPNOTSUPP: return FS_UNSUPPORTED;
  case ENOTTY: return FS_NO_TTY;
  case ENXIO: return FS_NO_SUCH_DEVICE;
  case EOVERFLOW: return FS_OVERFLOW;
  case EPERM: return FS_NOT_PERMITTED;
  case EPIPE: return FS_PIPE;
  case EROFS: return FS_READ_ONLY;
  case ESPIPE: return FS_INVALID_SEEK;
  case ETXTBSY: return FS_TEXT_FILE_BUSY;
  case EXDEV: return FS_NOT_PERMITTED;   /* a path that would leave its directory */
  default: return FS_IO;
  }
}

static uint8_t type_of(mode_t m) {
  switch (m & S_IFMT) {
  case S_IFREG: return DT_FILE;
  case S_IFDIR: return DT_DIR_;
  case S_IFCHR: return DT_CHAR;
  case S_IFBLK: return DT_BLOCK;
  case S_IFIFO: return DT_FIFO_;
  case S_IFLNK: return DT_LINK;
  case S_IFSOCK: return DT_SOCKET;
  default: return DT_UNKNOWN_;
  }
}

/* ---- confined resolution ---------------------------------------------------------- */

/* Opens `path` beneath `root` (fd or -errno, -EXDEV for an escape). */
static int beneath(wh_wasi_p2_t *w, int root, const char *path, int flags) {
  if (path[0] == '/') return -EXDEV;
  if (path[0] == '\0') return -ENOENT;
  return wh_fs_open_beneath(root, path, flags, 0, &w->portable);
}

/* ---- argument helpers ---------------------------------------------------------------- */

static bool arg_flags(p2_call_t *k, uint32_t i, const wh_cm_val **out) {
  if (i >= k->nargs || k->args[i].kind != WH_CM_V_FLAGS) {
    wh_wasi_p2__trap(k, "wasi: argument %u is not flags", i);
    return false;
  }
  *out = &k->args[i];
  return true;
}

/* A path argument as a C string (embedded NULs: invalid). */
static bool arg_path(p2_call_t *k, uint32_t i, const char **p, int *err) {
  size_t len;
  if (!wh_wasi_p2__arg_str(k, i, p, &len)) return false;
  *err = -1;
  if (len > PATH_MAX_BYTES) *err = FS_NAME_TOO_LONG;
  else if (memchr(*p, '\0', len)) *err = FS_INVALID;
  return true;
}

static int ret_errno(p2_call_t *k, int e) { return wh_wasi_p2__ret_err_enum(k, wh_wasi_p2__fs_errno(e)); }

static wh_cm_val opt_time(const struct timespec *ts, int *rc) {
  wh_cm_val v, dt;
  memset(&dt, 0, sizeof dt);
  if ((*rc = wh_cm_val_agg(&dt, WH_CM_V_RECORD, 2)) == 0) {
    dt.of.agg.v[0] = wh_cm_val_u64((uint64_t)ts->tv_sec);
    dt.of.agg.v[1] = wh_cm_val_u32((uint32_t)ts->tv_nsec);
  }
  if (*rc) {
    wh_cm_val_fini(&dt);
    memset(&v, 0, sizeof v);
    return v;
  }
  *rc = wh_cm_val_case(&v, WH_CM_V_OPTION, 1, &dt);
  return v;
}

static int ret_stat(p2_call_t *k, const struct stat *st) {
  wh_cm_val v;
  int rc = wh_cm_val_agg(&v, WH_CM_V_RECORD, 6);
  if (rc == 0) {
    v.of.agg.v[0] = wh_cm_val_enum(type_of(st->st_mode));
    v.of.agg.v[1] = wh_cm_val_u64((uint64_t)st->st_nlink);
    v.of.agg.v[2] = wh_cm_val_u64((uint64_t)st->st_size);
    v.of.agg.v[3] = opt_time(&st->st_atim, &rc);
    if (rc == 0) v.of.agg.v[4] = opt_time(&st->st_mtim, &rc);
    if (rc == 0) v.of.agg.v[5] = opt_time(&st->st_ctim, &rc);
  }
  if (rc) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret_ok(k, &v);
}

/* ---- descriptor ------------------------------------------------------------------------ */

static p2_obj_t *desc_new(p2_call_t *k, int fd, uint8_t type) {
  p2_obj_t *o = wh_wasi_p2__obj_new(k, P2_DESCRIPTOR);
  if (!o) {
    close(fd);
    return NULL;
  }
  o->u.desc.fd = fd;
  o->u.desc.type = type;
  return o;
}

static int d_read_via_stream(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  uint64_t off;
  if (!d || !wh_wasi_p2__arg_u64(k, 1, &off)) return P2_TRAPPED;
  if (d->u.desc.type == DT_DIR_) return wh_wasi_p2__ret_err_enum(k, FS_IS_DIRECTORY);
  int fd = fcntl(d->u.desc.fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ret_errno(k, errno);
  p2_obj_t *s = wh_wasi_p2__obj_new(k, P2_INPUT);
  if (!s) {
    close(fd);
    return P2_TRAPPED;
  }
  s->u.in.src = P2_IN_FILE;
  s->u.in.fd = fd;
  s->u.in.off = off;
  wh_cm_val h = wh_wasi_p2__own(s);
  return wh_wasi_p2__ret_ok(k, &h);
}

/* Writing through a descriptor: none is open for writing. */
static int d_not_writable(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR)) return P2_TRAPPED;
  return wh_wasi_p2__ret_err_enum(k, FS_BAD_DESCRIPTOR);
}

/* Changing the tree: the preopens are read-only. */
static int d_read_only(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR)) return P2_TRAPPED;
  return wh_wasi_p2__ret_err_enum(k, FS_READ_ONLY);
}

/* advise, sync-data, sync: nothing to do for a read-only descriptor. */
static int d_ok(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR)) return P2_TRAPPED;
  return wh_wasi_p2__ret_ok(k, NULL);
}

static int d_get_flags(p2_call_t *k) {
  wh_cm_val f;
  if (!wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR)) return P2_TRAPPED;
  if (wh_cm_val_flags(&f, 6) != 0) return wh_wasi_p2__trap(k, "out of memory");
  wh_cm_val_flag_set(&f, 0, true);   /* read */
  return wh_wasi_p2__ret_ok(k, &f);
}

static int d_get_type(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  if (!d) return P2_TRAPPED;
  wh_cm_val t = wh_cm_val_enum(d->u.desc.type);
  return wh_wasi_p2__ret_ok(k, &t);
}

static int d_read(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  uint64_t len, off;
  if (!d || !wh_wasi_p2__arg_u64(k, 1, &len) || !wh_wasi_p2__arg_u64(k, 2, &off))
    return P2_TRAPPED;
  if (d->u.desc.type == DT_DIR_) return wh_wasi_p2__ret_err_enum(k, FS_IS_DIRECTORY);
  if (len > READ_MAX) len = READ_MAX;
  if (off > INT64_MAX) return wh_wasi_p2__ret_err_enum(k, FS_INVALID);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return wh_wasi_p2__trap(k, "out of memory");
  ssize_t r = 0;
  if (len) {
    do r = pread(d->u.desc.fd, buf, len, (off_t)off);
    while (r < 0 && errno == EINTR);
  }
  if (r < 0) {
    int e = errno;
    free(buf);
    return ret_errno(k, e);
  }
  wh_cm_val t;
  int rc = wh_cm_val_agg(&t, WH_CM_V_TUPLE, 2);
  if (rc == 0) rc = wh_wasi_p2__bytes_val(&t.of.agg.v[0], buf, (size_t)r);
  if (rc == 0) t.of.agg.v[1] = wh_cm_val_bool((uint64_t)r < len);   /* end of file */
  free(buf);
  if (rc) {
    wh_cm_val_fini(&t);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret_ok(k, &t);
}

static int d_read_directory(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  if (!d) return P2_TRAPPED;
  if (d->u.desc.type != DT_DIR_) return wh_wasi_p2__ret_err_enum(k, FS_NOT_DIRECTORY);
  int fd = openat(d->u.desc.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ret_errno(k, errno);
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int e = errno;
    close(fd);
    return ret_errno(k, e);
  }
  p2_obj_t *s = wh_wasi_p2__obj_new(k, P2_DIRSTREAM);
  if (!s) {
    closedir(dir);
    return P2_TRAPPED;
  }
  s->u.dirs.dir = dir;
  wh_cm_val h = wh_wasi_p2__own(s);
  return wh_wasi_p2__ret_ok(k, &h);
}

void wh_wasi_p2__dir_close(p2_obj_t *o) {
  if (o->u.dirs.dir) closedir(o->u.dirs.dir);
  o->u.dirs.dir = NULL;
}

static int d_stat(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  struct stat st;
  if (!d) return P2_TRAPPED;
  if (fstat(d->u.desc.fd, &st) != 0) return ret_errno(k, errno);
  return ret_stat(k, &st);
}

/* Opens (O_PATH) what args (path-flags at i, path at i+1) name beneath
 * descriptor arg 0: fd >= 0, or < 0 after setting the result (an
 * error-code) or trapping (*rc). */
static int open_path_arg(p2_call_t *k, p2_obj_t *d, uint32_t i, int *rc) {
  const wh_cm_val *pf;
  const char *path;
  int perr;
  if (!arg_flags(k, i, &pf) || !arg_path(k, i + 1, &path, &perr)) {
    *rc = P2_TRAPPED;
    return -1;
  }
  if (perr >= 0) {
    *rc = wh_wasi_p2__ret_err_enum(k, (uint32_t)perr);
    return -1;
  }
  bool follow = wh_cm_val_flag_get(pf, 0);
  int fd = beneath(k->w, d->u.desc.fd, path, O_PATH | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    *rc = ret_errno(k, -fd);
    return -1;
  }
  return fd;
}

/* stat of the path argument 1 beneath descriptor argument 0: 0 with *st,
 * or the call's return (an error result or a trap) in *rc. */
static bool stat_at(p2_call_t *k, struct stat *st, int *rc) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  *rc = P2_TRAPPED;
  if (!d) return false;
  int fd = open_path_arg(k, d, 1, rc);
  if (fd < 0) return false;
  int r = fstat(fd, st), e = errno;
  close(fd);
  if (r != 0) *rc = ret_errno(k, e);
  return r == 0;
}

static int d_stat_at(p2_call_t *k) {
  struct stat st;
  int rc;
  return stat_at(k, &st, &rc) ? ret_stat(k, &st) : rc;
}

static int d_open_at(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  const wh_cm_val *pf, *of, *df;
  const char *path;
  int perr;
  if (!d || !arg_flags(k, 1, &pf) || !arg_path(k, 2, &path, &perr) || !arg_flags(k, 3, &of) ||
      !arg_flags(k, 4, &df))
    return P2_TRAPPED;
  if (perr >= 0) return wh_wasi_p2__ret_err_enum(k, (uint32_t)perr);
  if (d->u.desc.type != DT_DIR_) return wh_wasi_p2__ret_err_enum(k, FS_NOT_DIRECTORY);
  /* open-flags: create, directory, exclusive, truncate; descriptor-flags:
   * read, write, file-integrity-sync, data-integrity-sync,
   * requested-write-sync, mutate-directory */
  bool create = wh_cm_val_flag_get(of, 0), dir = wh_cm_val_flag_get(of, 1);
  bool trunc = wh_cm_val_flag_get(of, 3);
  if (create || trunc || wh_cm_val_flag_get(df, 1) || wh_cm_val_flag_get(df, 5))
    return wh_wasi_p2__ret_err_enum(k, FS_READ_ONLY);
  bool follow = wh_cm_val_flag_get(pf, 0);
  int fd = beneath(k->w, d->u.desc.fd, path,
                   O_RDONLY | O_NONBLOCK | (dir ? O_DIRECTORY : 0) | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) return ret_errno(k, -fd);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ret_errno(k, e);
  }
  /* O_NONBLOCK only kept open() of a FIFO from waiting for a writer */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  p2_obj_t *n = desc_new(k, fd, type_of(st.st_mode));
  if (!n) return P2_TRAPPED;
  wh_cm_val h = wh_wasi_p2__own(n);
  return wh_wasi_p2__ret_ok(k, &h);
}

static int d_readlink_at(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  const char *path;
  int perr;
  char target[PATH_MAX_BYTES + 1];
  if (!d || !arg_path(k, 1, &path, &perr)) return P2_TRAPPED;
  if (perr >= 0) return wh_wasi_p2__ret_err_enum(k, (uint32_t)perr);
  int fd = beneath(k->w, d->u.desc.fd, path, O_PATH | O_NOFOLLOW);
  if (fd < 0) return ret_errno(k, -fd);
  ssize_t n = readlinkat(fd, "", target, sizeof target - 1);
  int e = errno;
  close(fd);
  if (n < 0) return ret_errno(k, e == ENOENT ? EINVAL : e);   /* not a symlink */
  wh_cm_val s;
  if (wh_cm_val_string(&s, target, (size_t)n) != 0) {
    wh_cm_val_fini(&s);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret_ok(k, &s);
}

static int d_is_same_object(p2_call_t *k) {
  p2_obj_t *a = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  p2_obj_t *b = a ? wh_wasi_p2__arg_obj(k, 1, P2_DESCRIPTOR) : NULL;
  struct stat sa, sb;
  if (!b) return P2_TRAPPED;
  bool same = fstat(a->u.desc.fd, &sa) == 0 && fstat(b->u.desc.fd, &sb) == 0 &&
              sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return wh_wasi_p2__ret(k, wh_cm_val_bool(same));
}

/* metadata-hash-value {lower, upper}: a mix of device, inode, size and
 * times, so it changes when the file does. */
static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

static int ret_hash(p2_call_t *k, const struct stat *st) {
  uint64_t a = mix(mix(mix(1, (uint64_t)st->st_dev), (uint64_t)st->st_ino),
                   (uint64_t)st->st_size);
  uint64_t b = mix(mix(a, (uint64_t)st->st_mtim.tv_sec), (uint64_t)st->st_mtim.tv_nsec);
  b = mix(mix(b, (uint64_t)st->st_ctim.tv_sec), (uint64_t)st->st_ctim.tv_nsec);
  wh_cm_val v;
  if (wh_cm_val_agg(&v, WH_CM_V_RECORD, 2) != 0) return wh_wasi_p2__trap(k, "out of memory");
  v.of.agg.v[0] = wh_cm_val_u64(a);
  v.of.agg.v[1] = wh_cm_val_u64(b);
  return wh_wasi_p2__ret_ok(k, &v);
}

static int d_metadata_hash(p2_call_t *k) {
  p2_obj_t *d = wh_wasi_p2__arg_obj(k, 0, P2_DESCRIPTOR);
  struct stat st;
  if (!d) return P2_TRAPPED;
  if (fstat(d->u.desc.fd, &st) != 0) return ret_errno(k, errno);
  return ret_hash(k, &st);
}

static int d_metadata_hash_at(p2_call_t *k) {
  struct stat st;
  int rc;
  return stat_at(k, &st, &rc) ? ret_hash(k, &st) : rc;
}

/* ---- directory-entry-stream ------------------------------------------------------------ */

static int dir_read_entry(p2_call_t *k) {
  p2_obj_t *s = wh_wasi_p2__arg_obj(k, 0, P2_DIRSTREAM);
  if (!s) return P2_TRAPPED;
  DIR *dir = s->u.dirs.dir;
  struct dirent *de;
  for (;;) {
    errno = 0;
    de = s->u.dirs.done ? NULL : readdir(dir);
    if (!de) {
      if (errno) return ret_errno(k, errno);
      s->u.dirs.done = true;
      wh_cm_val none = {.kind = WH_CM_V_OPTION};
      return wh_wasi_p2__ret_ok(k, &none);
    }
    if (!wh_fs_is_dot(de->d_name) && !wh_fs_is_dotdot(de->d_name)) break;
  }
  uint8_t type;
  switch (de->d_type) {
  case DT_REG: type = DT_FILE; break;
  case DT_DIR: type = DT_DIR_; break;
  case DT_LNK: type = DT_LINK; break;
  case DT_CHR: type = DT_CHAR; break;
  case DT_BLK: type = DT_BLOCK; break;
  case DT_FIFO: type = DT_FIFO_; break;
  case DT_SOCK: type = DT_SOCKET; break;
  default: {
    struct stat st;
    type = fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? type_of(st.st_mode)
                                                                          : DT_UNKNOWN_;
  }
  }
  wh_cm_val e, some;
  int rc = wh_cm_val_agg(&e, WH_CM_V_RECORD, 2);
  if (rc == 0) {
    e.of.agg.v[0] = wh_cm_val_enum(type);
    rc = wh_cm_val_string(&e.of.agg.v[1], de->d_name, strlen(de->d_name));
  }
  if (rc == 0) rc = wh_cm_val_case(&some, WH_CM_V_OPTION, 1, &e);
  if (rc) {
    wh_cm_val_fini(&e);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret_ok(k, &some);
}

/* ---- free functions ---------------------------------------------------------------------- */

static int fs_error_code(p2_call_t *k) {
  p2_obj_t *e = wh_wasi_p2__arg_obj(k, 0, P2_ERROR);
  wh_cm_val v, code;
  if (!e) return P2_TRAPPED;
  if (e->u.err.fs_code < 0) return wh_wasi_p2__ret(k, (wh_cm_val){.kind = WH_CM_V_OPTION});
  code = wh_cm_val_enum((uint32_t)e->u.err.fs_code);
  if (wh_cm_val_case(&v, WH_CM_V_OPTION, 1, &code) != 0)
    return wh_wasi_p2__trap(k, "out of memory");
  return wh_wasi_p2__ret(k, v);
}

static int get_directories(p2_call_t *k) {
  wh_wasi_p2_t *w = k->w;
  wh_cm_val v;
  if (wh_cm_val_agg(&v, WH_CM_V_LIST, (uint32_t)w->npre) != 0) goto oom;
  for (size_t i = 0; i < w->npre; i++) {
    int fd = fcntl(w->pre[i].fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      wh_cm_val_fini(&v);
      return wh_wasi_p2__trap(k, "wasi: cannot duplicate a preopen: %s", strerror(errno));
    }
    p2_obj_t *d = desc_new(k, fd, DT_DIR_);
    if (!d) {
      wh_cm_val_fini(&v);   /* descriptors made so far stay with the context */
      return P2_TRAPPED;
    }
    wh_cm_val *t = &v.of.agg.v[i];
    if (wh_cm_val_agg(t, WH_CM_V_TUPLE, 2) != 0) goto oom;
    t->of.agg.v[0] = wh_wasi_p2__own(d);
    if (wh_cm_val_string(&t->of.agg.v[1], w->pre[i].guest, strlen(w->pre[i].guest)) != 0)
      goto oom;
  }
  return wh_wasi_p2__ret(k, v);
oom:
  wh_cm_val_fini(&v);
  return wh_wasi_p2__trap(k, "out of memory");
}

#define D(m) "filesystem/types#[method]descriptor." m

const p2_fn_t wh_wasi_p2__fs_fns[] = {
  {D("read-via-stream"), d_read_via_stream},
  {D("write-via-stream"), d_not_writable},
  {D("append-via-stream"), d_not_writable},
  {D("advise"), d_ok},
  {D("sync-data"), d_ok},
  {D("get-flags"), d_get_flags},
  {D("get-type"), d_get_type},
  {D("set-size"), d_not_writable},
  {D("set-times"), d_read_only},
  {D("read"), d_read},
  {D("write"), d_not_writable},
  {D("read-directory"), d_read_directory},
  {D("sync"), d_ok},
  {D("create-directory-at"), d_read_only},
  {D("stat"), d_stat},
  {D("stat-at"), d_stat_at},
  {D("set-times-at"), d_read_only},
  {D("link-at"), d_read_only},
  {D("open-at"), d_open_at},
  {D("readlink-at"), d_readlink_at},
  {D("remove-directory-at"), d_read_only},
  {D("rename-at"), d_read_only},
  {D("symlink-at"), d_read_only},
  {D("unlink-file-at"), d_read_only},
  {D("is-same-object"), d_is_same_object},
  {D("metadata-hash"), d_metadata_hash},
  {D("metadata-hash-at"), d_metadata_hash_at},
  {"filesystem/types#[method]directory-entry-stream.read-directory-entry", dir_read_entry},
  {"filesystem/types#filesystem-error-code", fs_error_code},
  {"filesystem/preopens#get-directories", get_directories},
  {NULL, NULL},
};
