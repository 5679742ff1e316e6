/* SPDX-License-Identifier: MIT */
/*
 * The one thin layer between libdmakit and the kernel.
 *
 * Every wrapper returns >= 0 on success or -errno, retries EINTR (and
 * EAGAIN for ioctls, as libdrm's drmIoctl does), creates fds close-on-exec,
 * and writes its outputs only on success.
 */
#ifndef DMK_SYS_H
#define DMK_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat/uapi.h"

static inline int dmk__neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* ioctl on a caller-zeroed argument; retries EINTR/EAGAIN. */
static inline int dmk__ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret == -1 && (errno == EINTR || errno == EAGAIN));
	return ret == -1 ? dmk__neg_errno() : ret;
}

static inline int dmk__open(const char *path, int flags)
{
	int fd;

	do {
		fd = open(path, flags | O_CLOEXEC);
	} while (fd == -1 && errno == EINTR);
	return fd == -1 ? dmk__neg_errno() : fd;
}

/* open() with a creation mode (O_CREAT). */
static inline int dmk__open_mode(const char *path, int flags, mode_t mode)
{
	int fd;

	do {
		fd = open(path, flags | O_CLOEXEC, mode);
	} while (fd == -1 && errno == EINTR);
	return fd == -1 ? dmk__neg_errno() : fd;
}

static inline int dmk__openat(int dirfd, const char *path, int flags)
{
	int fd;

	do {
		fd = openat(dirfd, path, flags | O_CLOEXEC);
	} while (fd == -1 && errno == EINTR);
	return fd == -1 ? dmk__neg_errno() : fd;
}

/* close() that keeps errno and never retries (Linux frees the fd). */
static inline void dmk__close(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}

static inline int dmk__dup_cloexec(int fd)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	return nfd == -1 ? dmk__neg_errno() : nfd;
}

static inline int dmk__memfd_create(const char *name, unsigned int flags)
{
	int fd = (int)syscall(SYS_memfd_create, name, flags | MFD_CLOEXEC);

	return fd == -1 ? dmk__neg_errno() : fd;
}

static inline int dmk__ftruncate(int fd, off_t len)
{
	int ret;

	do {
		ret = ftruncate(fd, len);
	} while (ret == -1 && errno == EINTR);
	return ret == -1 ? dmk__neg_errno() : 0;
}

static inline int dmk__fallocate(int fd, off_t len)
{
	int ret;

	do {
		ret = fallocate(fd, 0, 0, len);
	} while (ret == -1 && errno == EINTR);
	return ret == -1 ? dmk__neg_errno() : 0;
}

static inline int dmk__add_seals(int fd, int seals)
{
	return fcntl(fd, F_ADD_SEALS, seals) == -1 ? dmk__neg_errno() : 0;
}

/* The seals of @fd, or -errno (-EINVAL: not a file that can be sealed). */
static inline int dmk__get_seals(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals == -1 ? dmk__neg_errno() : seals;
}

/* A file's real size, from the kernel: lseek(SEEK_END) works on memfds
 * and on dma-bufs (dma_buf_llseek) alike. */
static inline int dmk__fd_size(int fd, uint64_t *size)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end == (off_t)-1)
		return dmk__neg_errno();
	*size = (uint64_t)end;
	return 0;
}

static inline int dmk__mmap(int fd, size_t len, int prot, off_t off,
			    void **addr)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		return dmk__neg_errno();
	*addr = p;
	return 0;
}

struct io_uring_params;

static inline int dmk__io_uring_setup(unsigned int entries,
				      struct io_uring_params *p)
{
	int fd = (int)syscall(SYS_io_uring_setup, entries, p);

	return fd == -1 ? dmk__neg_errno() : fd;
}

static inline int dmk__io_uring_register(int fd, unsigned int op, void *arg,
					 unsigned int nr)
{
	int ret;

	do {
		ret = (int)syscall(SYS_io_uring_register, fd, op, arg, nr);
	} while (ret == -1 && errno == EINTR);
	return ret == -1 ? dmk__neg_errno() : ret;
}

/*
 * The direct-I/O alignment of @fd's file (statx STATX_DIOALIGN, 6.1+):
 * 1 and both values (0 and 0: the file takes no direct I/O), 0 when the
 * kernel or the C library's headers do not report it, -errno.
 */
static inline int dmk__statx_dioalign(int fd, uint32_t *mem_align,
				      uint32_t *off_align)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	memset(&stx, 0, sizeof(stx));
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx))
		return errno == ENOSYS ? 0 : dmk__neg_errno();
	if (!(stx.stx_mask & STATX_DIOALIGN))
		return 0;
	*mem_align = stx.stx_dio_mem_align;
	*off_align = stx.stx_dio_offset_align;
	return 1;
#else
	(void)fd;
	(void)mem_align;
	(void)off_align;
	return 0;
#endif
}

/* Read a small text file (sysfs, procfs) into @buf, NUL-terminated. */
int dmk__read_text(int dirfd, const char *path, char *buf, size_t len);

/* Parse an unsigned decimal with overflow checking; -EINVAL or -ERANGE. */
int dmk__parse_u64(const char *s, uint64_t *out);

#endif /* DMK_SYS_H */
