/*
 * wasi_p1.c - WASI preview1 host functions (see wasi_p1.h).
 *
 * Every preview1 function but proc_exit returns one i32, a WASI errno.
 * They are rows of one table (name, wasm signature, implementation); a
 * single trampoline fetches the caller's memory afresh (memory.grow may
 * have moved it), runs the row's implementation and stores its errno.
 *
 * Guest memory is bytes [0, size) at `mem`; a guest pointer p with length
 * n is usable only if p + n <= size (computed in 64 bits), else EFAULT,
 * checked before any side effect.  Guest structs are read and written with
 * memcpy (they may be unaligned; the host is little-endian like wasm).
 * Layouts used here (offsets in bytes):
 *
 *   iovec        buf u32 @0, len u32 @4                          (8)
 *   fdstat       filetype u8 @0, flags u16 @2, rights u64 @8,
 *                inheriting u64 @16                              (24)
 *   filestat     dev @0, ino @8, filetype u8 @16, nlink @24,
 *                size @32, atim @40, mtim @48, ctim @56          (64)
 *   prestat      tag u8 @0 (0 = dir), name_len u32 @4            (8)
 *   dirent       next cookie u64 @0, ino u64 @8, namlen u32 @16,
 *                type u8 @20, then namlen name bytes             (24+)
 *   subscription userdata u64 @0, tag u8 @8, clock: id u32 @16,
 *                timeout u64 @24, precision u64 @32, flags u16 @40;
 *                fd_read/fd_write: fd u32 @16                    (48)
 *   event        userdata u64 @0, error u16 @8, type u8 @10,
 *                nbytes u64 @16, flags u16 @24                   (32)
 *
 * The fd table maps guest fds to host fds (at most MAX_FDS).  Rights are
 * recorded, reported by fd_fdstat_get and may only shrink, but are not
 * otherwise enforced: the access mode the host fd was opened with is what
 * the kernel enforces.  The embedder's stdio fds are borrowed: the guest
 * may close or renumber its slots, never the host fds, and may not change
 * their shared file status flags.
 *
 * Paths.  A guest path is always relative to a directory fd in the table,
 * and every such directory lies beneath a preopen, so "beneath that fd" is
 * the whole rule.  openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) does
 * it in the kernel; where openat2 is missing (ENOSYS, or EPERM from a
 * seccomp filter that predates it) wh_fs_open_beneath() does the same one
 * component at a time with O_NOFOLLOW, expanding symlinks itself and
 * keeping a stack of directory fds so `..` can never climb above the
 * starting one.  Absolute paths, absolute symlink targets and `..` above
 * the start all fail with ENOTCAPABLE.  Operations on a name (mkdir,
 * unlink, rename, ...) open the parent directory beneath the fd and then
 * use the *at() call on the last component, which the kernel does not
 * follow.
 */
#include "wasi_p1.h"
#include "wh_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

/* ---- WASI constants ---------------------------------------------------- */

/* WASI errno values; the WASI names equal the POSIX ones, so one list
 * both declares them and maps host errno values onto them. */
#define WASI_ERRNO_MAP(X)                                                   \
  X(E2BIG, 1) X(EACCES, 2) X(EADDRINUSE, 3) X(EADDRNOTAVAIL, 4)             \
  X(EAFNOSUPPORT, 5) X(EAGAIN, 6) X(EALREADY, 7) X(EBADF, 8)                \
  X(EBADMSG, 9) X(EBUSY, 10) X(ECANCELED, 11) X(ECHILD, 12)                 \
  X(ECONNABORTED, 13) X(ECONNREFUSED, 14) X(ECONNRESET, 15)                 \
  X(EDEADLK, 16) X(EDESTADDRREQ, 17) X(EDOM, 18) X(EDQUOT, 19)              \
  X(EEXIST, 20) X(EFAULT, 21) X(EFBIG, 22) X(EHOSTUNREACH, 23)              \
  X(EIDRM, 24) X(EILSEQ, 25) X(EINPROGRESS, 26) X(EINTR, 27)                \
  X(EINVAL, 28) X(EIO, 29) X(EISCONN, 30) X(EISDIR, 31) X(ELOOP, 32)        \
  X(EMFILE, 33) X(EMLINK, 34) X(EMSGSIZE, 35) X(EMULTIHOP, 36)              \
  X(ENAMETOOLONG, 37) X(ENETDOWN, 38) X(ENETRESET, 39)                      \
  X(ENETUNREACH, 40) X(ENFILE, 41) X(ENOBUFS, 42) X(ENODEV, 43)             \
  X(ENOENT, 44) X(ENOEXEC, 45) X(ENOLCK, 46) X(ENOLINK, 47)                 \
  X(ENOMEM, 48) X(ENOMSG, 49) X(ENOPROTOOPT, 50) X(ENOSPC, 51)              \
  X(ENOSYS, 52) X(ENOTCONN, 53) X(ENOTDIR, 54) X(ENOTEMPTY, 55)             \
  X(ENOTRECOVERABLE, 56) X(ENOTSOCK, 57) X(ENOTSUP, 58) X(ENOTTY, 59)       \
  X(ENXIO, 60) X(EOVERFLOW, 61) X(EOWNERDEAD, 62) X(EPERM, 63)              \
  X(EPIPE, 64) X(EPROTO, 65) X(EPROTONOSUPPORT, 66) X(EPROTOTYPE, 67)       \
  X(ERANGE, 68) X(EROFS, 69) X(ESPIPE, 70) X(ESRCH, 71) X(ESTALE, 72)       \
  X(ETIMEDOUT, 73) X(ETXTBSY, 74) X(EXDEV, 75)

enum {
  WASI_ESUCCESS = 0,
#define ERRNO_ENUM(name, value) WASI_##name = value,
  WASI_ERRNO_MAP(ERRNO_ENUM)
#undef ERRNO_ENUM
  WASI_ENOTCAPABLE = 76,
};

enum {
  FT_UNKNOWN = 0, FT_BLOCK_DEVICE = 1, FT_CHARACTER_DEVICE = 2,
  FT_DIRECTORY = 3, FT_REGULAR_FILE = 4, FT_SOCKET_DGRAM = 5,
  FT_SOCKET_STREAM = 6, FT_SYMBOLIC_LINK = 7,
};

/* rights */
#define R_FD_DATASYNC            (1ull << 0)
#define R_FD_READ                (1ull << 1)
#define R_FD_SEEK                (1ull << 2)
#define R_FD_FDSTAT_SET_FLAGS    (1ull << 3)
#define R_FD_SYNC                (1ull << 4)
#define R_FD_TELL                (1ull << 5)
#define R_FD_WRITE               (1ull << 6)
#define R_FD_ADVISE              (1ull << 7)
#define R_FD_ALLOCATE            (1ull << 8)
#define R_FD_READDIR             (1ull << 14)
#define R_FD_FILESTAT_GET        (1ull << 21)
#define R_FD_FILESTAT_SET_SIZE   (1ull << 22)
#define R_FD_FILESTAT_SET_TIMES  (1ull << 23)
#define R_POLL_FD_READWRITE      (1ull << 27)
#define R_ALL                    ((1ull << 30) - 1)

#define R_FILE (R_FD_DATASYNC | R_FD_READ | R_FD_SEEK | R_FD_FDSTAT_SET_FLAGS | \
                R_FD_SYNC | R_FD_TELL | R_FD_WRITE | R_FD_ADVISE |             \
                R_FD_ALLOCATE | R_FD_FILESTAT_GET | R_FD_FILESTAT_SET_SIZE |   \
                R_FD_FILESTAT_SET_TIMES | R_POLL_FD_READWRITE)
/* A directory: everything that is not file I/O (path_*, readdir, ...). */
#define R_DIR (R_ALL & ~(R_FD_READ | R_FD_SEEK | R_FD_TELL | R_FD_WRITE |     \
                         R_FD_ALLOCATE | R_FD_FILESTAT_SET_SIZE |              \
                         R_FD_DATASYNC | R_POLL_FD_READWRITE))
/* A tty, pipe or socket: file rights without seek/tell (wasi-libc's
 * isatty() looks for exactly that on a character device). */
#define R_STREAM (R_FILE & ~(R_FD_SEEK | R_FD_TELL))

enum { FDFLAG_APPEND = 1, FDFLAG_DSYNC = 2, FDFLAG_NONBLOCK = 4,
       FDFLAG_RSYNC = 8, FDFLAG_SYNC = 16 };
enum { OFLAG_CREAT = 1, OFLAG_DIRECTORY = 2, OFLAG_EXCL = 4, OFLAG_TRUNC = 8 };
enum { LOOKUP_SYMLINK_FOLLOW = 1 };
enum { FST_ATIM = 1, FST_ATIM_NOW = 2, FST_MTIM = 4, FST_MTIM_NOW = 8 };
enum { CLOCK_ID_REALTIME = 0, CLOCK_ID_MONOTONIC = 1,
       CLOCK_ID_PROCESS_CPUTIME = 2, CLOCK_ID_THREAD_CPUTIME = 3 };
enum { EVENT_CLOCK = 0, EVENT_FD_READ = 1, EVENT_FD_WRITE = 2 };
enum { SUBCLOCK_ABSTIME = 1, EVENTRW_HANGUP = 1 };

/* Bounds on what one guest call can make the host hold. */
#define MAX_FDS 1024          /* guest fd table size */
#define MAX_IOVS 256          /* iovecs used per call; the rest is a short I/O */
#define MAX_PATH 4096         /* bytes in a guest path, NUL excluded */
#define MAX_SUBS 4096         /* poll_oneoff subscriptions */

/* ---- state ------------------------------------------------------------- */

typedef struct fd_entry {
  int host;             /* host fd; -1 marks a free slot */
  uint8_t type;         /* WASI filetype at open time */
  bool borrowed;        /* an embedder's stdio fd: never closed here */
  uint64_t rights, inheriting;
  char *preopen;        /* a preopen's guest path (owned), else NULL */
} fd_entry_t;

typedef struct call {
  wh_wasi_t *w;
  wh_caller_t *caller;
  bool deadline_hit;    /* a wait ran into the exec's deadline: trap */
  uint8_t *mem;         /* the caller's linear memory, fetched per call */
  uint64_t size;
} call_t;

typedef uint32_t (*impl_fn)(call_t *k, const uint64_t *s);

typedef struct wasi_fn {
  const char *name, *params;
  impl_fn impl;
} wasi_fn_t;

typedef struct binding {
  wh_wasi_t *w;
  const wasi_fn_t *fn;
} binding_t;

#define NFNS 45   /* rows of wasi_fns, checked below it */

struct wh_wasi {
  char *args;           /* argc NUL-terminated strings, back to back */
  size_t argc, args_bytes;
  char *env;            /* likewise for the environment */
  size_t envc, env_bytes;
  fd_entry_t *fds;
  uint32_t nfds;        /* slots allocated in fds */
  bool portable;        /* openat2 unusable: walk paths by hand */
  bool exited;
  int exit_status;
  binding_t bind[NFNS];
};

/* ---- helpers ----------------------------------------------------------- */

static uint32_t map_errno(int e)
{
  switch (e) {
  case 0: return WASI_ESUCCESS;
#define ERRNO_CASE(name, value) case name: return WASI_##name;
  WASI_ERRNO_MAP(ERRNO_CASE)
#undef ERRNO_CASE
  default: return WASI_EIO;
  }
}

/* Errno of a failed path resolution: leaving the directory is EXDEV from
 * openat2 and from wh_fs_open_beneath, and is ENOTCAPABLE to the guest. */
static uint32_t resolve_errno(int e)
{
  return e == EXDEV ? WASI_ENOTCAPABLE : map_errno(e);
}

static bool in_mem(const call_t *k, uint32_t ptr, uint64_t len)
{
  return k->mem != NULL && (uint64_t)ptr + len <= k->size;
}

static uint32_t ld32(const call_t *k, uint64_t p)
{
  uint32_t v;
  memcpy(&v, k->mem + p, 4);
  return v;
}

static uint64_t ld64(const call_t *k, uint64_t p)
{
  uint64_t v;
  memcpy(&v, k->mem + p, 8);
  return v;
}

static void st8(call_t *k, uint64_t p, uint8_t v) { k->mem[p] = v; }
static void st16(call_t *k, uint64_t p, uint16_t v) { memcpy(k->mem + p, &v, 2); }
static void st32(call_t *k, uint64_t p, uint32_t v) { memcpy(k->mem + p, &v, 4); }
static void st64(call_t *k, uint64_t p, uint64_t v) { memcpy(k->mem + p, &v, 8); }

static uint8_t filetype_of(const struct stat *st, int fd)
{
  switch (st->st_mode & S_IFMT) {
  case S_IFREG: return FT_REGULAR_FILE;
  case S_IFDIR: return FT_DIRECTORY;
  case S_IFCHR: return FT_CHARACTER_DEVICE;
  case S_IFBLK: return FT_BLOCK_DEVICE;
  case S_IFLNK: return FT_SYMBOLIC_LINK;
  case S_IFSOCK: {
    int type = 0;
    socklen_t len = sizeof type;
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
        type == SOCK_DGRAM)
      return FT_SOCKET_DGRAM;
    return FT_SOCKET_STREAM;
  }
  default: return FT_UNKNOWN;
  }
}

static uint64_t rights_for(uint8_t type)
{
  switch (type) {
  case FT_DIRECTORY: return R_DIR;
  case FT_REGULAR_FILE:
  case FT_BLOCK_DEVICE: return R_FILE;
  default: return R_STREAM;
  }
}

static uint64_t ts_ns(const struct timespec *ts)
{
  return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static void put_filestat(call_t *k, uint32_t p, const struct stat *st,
                         uint8_t type)
{
  memset(k->mem + p, 0, 64);
  st64(k, p + 0, (uint64_t)st->st_dev);
  st64(k, p + 8, (uint64_t)st->st_ino);
  st8(k, p + 16, type);
  st64(k, p + 24, (uint64_t)st->st_nlink);
  st64(k, p + 32, (uint64_t)st->st_size);
  st64(k, p + 40, ts_ns(&st->st_atim));
  st64(k, p + 48, ts_ns(&st->st_mtim));
  st64(k, p + 56, ts_ns(&st->st_ctim));
}

static uint32_t get_fd(call_t *k, uint32_t fd, fd_entry_t **out)
{
  if (fd >= k->w->nfds || k->w->fds[fd].host < 0)
    return WASI_EBADF;
  *out = &k->w->fds[fd];
  return WASI_ESUCCESS;
}

static uint32_t get_dir(call_t *k, uint32_t fd, fd_entry_t **out)
{
  uint32_t e = get_fd(k, fd, out);
  if (e == WASI_ESUCCESS && (*out)->type != FT_DIRECTORY)
    e = WASI_ENOTDIR;
  return e;
}

static void entry_close(fd_entry_t *f)
{
  if (f->host >= 0 && !f->borrowed)
    close(f->host);
  free(f->preopen);
  memset(f, 0, sizeof *f);
  f->host = -1;
}

/* Grows the fd table to at least `n` slots (capped at MAX_FDS). */
static bool fd_reserve(wh_wasi_t *w, uint32_t n)
{
  uint32_t cap = w->nfds ? w->nfds : 8;
  fd_entry_t *fds;
  if (n <= w->nfds)
    return true;
  while (cap < n)
    cap *= 2;
  if (cap > MAX_FDS)
    cap = MAX_FDS;
  if (n > cap)
    return false;
  fds = realloc(w->fds, cap * sizeof *fds);
  if (fds == NULL)
    return false;
  for (uint32_t j = w->nfds; j < cap; j++) {
    memset(&fds[j], 0, sizeof fds[j]);
    fds[j].host = -1;
  }
  w->fds = fds;
  w->nfds = cap;
  return true;
}

/* Puts `host` in guest slot `i`, which must be free. */
static void fd_place(wh_wasi_t *w, uint32_t i, int host, uint8_t type,
                   uint64_t rights, uint64_t inheriting, bool borrowed)
{
  fd_entry_t *f = &w->fds[i];
  memset(f, 0, sizeof *f);
  f->host = host;
  f->type = type;
  f->borrowed = borrowed;
  f->rights = rights;
  f->inheriting = inheriting;
}

/* Puts `host` in the lowest free guest slot (POSIX's rule); returns the
 * guest fd, or -1 when the table is full (the caller still owns `host`). */
static int fd_insert(wh_wasi_t *w, int host, uint8_t type, uint64_t rights,
                     uint64_t inheriting)
{
  uint32_t i;
  for (i = 0; i < w->nfds && w->fds[i].host >= 0; i++)
    ;
  if (!fd_reserve(w, i + 1))
    return -1;
  fd_place(w, i, host, type, rights, inheriting, false);
  return (int)i;
}

/* Copies guest path [ptr, ptr+len) into `buf` (MAX_PATH + 1 bytes) as a
 * C string.  Absolute paths are refused: there is no root to be under. */
static uint32_t get_path(call_t *k, uint32_t ptr, uint32_t len, char *buf)
{
  if (!in_mem(k, ptr, len))
    return WASI_EFAULT;
  if (len > MAX_PATH)
    return WASI_ENAMETOOLONG;
  memcpy(buf, k->mem + ptr, len);
  buf[len] = '\0';
  if (memchr(buf, '\0', len) != NULL)
    return WASI_EINVAL;
  if (buf[0] == '/')
    return WASI_ENOTCAPABLE;
  return WASI_ESUCCESS;
}

/* Collects guest iovecs as host iovecs into `iov`.  The whole array must
 * lie in memory, but only the first MAX_IOVS are used (a short read or
 * write, which callers must handle anyway). */
static uint32_t get_iovs(call_t *k, uint32_t iovs, uint32_t n,
                         struct iovec *iov, int *count)
{
  if (!in_mem(k, iovs, (uint64_t)n * 8))
    return WASI_EFAULT;
  if (n > MAX_IOVS)
    n = MAX_IOVS;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t p = ld32(k, (uint64_t)iovs + 8 * i);
    uint32_t len = ld32(k, (uint64_t)iovs + 8 * i + 4);
    if (!in_mem(k, p, len))
      return WASI_EFAULT;
    iov[i].iov_base = k->mem + p;
    iov[i].iov_len = len;
  }
  *count = (int)n;
  return WASI_ESUCCESS;
}

/* ---- path resolution --------------------------------------------------- */

/* Opens `path` beneath directory fd `root` with open(2) `flags` (add
 * O_NOFOLLOW to leave a final symlink unfollowed).  Returns fd or -errno;
 * -EXDEV means the path would leave `root`. */
static int beneath_open(wh_wasi_t *w, int root, const char *path, int flags,
                        mode_t mode)
{
  return wh_fs_open_beneath(root, path, flags, mode, &w->portable);
}

/*
 * For operations on a name: opens the directory that holds the last
 * component of `path` (beneath `root`, O_PATH) into *pfd and copies that
 * component (with a trailing slash, if the path had one) into `last`
 * (MAX_PATH + 1 bytes).  If the last component is "." or "..", which no
 * *at() call should be handed, *pfd is the directory the whole path
 * names and *dot is set, so the caller can answer as POSIX would.
 */
static uint32_t parent_open(wh_wasi_t *w, int root, const char *path,
                            int *pfd, char *last, bool *dot)
{
  char dir[MAX_PATH + 1];
  size_t len = strlen(path), end, start;
  bool trailing = false;
  int fd;

  *pfd = -1;
  *dot = false;
  if (len == 0)
    return WASI_ENOENT;
  end = len;
  while (end > 0 && path[end - 1] == '/') {
    end--;
    trailing = true;
  }
  if (end == 0)
    return WASI_ENOTCAPABLE; /* "/" after all */
  start = end;
  while (start > 0 && path[start - 1] != '/')
    start--;
  memcpy(last, path + start, end - start);
  last[end - start] = '\0';
  if (wh_fs_is_dot(last) || wh_fs_is_dotdot(last)) {
    fd = beneath_open(w, root, path, O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
      return resolve_errno(-fd);
    *pfd = fd;
    *dot = true;
    return WASI_ESUCCESS;
  }
  if (trailing)
    strcat(last, "/");
  if (start == 0) {
    dir[0] = '.';
    dir[1] = '\0';
  } else {
    memcpy(dir, path, start);
    dir[start] = '\0';
  }
  fd = beneath_open(w, root, dir, O_PATH | O_DIRECTORY, 0);
  if (fd < 0)
    return resolve_errno(-fd);
  *pfd = fd;
  return WASI_ESUCCESS;
}

/* ---- args, environ ----------------------------------------------------- */

static uint32_t strings_get(call_t *k, const char *strs, size_t count,
                            size_t bytes, uint32_t ptrs, uint32_t buf)
{
  if (!in_mem(k, ptrs, (uint64_t)count * 4) || !in_mem(k, buf, bytes))
    return WASI_EFAULT;
  memcpy(k->mem + buf, strs, bytes);
  for (size_t i = 0, off = 0; i < count; i++) {
    st32(k, (uint64_t)ptrs + 4 * i, buf + (uint32_t)off);
    off += strlen(strs + off) + 1;
  }
  return WASI_ESUCCESS;
}

static uint32_t sizes_get(call_t *k, size_t count, size_t bytes,
                          uint32_t count_ptr, uint32_t bytes_ptr)
{
  if (!in_mem(k, count_ptr, 4) || !in_mem(k, bytes_ptr, 4))
    return WASI_EFAULT;
  st32(k, count_ptr, (uint32_t)count);
  st32(k, bytes_ptr, (uint32_t)bytes);
  return WASI_ESUCCESS;
}

static uint32_t p1_args_get(call_t *k, const uint64_t *s)
{
  wh_wasi_t *w = k->w;
  return strings_get(k, w->args, w->argc, w->args_bytes, (uint32_t)s[0],
                     (uint32_t)s[1]);
}

static uint32_t p1_args_sizes_get(call_t *k, const uint64_t *s)
{
  return sizes_get(k, k->w->argc, k->w->args_bytes, (uint32_t)s[0],
                   (uint32_t)s[1]);
}

static uint32_t p1_environ_get(call_t *k, const uint64_t *s)
{
  wh_wasi_t *w = k->w;
  return strings_get(k, w->env, w->envc, w->env_bytes, (uint32_t)s[0],
                     (uint32_t)s[1]);
}

static uint32_t p1_environ_sizes_get(call_t *k, const uint64_t *s)
{
  return sizes_get(k, k->w->envc, k->w->env_bytes, (uint32_t)s[0],
                   (uint32_t)s[1]);
}

/* ---- clocks, random, scheduling ---------------------------------------- */

static bool host_clock(uint32_t id, clockid_t *out)
{
  switch (id) {
  case CLOCK_ID_REALTIME: *out = CLOCK_REALTIME; return true;
  case CLOCK_ID_MONOTONIC: *out = CLOCK_MONOTONIC; return true;
  case CLOCK_ID_PROCESS_CPUTIME: *out = CLOCK_PROCESS_CPUTIME_ID; return true;
  case CLOCK_ID_THREAD_CPUTIME: *out = CLOCK_THREAD_CPUTIME_ID; return true;
  default: return false;
  }
}

static uint32_t p1_clock_res_get(call_t *k, const uint64_t *s)
{
  clockid_t id;
  struct timespec ts;
  uint32_t out = (uint32_t)s[1];
  if (!host_clock((uint32_t)s[0], &id))
    return WASI_EINVAL;
  if (!in_mem(k, out, 8))
    return WASI_EFAULT;
  if (clock_getres(id, &ts) != 0)
    return map_errno(errno);
  st64(k, out, ts_ns(&ts));
  return WASI_ESUCCESS;
}

static uint32_t p1_clock_time_get(call_t *k, const uint64_t *s)
{
  clockid_t id;
  struct timespec ts;
  uint32_t out = (uint32_t)s[2];   /* s[1] is the precision: ignored */
  if (!host_clock((uint32_t)s[0], &id))
    return WASI_EINVAL;
  if (!in_mem(k, out, 8))
    return WASI_EFAULT;
  if (clock_gettime(id, &ts) != 0)
    return map_errno(errno);
  st64(k, out, ts_ns(&ts));
  return WASI_ESUCCESS;
}

static uint32_t p1_random_get(call_t *k, const uint64_t *s)
{
  uint32_t buf = (uint32_t)s[0], len = (uint32_t)s[1];
  if (!in_mem(k, buf, len))
    return WASI_EFAULT;
  while (len > 0) {
    int n = len > (1u << 20) ? (1 << 20) : (int)len;
    if (RAND_bytes(k->mem + buf, n) != 1)
      return WASI_EIO;
    buf += (uint32_t)n;
    len -= (uint32_t)n;
  }
  return WASI_ESUCCESS;
}

static uint32_t p1_sched_yield(call_t *k, const uint64_t *s)
{
  sched_yield();
  return WASI_ESUCCESS;
}

static uint32_t p1_proc_raise(call_t *k, const uint64_t *s)
{
  return WASI_ENOSYS;
}

static uint32_t p1_sock_notsup(call_t *k, const uint64_t *s)
{
  return WASI_ENOTSUP;
}

/* ---- fd I/O ------------------------------------------------------------ */

static uint32_t fd_rw(call_t *k, const uint64_t *s, bool write, bool at)
{
  struct iovec iov[MAX_IOVS];
  fd_entry_t *f;
  uint32_t fd = (uint32_t)s[0], iovs = (uint32_t)s[1], n = (uint32_t)s[2];
  uint64_t off = at ? s[3] : 0;
  uint32_t out = (uint32_t)s[at ? 4 : 3];
  int count = 0;
  ssize_t r;
  uint32_t e;

  if ((e = get_fd(k, fd, &f)) != WASI_ESUCCESS)
    return e;
  if ((e = get_iovs(k, iovs, n, iov, &count)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, out, 4))
    return WASI_EFAULT;
  if (f->type == FT_DIRECTORY)
    return WASI_EISDIR;
  if (at && off > INT64_MAX)
    return WASI_EINVAL;
  do {
    if (write)
      r = at ? pwritev(f->host, iov, count, (off_t)off)
             : writev(f->host, iov, count);
    else
      r = at ? preadv(f->host, iov, count, (off_t)off)
             : readv(f->host, iov, count);
  } while (r < 0 && errno == EINTR);
  if (r < 0)
    return map_errno(errno);
  st32(k, out, (uint32_t)r);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_read(call_t *k, const uint64_t *s) { return fd_rw(k, s, false, false); }
static uint32_t p1_fd_write(call_t *k, const uint64_t *s) { return fd_rw(k, s, true, false); }
static uint32_t p1_fd_pread(call_t *k, const uint64_t *s) { return fd_rw(k, s, false, true); }
static uint32_t p1_fd_pwrite(call_t *k, const uint64_t *s) { return fd_rw(k, s, true, true); }

static uint32_t p1_fd_seek(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t fd = (uint32_t)s[0], whence = (uint32_t)s[2], out = (uint32_t)s[3];
  int64_t off = (int64_t)s[1];
  int how;
  off_t r;
  uint32_t e;

  if ((e = get_fd(k, fd, &f)) != WASI_ESUCCESS)
    return e;
  switch (whence) {
  case 0: how = SEEK_SET; break;
  case 1: how = SEEK_CUR; break;
  case 2: how = SEEK_END; break;
  default: return WASI_EINVAL;
  }
  if (!in_mem(k, out, 8))
    return WASI_EFAULT;
  if (f->type == FT_DIRECTORY)
    return WASI_EBADF;
  r = lseek(f->host, (off_t)off, how);
  if (r < 0)
    return map_errno(errno);
  st64(k, out, (uint64_t)r);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_tell(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t out = (uint32_t)s[1];
  off_t r;
  uint32_t e;

  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, out, 8))
    return WASI_EFAULT;
  if (f->type == FT_DIRECTORY)
    return WASI_EBADF;
  r = lseek(f->host, 0, SEEK_CUR);
  if (r < 0)
    return map_errno(errno);
  st64(k, out, (uint64_t)r);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_close(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  entry_close(f);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_renumber(call_t *k, const uint64_t *s)
{
  fd_entry_t *from, *to;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &from)) != WASI_ESUCCESS ||
      (e = get_fd(k, (uint32_t)s[1], &to)) != WASI_ESUCCESS)
    return e;
  if (from == to)
    return WASI_ESUCCESS;
  entry_close(to);
  *to = *from;
  memset(from, 0, sizeof *from);
  from->host = -1;
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_fdstat_get(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  struct stat st;
  uint32_t out = (uint32_t)s[1];
  uint16_t flags = 0;
  uint8_t type;
  int fl;
  uint32_t e;

  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, out, 24))
    return WASI_EFAULT;
  if (fstat(f->host, &st) != 0)
    return map_errno(errno);
  type = filetype_of(&st, f->host);
  fl = fcntl(f->host, F_GETFL);
  if (fl < 0)
    return map_errno(errno);
  if (fl & O_APPEND)
    flags |= FDFLAG_APPEND;
  if (fl & O_NONBLOCK)
    flags |= FDFLAG_NONBLOCK;
  if ((fl & O_SYNC) == O_SYNC)
    flags |= FDFLAG_SYNC | FDFLAG_RSYNC;
  else if (fl & O_DSYNC)
    flags |= FDFLAG_DSYNC;
  memset(k->mem + out, 0, 24);
  st8(k, out, type);
  st16(k, out + 2, flags);
  st64(k, out + 8, f->rights & rights_for(type));
  st64(k, out + 16, f->inheriting);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_fdstat_set_flags(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t want = (uint32_t)s[1] & 0xffff;
  int fl, nfl;
  uint32_t e;

  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (want & ~(uint32_t)(FDFLAG_APPEND | FDFLAG_NONBLOCK))
    return WASI_ENOTSUP;   /* Linux cannot change the sync flags later */
  fl = fcntl(f->host, F_GETFL);
  if (fl < 0)
    return map_errno(errno);
  nfl = fl & ~(O_APPEND | O_NONBLOCK);
  if (want & FDFLAG_APPEND)
    nfl |= O_APPEND;
  if (want & FDFLAG_NONBLOCK)
    nfl |= O_NONBLOCK;
  if (nfl == fl)
    return WASI_ESUCCESS;
  /* A borrowed fd shares its open file description with the embedder
   * (a terminal, the daemon's pipe): the guest may not change it. */
  if (f->borrowed)
    return WASI_ENOTSUP;
  if (fcntl(f->host, F_SETFL, nfl) != 0)
    return map_errno(errno);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_fdstat_set_rights(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  /* Rights may only shrink. */
  if ((s[1] & ~f->rights) || (s[2] & ~f->inheriting))
    return WASI_ENOTCAPABLE;
  f->rights = s[1];
  f->inheriting = s[2];
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_filestat_get(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  struct stat st;
  uint32_t out = (uint32_t)s[1];
  uint32_t e;

  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, out, 64))
    return WASI_EFAULT;
  if (fstat(f->host, &st) != 0)
    return map_errno(errno);
  put_filestat(k, out, &st, filetype_of(&st, f->host));
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_filestat_set_size(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (s[1] > INT64_MAX)
    return WASI_EINVAL;
  if (ftruncate(f->host, (off_t)s[1]) != 0)
    return map_errno(errno);
  return WASI_ESUCCESS;
}

/* Builds utimensat() times from WASI timestamps and fstflags. */
static uint32_t make_times(uint64_t atim, uint64_t mtim, uint32_t fst,
                           struct timespec ts[2])
{
  if (fst & ~(uint32_t)0xf)
    return WASI_EINVAL;
  if (((fst & FST_ATIM) && (fst & FST_ATIM_NOW)) ||
      ((fst & FST_MTIM) && (fst & FST_MTIM_NOW)))
    return WASI_EINVAL;
  for (int i = 0; i < 2; i++) {
    uint32_t set = i == 0 ? FST_ATIM : FST_MTIM;
    uint32_t now = i == 0 ? FST_ATIM_NOW : FST_MTIM_NOW;
    uint64_t t = i == 0 ? atim : mtim;
    if (fst & now) {
      ts[i].tv_sec = 0;
      ts[i].tv_nsec = UTIME_NOW;
    } else if (fst & set) {
      ts[i].tv_sec = (time_t)(t / 1000000000ull);
      ts[i].tv_nsec = (long)(t % 1000000000ull);
    } else {
      ts[i].tv_sec = 0;
      ts[i].tv_nsec = UTIME_OMIT;
    }
  }
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_filestat_set_times(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  struct timespec ts[2];
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if ((e = make_times(s[1], s[2], (uint32_t)s[3], ts)) != WASI_ESUCCESS)
    return e;
  if (futimens(f->host, ts) != 0)
    return map_errno(errno);
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_sync(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  return fsync(f->host) == 0 ? WASI_ESUCCESS : map_errno(errno);
}

static uint32_t p1_fd_datasync(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  return fdatasync(f->host) == 0 ? WASI_ESUCCESS : map_errno(errno);
}

static uint32_t p1_fd_advise(call_t *k, const uint64_t *s)
{
  static const int advice[] = {
    POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
    POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE,
  };
  fd_entry_t *f;
  uint32_t a = (uint32_t)s[3];
  uint32_t e;
  int r;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (a >= sizeof advice / sizeof advice[0] || s[1] > INT64_MAX ||
      s[2] > INT64_MAX)
    return WASI_EINVAL;
  if (f->type == FT_DIRECTORY)
    return WASI_EBADF;
  r = posix_fadvise(f->host, (off_t)s[1], (off_t)s[2], advice[a]);
  return r == 0 ? WASI_ESUCCESS : map_errno(r);
}

static uint32_t p1_fd_allocate(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t e;
  int r;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (s[1] > INT64_MAX || s[2] > INT64_MAX || s[2] == 0)
    return WASI_EINVAL;
  if (f->type == FT_DIRECTORY)
    return WASI_EBADF;
  r = posix_fallocate(f->host, (off_t)s[1], (off_t)s[2]);
  return r == 0 ? WASI_ESUCCESS : map_errno(r);
}

static uint32_t p1_fd_prestat_get(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t out = (uint32_t)s[1];
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (f->preopen == NULL)
    return WASI_EBADF;
  if (!in_mem(k, out, 8))
    return WASI_EFAULT;
  memset(k->mem + out, 0, 8);
  st32(k, out + 4, (uint32_t)strlen(f->preopen));
  return WASI_ESUCCESS;
}

static uint32_t p1_fd_prestat_dir_name(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t buf = (uint32_t)s[1], len = (uint32_t)s[2];
  size_t n;
  uint32_t e;
  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (f->preopen == NULL)
    return WASI_EBADF;
  if (!in_mem(k, buf, len))
    return WASI_EFAULT;
  n = strlen(f->preopen);
  if (len < n)
    return WASI_ENAMETOOLONG;
  memcpy(k->mem + buf, f->preopen, n);
  return WASI_ESUCCESS;
}

static uint8_t dtype_to_filetype(unsigned char t)
{
  switch (t) {
  case DT_REG: return FT_REGULAR_FILE;
  case DT_DIR: return FT_DIRECTORY;
  case DT_CHR: return FT_CHARACTER_DEVICE;
  case DT_BLK: return FT_BLOCK_DEVICE;
  case DT_LNK: return FT_SYMBOLIC_LINK;
  case DT_SOCK: return FT_SOCKET_STREAM;
  default: return FT_UNKNOWN;
  }
}

/* Entries are written back to back until the guest buffer is full; the
 * last one may be cut short, and the guest then knows (bufused ==
 * buf_len) to come back with that entry's cookie.  Cookies are the
 * kernel's directory offsets (d_off), so any cookie can be sought to. */
static uint32_t p1_fd_readdir(call_t *k, const uint64_t *s)
{
  fd_entry_t *f;
  uint32_t buf = (uint32_t)s[1], len = (uint32_t)s[2];
  uint64_t cookie = s[3];
  uint32_t out = (uint32_t)s[4];
  uint32_t used = 0;
  char dents[4096];
  uint32_t e;

  if ((e = get_fd(k, (uint32_t)s[0], &f)) != WASI_ESUCCESS)
    return e;
  if (f->type != FT_DIRECTORY)
    return WASI_ENOTDIR;
  if (!in_mem(k, buf, len) || !in_mem(k, out, 4))
    return WASI_EFAULT;
  if (cookie > INT64_MAX)
    return WASI_EINVAL;
  if (lseek(f->host, (off_t)cookie, SEEK_SET) < 0)
    return map_errno(errno);
  while (used < len) {
    ssize_t n = getdents64(f->host, dents, sizeof dents);
    if (n < 0)
      return map_errno(errno);
    if (n == 0)
      break;
    for (ssize_t off = 0; off < n && used < len;) {
      struct dirent64 *d = (struct dirent64 *)(dents + off);
      uint8_t hdr[24];
      uint32_t namlen = (uint32_t)strlen(d->d_name), take;
      uint8_t type = dtype_to_filetype(d->d_type);
      uint64_t next = (uint64_t)d->d_off, ino = (uint64_t)d->d_ino;

      off += d->d_reclen;
      if (d->d_type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(f->host, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
          type = filetype_of(&st, -1);
      }
      memset(hdr, 0, sizeof hdr);
      memcpy(hdr, &next, 8);
      memcpy(hdr + 8, &ino, 8);
      memcpy(hdr + 16, &namlen, 4);
      hdr[20] = type;
      take = len - used < sizeof hdr ? len - used : (uint32_t)sizeof hdr;
      memcpy(k->mem + buf + used, hdr, take);
      used += take;
      take = len - used < namlen ? len - used : namlen;
      memcpy(k->mem + buf + used, d->d_name, take);
      used += take;
    }
  }
  st32(k, out, used);
  return WASI_ESUCCESS;
}

/* ---- paths ------------------------------------------------------------- */

static uint32_t p1_path_open(call_t *k, const uint64_t *s)
{
  fd_entry_t *dir;
  char path[MAX_PATH + 1];
  uint32_t dirflags = (uint32_t)s[1], oflags = (uint32_t)s[4];
  uint64_t base = s[5], inheriting = s[6];
  uint32_t fdflags = (uint32_t)s[7], out = (uint32_t)s[8];
  int flags = O_NOCTTY, host = -1, guest;
  struct stat st;
  uint8_t type;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[2], (uint32_t)s[3], path)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, out, 4))
    return WASI_EFAULT;
  if (oflags & ~(uint32_t)0xf)
    return WASI_EINVAL;
  if (oflags & OFLAG_DIRECTORY) {
    flags |= O_DIRECTORY | O_RDONLY;
  } else {
    bool rd = base & (R_FD_READ | R_FD_READDIR);
    bool wr = (base & (R_FD_WRITE | R_FD_DATASYNC | R_FD_ALLOCATE |
                       R_FD_FILESTAT_SET_SIZE)) || (oflags & OFLAG_TRUNC);
    flags |= wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY;
  }
  if (oflags & OFLAG_CREAT)
    flags |= O_CREAT;
  if (oflags & OFLAG_EXCL)
    flags |= O_EXCL;
  if (oflags & OFLAG_TRUNC)
    flags |= O_TRUNC;
  if (fdflags & FDFLAG_APPEND)
    flags |= O_APPEND;
  if (fdflags & FDFLAG_DSYNC)
    flags |= O_DSYNC;
  if (fdflags & FDFLAG_NONBLOCK)
    flags |= O_NONBLOCK;
  if (fdflags & (FDFLAG_SYNC | FDFLAG_RSYNC))
    flags |= O_SYNC;
  if (!(dirflags & LOOKUP_SYMLINK_FOLLOW))
    flags |= O_NOFOLLOW;

  host = beneath_open(k->w, dir->host, path, flags, 0666);
  if (host < 0)
    return resolve_errno(-host);
  if (fstat(host, &st) != 0) {
    e = map_errno(errno);
    goto fail;
  }
  type = filetype_of(&st, host);
  guest = fd_insert(k->w, host, type, base & rights_for(type),
                    inheriting & R_ALL);
  if (guest < 0) {
    e = WASI_EMFILE;
    goto fail;
  }
  st32(k, out, (uint32_t)guest);
  return WASI_ESUCCESS;

fail:
  close(host);
  return e;
}

static uint32_t p1_path_filestat_get(call_t *k, const uint64_t *s)
{
  fd_entry_t *dir;
  char path[MAX_PATH + 1];
  uint32_t flags = (uint32_t)s[1], out = (uint32_t)s[4];
  struct stat st;
  int fd;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[2], (uint32_t)s[3], path)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, out, 64))
    return WASI_EFAULT;
  fd = beneath_open(k->w, dir->host, path,
                    O_PATH | ((flags & LOOKUP_SYMLINK_FOLLOW) ? 0 : O_NOFOLLOW),
                    0);
  if (fd < 0)
    return resolve_errno(-fd);
  if (fstat(fd, &st) != 0)
    e = map_errno(errno);
  else
    put_filestat(k, out, &st, filetype_of(&st, -1));
  close(fd);
  return e;
}

static uint32_t p1_path_filestat_set_times(call_t *k, const uint64_t *s)
{
  fd_entry_t *dir;
  char path[MAX_PATH + 1], last[MAX_PATH + 1];
  uint32_t flags = (uint32_t)s[1];
  struct timespec ts[2];
  int fd = -1;
  bool dot;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[2], (uint32_t)s[3], path)) != WASI_ESUCCESS)
    return e;
  if ((e = make_times(s[4], s[5], (uint32_t)s[6], ts)) != WASI_ESUCCESS)
    return e;
  if ((flags & LOOKUP_SYMLINK_FOLLOW)) {
    /* Resolve beneath, then reach the inode through its /proc magic
     * link: utimensat() cannot take an O_PATH fd directly. */
    char proc[64];
    fd = beneath_open(k->w, dir->host, path, O_PATH, 0);
    if (fd < 0)
      return resolve_errno(-fd);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (utimensat(AT_FDCWD, proc, ts, 0) != 0)
      e = map_errno(errno);
    goto done;
  }
  if ((e = parent_open(k->w, dir->host, path, &fd, last, &dot)) != WASI_ESUCCESS)
    return e;
  if (utimensat(fd, dot ? "." : last, ts, AT_SYMLINK_NOFOLLOW) != 0)
    e = map_errno(errno);
done:
  close(fd);
  return e;
}

static uint32_t p1_path_create_directory(call_t *k, const uint64_t *s)
{
  fd_entry_t *dir;
  char path[MAX_PATH + 1], last[MAX_PATH + 1];
  int pfd;
  bool dot;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[1], (uint32_t)s[2], path)) != WASI_ESUCCESS)
    return e;
  if ((e = parent_open(k->w, dir->host, path, &pfd, last, &dot)) != WASI_ESUCCESS)
    return e;
  if (dot)
    e = WASI_EEXIST;
  else if (mkdirat(pfd, last, 0777) != 0)
    e = map_errno(errno);
  close(pfd);
  return e;
}

static uint32_t unlink_common(call_t *k, const uint64_t *s, bool rmdir)
{
  fd_entry_t *dir;
  char path[MAX_PATH + 1], last[MAX_PATH + 1];
  int pfd;
  bool dot;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[1], (uint32_t)s[2], path)) != WASI_ESUCCESS)
    return e;
  if ((e = parent_open(k->w, dir->host, path, &pfd, last, &dot)) != WASI_ESUCCESS)
    return e;
  if (dot)
    e = !rmdir ? WASI_EISDIR : wh_fs_is_dot(last) ? WASI_EINVAL : WASI_ENOTEMPTY;
  else if (unlinkat(pfd, last, rmdir ? AT_REMOVEDIR : 0) != 0)
    e = map_errno(errno);
  close(pfd);
  return e;
}

static uint32_t p1_path_unlink_file(call_t *k, const uint64_t *s)
{
  return unlink_common(k, s, false);
}

static uint32_t p1_path_remove_directory(call_t *k, const uint64_t *s)
{
  return unlink_common(k, s, true);
}

static uint32_t p1_path_rename(call_t *k, const uint64_t *s)
{
  fd_entry_t *d1, *d2;
  char p1[MAX_PATH + 1], l1[MAX_PATH + 1], p2[MAX_PATH + 1], l2[MAX_PATH + 1];
  int f1 = -1, f2 = -1;
  bool dot1 = false, dot2 = false;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &d1)) != WASI_ESUCCESS ||
      (e = get_dir(k, (uint32_t)s[3], &d2)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[1], (uint32_t)s[2], p1)) != WASI_ESUCCESS ||
      (e = get_path(k, (uint32_t)s[4], (uint32_t)s[5], p2)) != WASI_ESUCCESS)
    return e;
  if ((e = parent_open(k->w, d1->host, p1, &f1, l1, &dot1)) != WASI_ESUCCESS)
    goto fail;
  if ((e = parent_open(k->w, d2->host, p2, &f2, l2, &dot2)) != WASI_ESUCCESS)
    goto fail;
  if (dot1 || dot2)
    e = WASI_EBUSY;
  else if (renameat(f1, l1, f2, l2) != 0)
    e = map_errno(errno);
fail:
  if (f1 >= 0)
    close(f1);
  if (f2 >= 0)
    close(f2);
  return e;
}

static uint32_t p1_path_link(call_t *k, const uint64_t *s)
{
  fd_entry_t *d1, *d2;
  char p1[MAX_PATH + 1], l1[MAX_PATH + 1], p2[MAX_PATH + 1], l2[MAX_PATH + 1];
  uint32_t flags = (uint32_t)s[1];
  int f1 = -1, f2 = -1;
  bool dot1 = false, dot2 = false;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &d1)) != WASI_ESUCCESS ||
      (e = get_dir(k, (uint32_t)s[4], &d2)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[2], (uint32_t)s[3], p1)) != WASI_ESUCCESS ||
      (e = get_path(k, (uint32_t)s[5], (uint32_t)s[6], p2)) != WASI_ESUCCESS)
    return e;
  if ((e = parent_open(k->w, d2->host, p2, &f2, l2, &dot2)) != WASI_ESUCCESS)
    goto fail;
  if (dot2) {
    e = WASI_EEXIST;
    goto fail;
  }
  if (flags & LOOKUP_SYMLINK_FOLLOW) {
    /* Link the inode the path resolves to (beneath), via /proc. */
    char proc[64];
    f1 = beneath_open(k->w, d1->host, p1, O_PATH, 0);
    if (f1 < 0) {
      e = resolve_errno(-f1);
      goto fail;
    }
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f1);
    if (linkat(AT_FDCWD, proc, f2, l2, AT_SYMLINK_FOLLOW) != 0)
      e = map_errno(errno);
    goto fail;
  }
  if ((e = parent_open(k->w, d1->host, p1, &f1, l1, &dot1)) != WASI_ESUCCESS)
    goto fail;
  if (dot1)
    e = WASI_EPERM;   /* linking a directory */
  else if (linkat(f1, l1, f2, l2, 0) != 0)
    e = map_errno(errno);
fail:
  if (f1 >= 0)
    close(f1);
  if (f2 >= 0)
    close(f2);
  return e;
}

static uint32_t p1_path_readlink(call_t *k, const uint64_t *s)
{
  fd_entry_t *dir;
  char path[MAX_PATH + 1], last[MAX_PATH + 1], target[MAX_PATH + 1];
  uint32_t buf = (uint32_t)s[3], len = (uint32_t)s[4], out = (uint32_t)s[5];
  int pfd;
  bool dot;
  ssize_t n;
  uint32_t e;

  if ((e = get_dir(k, (uint32_t)s[0], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[1], (uint32_t)s[2], path)) != WASI_ESUCCESS)
    return e;
  if (!in_mem(k, buf, len) || !in_mem(k, out, 4))
    return WASI_EFAULT;
  if ((e = parent_open(k->w, dir->host, path, &pfd, last, &dot)) != WASI_ESUCCESS)
    return e;
  if (dot) {
    e = WASI_EINVAL;
    goto done;
  }
  n = readlinkat(pfd, last, target, sizeof target);
  if (n < 0) {
    e = map_errno(errno);
    goto done;
  }
  if ((uint64_t)n > len)
    n = (ssize_t)len;   /* truncated, as readlink(2) does */
  memcpy(k->mem + buf, target, (size_t)n);
  st32(k, out, (uint32_t)n);
done:
  close(pfd);
  return e;
}

static uint32_t p1_path_symlink(call_t *k, const uint64_t *s)
{
  fd_entry_t *dir;
  char target[MAX_PATH + 1], path[MAX_PATH + 1], last[MAX_PATH + 1];
  int pfd;
  bool dot;
  uint32_t e;

  /* An absolute target is refused by get_path too: it could never be
   * followed beneath a preopen anyway. */
  if ((e = get_path(k, (uint32_t)s[0], (uint32_t)s[1], target)) != WASI_ESUCCESS)
    return e;
  if ((e = get_dir(k, (uint32_t)s[2], &dir)) != WASI_ESUCCESS)
    return e;
  if ((e = get_path(k, (uint32_t)s[3], (uint32_t)s[4], path)) != WASI_ESUCCESS)
    return e;
  if ((e = parent_open(k->w, dir->host, path, &pfd, last, &dot)) != WASI_ESUCCESS)
    return e;
  if (dot)
    e = WASI_EEXIST;
  else if (symlinkat(target, pfd, last) != 0)
    e = map_errno(errno);
  close(pfd);
  return e;
}

/* ---- poll_oneoff --------------------------------------------------------- */

static uint64_t mono_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts_ns(&ts);
}

/* One poll_oneoff subscription, as read from the guest before any event
 * is written (the guest may overlap its in and out arrays). */
typedef struct sub {
  uint64_t userdata;
  uint64_t deadline;    /* monotonic ns for a clock; UINT64_MAX otherwise */
  uint32_t fd;          /* guest fd of an fd subscription */
  int32_t pidx;         /* index into the pollfd array, or -1 */
  uint16_t err;         /* an error to report at once */
  uint8_t tag;
} sub_t;

/*
 * Clock subscriptions (realtime or monotonic, relative or absolute)
 * become one monotonic deadline each; fd subscriptions on pipes, ttys
 * and sockets go to ppoll(), while regular files and directories are
 * always ready.  Blocks until at least one subscription has an event.
 */
static uint32_t p1_poll_oneoff(call_t *k, const uint64_t *s)
{
  uint32_t in = (uint32_t)s[0], out = (uint32_t)s[1], n = (uint32_t)s[2];
  uint32_t nout = (uint32_t)s[3];
  struct pollfd *pfds = NULL;
  sub_t *subs = NULL;
  uint32_t npfd = 0, nev = 0;
  uint64_t first = UINT64_MAX, now;
  bool ready_now = false;
  uint32_t e = WASI_ESUCCESS;

  if (n == 0)
    return WASI_EINVAL;
  if (!in_mem(k, in, (uint64_t)n * 48) || !in_mem(k, out, (uint64_t)n * 32) ||
      !in_mem(k, nout, 4))
    return WASI_EFAULT;
  if (n > MAX_SUBS)
    return WASI_ENOTSUP;
  pfds = calloc(n, sizeof *pfds);
  subs = calloc(n, sizeof *subs);
  if (pfds == NULL || subs == NULL) {
    e = WASI_ENOMEM;
    goto fail;
  }

  now = mono_now();
  for (uint32_t i = 0; i < n; i++) {
    uint64_t p = (uint64_t)in + 48ull * i;
    sub_t *u = &subs[i];
    u->userdata = ld64(k, p);
    u->tag = k->mem[p + 8];
    u->pidx = -1;
    u->deadline = UINT64_MAX;
    if (u->tag == EVENT_CLOCK) {
      uint32_t id = ld32(k, p + 16);
      uint64_t timeout = ld64(k, p + 24), rel;
      uint16_t flags;
      memcpy(&flags, k->mem + p + 40, 2);
      if (id != CLOCK_ID_REALTIME && id != CLOCK_ID_MONOTONIC) {
        u->err = WASI_EINVAL;
        ready_now = true;
        continue;
      }
      if (flags & SUBCLOCK_ABSTIME) {
        struct timespec ts;
        uint64_t cnow;
        clock_gettime(id == CLOCK_ID_REALTIME ? CLOCK_REALTIME
                                              : CLOCK_MONOTONIC, &ts);
        cnow = ts_ns(&ts);
        rel = timeout > cnow ? timeout - cnow : 0;
      } else {
        rel = timeout;
      }
      u->deadline = rel > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + rel;
      if (u->deadline < first)
        first = u->deadline;
    } else if (u->tag == EVENT_FD_READ || u->tag == EVENT_FD_WRITE) {
      fd_entry_t *f;
      u->fd = ld32(k, p + 16);
      u->err = (uint16_t)get_fd(k, u->fd, &f);
      if (u->err != 0 || f->type == FT_REGULAR_FILE ||
          f->type == FT_DIRECTORY) {
        ready_now = true;   /* an error, or always ready */
      } else {
        pfds[npfd].fd = f->host;
        pfds[npfd].events = u->tag == EVENT_FD_READ ? POLLIN : POLLOUT;
        u->pidx = (int32_t)npfd++;
      }
    } else {
      e = WASI_EINVAL;
      goto fail;
    }
  }

  /* never wait past the invocation's deadline */
  uint64_t left_ms = wh_exec_deadline_remaining_ms(wh_caller_exec(k->caller));
  uint64_t stop = UINT64_MAX;
  if (left_ms != UINT64_MAX)
    stop = left_ms > (UINT64_MAX - now) / 1000000ull ? UINT64_MAX - 1
                                                      : now + left_ms * 1000000ull;
  for (;;) {
    struct timespec ts;
    bool due;
    now = mono_now();
    due = ready_now || first <= now;
    if (!due && now >= stop) {
      k->deadline_hit = true;
      e = WASI_ESUCCESS;
      goto fail;
    }
    if (npfd > 0) {
      struct timespec *tp = NULL;
      int r;
      uint64_t wake = first < stop ? first : stop;
      if (due || wake != UINT64_MAX) {
        uint64_t rel = due ? 0 : wake - now;
        ts.tv_sec = (time_t)(rel / 1000000000ull);
        ts.tv_nsec = (long)(rel % 1000000000ull);
        tp = &ts;
      }
      r = ppoll(pfds, npfd, tp, NULL);
      if (r < 0 && errno != EINTR) {
        e = map_errno(errno);
        goto fail;
      }
      if (r > 0 || due)
        break;
    } else {
      if (due)
        break;
      /* only clocks, so first is a real deadline */
      uint64_t wake = first < stop ? first : stop;
      ts.tv_sec = (time_t)(wake / 1000000000ull);
      ts.tv_nsec = (long)(wake % 1000000000ull);
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
  }

  now = mono_now();
  for (uint32_t i = 0; i < n; i++) {
    sub_t *u = &subs[i];
    uint64_t ev = (uint64_t)out + 32ull * nev;
    uint64_t nbytes = 0;
    uint16_t rwflags = 0, err = u->err;

    if (err != 0) {
      /* report the error */
    } else if (u->tag == EVENT_CLOCK) {
      if (u->deadline > now)
        continue;
    } else if (u->pidx < 0) {
      fd_entry_t *f = &k->w->fds[u->fd];   /* checked above */
      struct stat st;
      off_t pos;
      if (u->tag == EVENT_FD_READ && f->type == FT_REGULAR_FILE &&
          (pos = lseek(f->host, 0, SEEK_CUR)) >= 0 &&
          fstat(f->host, &st) == 0 && st.st_size > pos)
        nbytes = (uint64_t)(st.st_size - pos);
    } else {
      short re = pfds[u->pidx].revents;
      int avail = 0;
      if (re == 0)
        continue;
      if (re & POLLNVAL)
        err = WASI_EBADF;
      if (re & POLLHUP)
        rwflags |= EVENTRW_HANGUP;
      if (u->tag == EVENT_FD_READ && (re & POLLIN))
        nbytes = ioctl(pfds[u->pidx].fd, FIONREAD, &avail) == 0 && avail > 0
                     ? (uint64_t)avail : 1;
    }
    memset(k->mem + ev, 0, 32);
    st64(k, ev, u->userdata);
    st16(k, ev + 8, err);
    st8(k, ev + 10, u->tag);
    st64(k, ev + 16, nbytes);
    st16(k, ev + 24, rwflags);
    nev++;
  }
  st32(k, nout, nev);

fail:
  free(pfds);
  free(subs);
  return e;
}

/* ---- the table --------------------------------------------------------- */

/* Every row returns one i32 errno; params as wh_linker_define_func's
 * type characters.  proc_exit, which returns nothing, is defined apart. */
static const wasi_fn_t wasi_fns[] = {
  {"args_get", "ii", p1_args_get},
  {"args_sizes_get", "ii", p1_args_sizes_get},
  {"environ_get", "ii", p1_environ_get},
  {"environ_sizes_get", "ii", p1_environ_sizes_get},
  {"clock_res_get", "ii", p1_clock_res_get},
  {"clock_time_get", "iIi", p1_clock_time_get},
  {"fd_advise", "iIIi", p1_fd_advise},
  {"fd_allocate", "iII", p1_fd_allocate},
  {"fd_close", "i", p1_fd_close},
  {"fd_datasync", "i", p1_fd_datasync},
  {"fd_fdstat_get", "ii", p1_fd_fdstat_get},
  {"fd_fdstat_set_flags", "ii", p1_fd_fdstat_set_flags},
  {"fd_fdstat_set_rights", "iII", p1_fd_fdstat_set_rights},
  {"fd_filestat_get", "ii", p1_fd_filestat_get},
  {"fd_filestat_set_size", "iI", p1_fd_filestat_set_size},
  {"fd_filestat_set_times", "iIIi", p1_fd_filestat_set_times},
  {"fd_pread", "iiiIi", p1_fd_pread},
  {"fd_prestat_get", "ii", p1_fd_prestat_get},
  {"fd_prestat_dir_name", "iii", p1_fd_prestat_dir_name},
  {"fd_pwrite", "iiiIi", p1_fd_pwrite},
  {"fd_read", "iiii", p1_fd_read},
  {"fd_readdir", "iiiIi", p1_fd_readdir},
  {"fd_renumber", "ii", p1_fd_renumber},
  {"fd_seek", "iIii", p1_fd_seek},
  {"fd_sync", "i", p1_fd_sync},
  {"fd_tell", "ii", p1_fd_tell},
  {"fd_write", "iiii", p1_fd_write},
  {"path_create_directory", "iii", p1_path_create_directory},
  {"path_filestat_get", "iiiii", p1_path_filestat_get},
  {"path_filestat_set_times", "iiiiIIi", p1_path_filestat_set_times},
  {"path_link", "iiiiiii", p1_path_link},
  {"path_open", "iiiiiIIii", p1_path_open},
  {"path_readlink", "iiiiii", p1_path_readlink},
  {"path_remove_directory", "iii", p1_path_remove_directory},
  {"path_rename", "iiiiii", p1_path_rename},
  {"path_symlink", "iiiii", p1_path_symlink},
  {"path_unlink_file", "iii", p1_path_unlink_file},
  {"poll_oneoff", "iiii", p1_poll_oneoff},
  {"proc_raise", "i", p1_proc_raise},
  {"random_get", "ii", p1_random_get},
  {"sched_yield", "", p1_sched_yield},
  {"sock_accept", "iii", p1_sock_notsup},
  {"sock_recv", "iiiiii", p1_sock_notsup},
  {"sock_send", "iiiii", p1_sock_notsup},
  {"sock_shutdown", "ii", p1_sock_notsup},
};
_Static_assert(sizeof wasi_fns / sizeof wasi_fns[0] == NFNS,
               "NFNS must count the rows of wasi_fns");

/* The context of a call: the bound one, or (wh_wasi_define_dynamic) the
 * exec's user pointer. */
static wh_wasi_t *context(wh_caller_t *caller, wh_wasi_t *bound)
{
  return bound != NULL ? bound : wh_exec_user(wh_caller_exec(caller));
}

static int trampoline(wh_caller_t *caller, void *env, uint64_t *slots)
{
  const binding_t *b = env;
  call_t k;
  k.w = context(caller, b->w);
  if (k.w == NULL)
    return wh_caller_trap(caller, "WASI called with no WASI context on this exec");
  k.caller = caller;
  k.deadline_hit = false;
  k.mem = wh_caller_memory(caller, &k.size);
  slots[0] = b->fn->impl(&k, slots);
  if (k.deadline_hit)
    return wh_caller_trap_kind(caller, WH_TRAP_DEADLINE);
  return 0;
}

static int p1_proc_exit(wh_caller_t *caller, void *env, uint64_t *slots)
{
  wh_wasi_t *w = context(caller, env);
  if (w == NULL)
    return wh_caller_trap(caller, "WASI called with no WASI context on this exec");
  w->exited = true;
  w->exit_status = (int)(uint32_t)slots[0];
  return wh_caller_exit(caller, w->exit_status);
}

/* ---- public API -------------------------------------------------------- */

void wh_wasi_config_init(wh_wasi_config_t *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->stdin_fd = 0;
  cfg->stdout_fd = 1;
  cfg->stderr_fd = 2;
}

/* Packs `n` strings back to back into one malloc'ed buffer. */
static char *pack_strings(const char *const *v, size_t n, size_t *bytes)
{
  size_t total = 0, off = 0;
  char *buf;
  for (size_t i = 0; i < n; i++)
    total += strlen(v[i]) + 1;
  buf = malloc(total ? total : 1);
  if (buf == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(v[i]) + 1;
    memcpy(buf + off, v[i], len);
    off += len;
  }
  *bytes = total;
  return buf;
}

wh_wasi_t *wh_wasi_new(const wh_wasi_config_t *cfg, wh_diag_t *diag)
{
  wh_wasi_t *w;
  const int stdio[3] = {cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd};

  w = calloc(1, sizeof *w);
  if (w == NULL)
    goto nomem;
  w->portable = cfg->portable_resolve;
  w->argc = cfg->argc;
  w->envc = cfg->envc;
  w->args = pack_strings(cfg->argv, cfg->argc, &w->args_bytes);
  w->env = pack_strings(cfg->envp, cfg->envc, &w->env_bytes);
  if (w->args == NULL || w->env == NULL)
    goto nomem;
  if (w->args_bytes > UINT32_MAX || w->env_bytes > UINT32_MAX) {
    wh_diag_set(diag, WH_ELIMIT, -1, "WASI arguments or environment too large");
    goto fail;
  }
  /* Slots 0-2 are the stdio fds; a missing one stays a free slot. */
  if (!fd_reserve(w, 3))
    goto nomem;
  for (uint32_t i = 0; i < 3; i++) {
    struct stat st;
    uint8_t type = FT_UNKNOWN;
    if (stdio[i] < 0)
      continue;
    if (fstat(stdio[i], &st) == 0)
      type = filetype_of(&st, stdio[i]);
    fd_place(w, i, stdio[i], type, rights_for(type), 0, true);
  }
  for (size_t i = 0; i < cfg->npreopens; i++) {
    const wh_wasi_preopen_t *p = &cfg->preopens[i];
    int fd = open(p->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    uint32_t guest = 3 + (uint32_t)i;   /* after stdio, even a free slot */
    if (fd < 0) {
      wh_diag_set(diag, WH_EIO, -1, "cannot open directory %s: %s",
                  p->host_path, strerror(errno));
      goto fail;
    }
    if (!fd_reserve(w, guest + 1)) {
      close(fd);
      wh_diag_set(diag, WH_ELIMIT, -1, "too many preopened directories");
      goto fail;
    }
    fd_place(w, guest, fd, FT_DIRECTORY, R_DIR, R_ALL, false);
    w->fds[guest].preopen = strdup(p->guest_path);
    if (w->fds[guest].preopen == NULL)
      goto nomem;
  }
  for (size_t i = 0; i < NFNS; i++) {
    w->bind[i].w = w;
    w->bind[i].fn = &wasi_fns[i];
  }
  return w;

nomem:
  wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
fail:
  wh_wasi_free(w);
  return NULL;
}

void wh_wasi_free(wh_wasi_t *w)
{
  if (w == NULL)
    return;
  for (uint32_t i = 0; i < w->nfds; i++)
    entry_close(&w->fds[i]);
  free(w->fds);
  free(w->args);
  free(w->env);
  free(w);
}

int wh_wasi_define(wh_wasi_t *w, wh_linker_t *l)
{
  static const char mod[] = "wasi_snapshot_preview1";
  int err;
  for (size_t i = 0; i < NFNS; i++) {
    err = wh_linker_define_func(l, mod, wasi_fns[i].name, wasi_fns[i].params,
                                "i", trampoline, &w->bind[i]);
    if (err != 0)
      goto fail;
  }
  err = wh_linker_define_func(l, mod, "proc_exit", "i", "", p1_proc_exit, w);
fail:
  return err;
}

/* Unbound bindings: fn set, w NULL, so context() asks the exec. */
static binding_t dynamic_bind[NFNS];
static pthread_once_t dynamic_once = PTHREAD_ONCE_INIT;

static void init_dynamic(void)
{
  for (size_t i = 0; i < NFNS; i++)
    dynamic_bind[i].fn = &wasi_fns[i];
}

int wh_wasi_define_dynamic(wh_linker_t *l)
{
  static const char mod[] = "wasi_snapshot_preview1";
  int err = 0;
  pthread_once(&dynamic_once, init_dynamic);
  for (size_t i = 0; i < NFNS && err == 0; i++)
    err = wh_linker_define_func(l, mod, wasi_fns[i].name, wasi_fns[i].params,
                                "i", trampoline, &dynamic_bind[i]);
  if (err == 0)
    err = wh_linker_define_func(l, mod, "proc_exit", "i", "", p1_proc_exit, NULL);
  return err;
}

bool wh_wasi_exited(const wh_wasi_t *w, int *status)
{
  if (w->exited && status != NULL)
    *status = w->exit_status;
  return w->exited;
}
