/*
 * cow_linux.c - copy-on-write memory images on Linux: a sealed memfd per
 * module, mapped MAP_PRIVATE|MAP_FIXED into memory slots.
 *
 * madvise(MADV_DONTNEED) on such a private mapping drops the pages an
 * instance wrote; the next read sees the file again, i.e. the module's
 * initial memory.  The memfd is sealed against writes, shrinking and
 * growing, so no one can change an image under a live instance.
 *
 * Resetting a slot without madvise: the PAGEMAP_SCAN ioctl (Linux 6.7+)
 * lists the slot's present pages with their kind.  A page of a private
 * file mapping that was written became anonymous; a page only read is
 * still the file's (PAGE_IS_FILE) or the shared zero page
 * (PAGE_IS_PFNZERO).  Only the written ones need work.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool_int.h"

#define PAGE 4096u

wh_pool_image_t *wh_pool__image_create(wh_pool_t *p, const uint8_t *bytes,
                                       size_t len, int *rc) {
  wh_pool_image_t *img = calloc(1, sizeof *img);
  if (!img) {
    *rc = WH_ENOMEM;
    return NULL;
  }
  img->pool = p;
  img->fd = -1;
  img->warm_head = UINT32_MAX;
  atomic_store(&img->refs, 1);
  if (len == 0) return img;               /* all-zero initial memory */
  img->len = (len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
  img->fd = memfd_create("wharf-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (img->fd < 0) goto fail;
  if (ftruncate(img->fd, (off_t)img->len) != 0) goto fail;
  for (size_t off = 0; off < len;) {
    ssize_t n = pwrite(img->fd, bytes + off, len - off, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) goto fail;
    off += (size_t)n;
  }
  if (fcntl(img->fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    goto fail;
  return img;
fail:
  *rc = errno == ENOMEM ? WH_ENOMEM : WH_EIO;
  if (img->fd >= 0) close(img->fd);
  free(img);
  return NULL;
}

void wh_pool__image_close(wh_pool_image_t *img) {
  if (img->fd >= 0) close(img->fd);
  img->fd = -1;
}

int wh_pool__image_map(const wh_pool_image_t *img, uint8_t *at) {
  if (img->len == 0) return 0;
  void *q = mmap(at, img->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                 img->fd, 0);
  return q == MAP_FAILED ? (errno == ENOMEM ? WH_ENOMEM : WH_EIO) : 0;
}

int wh_pool__unmap(uint8_t *at, uint64_t len) {
  if (len == 0) return 0;
  void *q = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                 -1, 0);
  return q == MAP_FAILED ? WH_ENOMEM : 0;
}

/* ---- dirty-page reset (PAGEMAP_SCAN; declared here, as Debian 12's
 * kernel headers predate it) ------------------------------------------------ */

struct scan_region {
  uint64_t start, end, categories;
};

struct scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define SCAN_IOCTL _IOWR('f', 16, struct scan_arg)
#define PAGE_IS_FILE (1u << 2)
#define PAGE_IS_PRESENT (1u << 3)
#define PAGE_IS_PFNZERO (1u << 5)

/* Each thread scans through a pagemap file of its own: with one fd
 * shared by the threads, every ioctl takes and drops a reference on the
 * same struct file, an atomic that bounces between CPUs.
 *
 * /proc/self/pagemap names the process that opened it: after fork() an
 * inherited fd still describes the parent.  A child handler bumps
 * `generation`, and a thread whose fd is from an older one reopens (no
 * getpid() system call on every release).  Fds that the parent's other
 * threads held stay open in the child (close-on-exec).  A kernel without
 * PAGEMAP_SCAN is remembered in `no_scan`. */
static atomic_uint generation = 1;
static atomic_bool no_scan;
static _Thread_local int my_fd = -1;
static _Thread_local unsigned my_generation;
static pthread_key_t fd_key;              /* closes my_fd at thread exit */
static pthread_once_t fd_once = PTHREAD_ONCE_INIT;
static bool fd_key_ok;

static void after_fork(void) { atomic_fetch_add(&generation, 1); }

static void close_my_fd(void *arg) {
  (void)arg;
  if (my_fd >= 0) close(my_fd);
  my_fd = -1;
}

static void fd_init(void) {
  fd_key_ok = pthread_key_create(&fd_key, close_my_fd) == 0 &&
              pthread_atfork(NULL, NULL, after_fork) == 0;
}

/* The calling thread's pagemap fd, or -1 (no PAGEMAP_SCAN, or no fd). */
static int pagemap_fd(void) {
  unsigned gen = atomic_load_explicit(&generation, memory_order_relaxed);
  if (my_fd >= 0 && my_generation == gen) return my_fd;
  if (atomic_load_explicit(&no_scan, memory_order_relaxed)) return -1;
  pthread_once(&fd_once, fd_init);
  if (!fd_key_ok) return -1;
  if (my_fd >= 0) close(my_fd);           /* the parent's, before a fork */
  my_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  my_generation = gen;
  if (my_fd < 0) return -1;
  struct scan_region r;
  struct scan_arg probe = {.size = sizeof probe, .start = 0, .end = 0,
                           .vec = (uint64_t)(uintptr_t)&r, .vec_len = 1,
                           .category_mask = PAGE_IS_PRESENT, .return_mask = PAGE_IS_PRESENT};
  if (ioctl(my_fd, SCAN_IOCTL, &probe) < 0 && (errno == ENOTTY || errno == EINVAL)) {
    atomic_store(&no_scan, true);         /* kernel without PAGEMAP_SCAN */
    close(my_fd);
    my_fd = -1;
    return -1;
  }
  pthread_setspecific(fd_key, &my_fd);
  return my_fd;
}

/* Restores [off, off+n) of a slot: from the image below its length,
 * zeros above. */
static int restore(const wh_pool_image_t *img, uint8_t *at, uint64_t off, uint64_t n) {
  uint64_t img_len = img ? img->len : 0;
  if (off < img_len) {
    uint64_t k = n < img_len - off ? n : img_len - off;
    for (uint64_t done = 0; done < k;) {
      ssize_t got = pread(img->fd, at + off + done, k - done, (off_t)(off + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return WH_EIO;
      done += (uint64_t)got;
    }
    off += k;
    n -= k;
  }
  if (n) memset(at + off, 0, n);
  return 0;
}

int wh_pool__reset_dirty(const wh_pool_image_t *img, uint8_t *at, uint64_t len,
                         uint64_t budget) {
  int fd = pagemap_fd();
  if (fd < 0) return WH_EUNSUPPORTED;
  struct scan_region regions[32];
  struct {
    uint64_t off, n;
  } dirty[32];
  uint32_t ndirty = 0;
  uint64_t total = 0, pos = (uint64_t)(uintptr_t)at, end = pos + len;
  while (pos < end) {
    struct scan_arg a = {.size = sizeof a, .start = pos, .end = end,
                         .vec = (uint64_t)(uintptr_t)regions, .vec_len = 32,
                         .category_mask = PAGE_IS_PRESENT,
                         .return_mask = PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_PFNZERO};
    int n = ioctl(fd, SCAN_IOCTL, &a);
    if (n < 0) return WH_EUNSUPPORTED;
    for (int k = 0; k < n; k++) {
      if (regions[k].categories & (PAGE_IS_FILE | PAGE_IS_PFNZERO)) continue;
      uint64_t sz = regions[k].end - regions[k].start;
      total += sz;
      if (total > budget || ndirty == 32) return WH_ELIMIT;
      dirty[ndirty].off = regions[k].start - (uint64_t)(uintptr_t)at;
      dirty[ndirty++].n = sz;
    }
    if (a.walk_end <= pos) return WH_EUNSUPPORTED;   /* no progress */
    pos = a.walk_end;
  }
  /* scanned everything first: on WH_ELIMIT nothing was touched */
  for (uint32_t k = 0; k < ndirty; k++) {
    int rc = restore(img, at, dirty[k].off, dirty[k].n);
    if (rc) return rc;
  }
  return 0;
}
