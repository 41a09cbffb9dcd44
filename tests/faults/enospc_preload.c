/* A fault-injecting file layer for the fault tests (LD_PRELOAD): writes into one folder fail with
 * ENOSPC once the process has written XAI_FAULT_BYTES bytes there, and statvfs/fallocate on that
 * folder see the same budget, so a run sees a disk that fills up exactly as a small tmpfs would,
 * where mounting one is not possible (CI containers).
 *
 *   XAI_FAULT_DIR=/abs/path   the folder whose files count (its subfolders too)
 *   XAI_FAULT_BYTES=N         bytes the process may write there in all
 *
 * A write that would pass the budget writes what fits and then fails, as a full disk does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long g_budget = -1, g_used = 0;
static char g_dir[PATH_MAX];
static size_t g_dir_len = 0;

static void init(void) {
  if (g_budget >= 0 || g_dir_len > 0) return;
  const char* dir = getenv("XAI_FAULT_DIR");
  const char* bytes = getenv("XAI_FAULT_BYTES");
  if (dir == NULL || bytes == NULL) {
    g_budget = LLONG_MAX;
    return;
  }
  snprintf(g_dir, sizeof(g_dir), "%s", dir);
  g_dir_len = strlen(g_dir);
  g_budget = atoll(bytes);
}

static int under(const char* path) {
  return g_dir_len > 0 && strncmp(path, g_dir, g_dir_len) == 0 &&
         (path[g_dir_len] == '/' || path[g_dir_len] == '\0');
}

static int counted_fd(int fd) {
  init();
  if (g_dir_len == 0) return 0;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof(target) - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  return under(target);
}

/* How many of `want` bytes may be written now (0: the disk is full). */
static size_t allowance(size_t want) {
  const long long left = g_budget - g_used;
  if (left <= 0) return 0;
  return (long long)want < left ? want : (size_t)left;
}

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);

ssize_t write(int fd, const void* buf, size_t n) {
  static write_fn real = NULL;
  if (real == NULL) real = (write_fn)dlsym(RTLD_NEXT, "write");
  if (n == 0 || !counted_fd(fd)) return real(fd, buf, n);
  const size_t ok = allowance(n);
  if (ok == 0) {
    errno = ENOSPC;
    return -1;
  }
  const ssize_t done = real(fd, buf, ok);
  if (done > 0) g_used += done;
  return done;
}

static ssize_t pwrite_common(pwrite_fn real, int fd, const void* buf, size_t n, off_t off) {
  if (n == 0 || !counted_fd(fd)) return real(fd, buf, n, off);
  const size_t ok = allowance(n);
  if (ok == 0) {
    errno = ENOSPC;
    return -1;
  }
  const ssize_t done = real(fd, buf, ok, off);
  if (done > 0) g_used += done;
  return done;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static pwrite_fn real = NULL;
  if (real == NULL) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
  return pwrite_common(real, fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  static pwrite_fn real = NULL;
  if (real == NULL) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
  return pwrite_common(real, fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  static writev_fn real = NULL;
  if (real == NULL) real = (writev_fn)dlsym(RTLD_NEXT, "writev");
  if (!counted_fd(fd)) return real(fd, iov, cnt);
  size_t n = 0;
  for (int i = 0; i < cnt; ++i) n += iov[i].iov_len;
  if (n > 0 && allowance(n) < n) {
    errno = ENOSPC;
    return -1;
  }
  const ssize_t done = real(fd, iov, cnt);
  if (done > 0) g_used += done;
  return done;
}

/* Reservations (posix_fallocate) spend the budget like data and are refunded when the file is cut
 * back (ftruncate), as on a real file system; tracked per descriptor. */
static long long g_reserved[1024];

int posix_fallocate(int fd, off_t off, off_t len) {
  typedef int (*fn)(int, off_t, off_t);
  static fn real = NULL;
  if (real == NULL) real = (fn)dlsym(RTLD_NEXT, "posix_fallocate");
  if (fd < 0 || fd >= 1024 || !counted_fd(fd)) return real(fd, off, len);
  const long long want = (long long)off + (long long)len;
  if (want <= g_reserved[fd]) return real(fd, off, len);
  const long long more = want - g_reserved[fd];
  if (g_budget - g_used < more) return ENOSPC;
  const int r = real(fd, off, len);
  if (r == 0) {
    g_used += more;
    g_reserved[fd] = want;
  }
  return r;
}

int posix_fallocate64(int fd, off_t off, off_t len) { return posix_fallocate(fd, off, len); }

int ftruncate(int fd, off_t len) {
  typedef int (*fn)(int, off_t);
  static fn real = NULL;
  if (real == NULL) real = (fn)dlsym(RTLD_NEXT, "ftruncate");
  const int r = real(fd, len);
  if (r == 0 && fd >= 0 && fd < 1024 && g_reserved[fd] > (long long)len) {
    g_used -= g_reserved[fd] - (long long)len;
    g_reserved[fd] = (long long)len;
  }
  return r;
}

int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }

static void shrink(const char* path, struct statvfs* st) {
  init();
  char real_path[PATH_MAX];
  if (realpath(path, real_path) == NULL || !under(real_path)) return;
  long long left = g_budget - g_used;
  if (left < 0) left = 0;
  const unsigned long long blocks = (unsigned long long)left / (st->f_frsize ? st->f_frsize : 4096);
  if (blocks < st->f_bavail) st->f_bavail = blocks;
  if (blocks < st->f_bfree) st->f_bfree = blocks;
}

int statvfs(const char* path, struct statvfs* st) {
  typedef int (*fn)(const char*, struct statvfs*);
  static fn real = NULL;
  if (real == NULL) real = (fn)dlsym(RTLD_NEXT, "statvfs");
  const int r = real(path, st);
  if (r == 0) shrink(path, st);
  return r;
}

int statvfs64(const char* path, struct statvfs64* st) {
  /* x86-64: struct statvfs64 and struct statvfs have the same layout. */
  return statvfs(path, (struct statvfs*)st);
}
