/* SPDX-License-Identifier: MIT */
/* libdmakit internals shared between its files; never installed. */
#ifndef DMK_INTERNAL_H
#define DMK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <string.h>

#include <dmakit/dmakit.h>

#include "compat/uapi.h"

#define DMK_MEMFD_NAME_MAX 249	/* memfd_create(2): 249 bytes + NUL */

#ifndef offsetofend
#define offsetofend(TYPE, FIELD) \
	(offsetof(TYPE, FIELD) + sizeof(((TYPE *)0)->FIELD))
#endif

#define DMK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging (log.c) ---- */
__attribute__((format(printf, 2, 3)))
void dmk__log(enum dmk_log_level level, const char *fmt, ...);
#define pr_warn(...) dmk__log(DMK_LOG_WARN, __VA_ARGS__)
#define pr_info(...) dmk__log(DMK_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) dmk__log(DMK_LOG_DEBUG, __VA_ARGS__)

/* ---- opts structs (log.c) ---- */
/*
 * Copy a caller's opts (@src, whose first member is its size) into the
 * zeroed @dst of @known bytes: fields the caller's older struct lacks stay
 * zero; non-zero bytes beyond what this library knows give -EINVAL.
 */
int dmk__opts_load(void *dst, size_t known, const void *src);
#define DMK_OPTS_LOAD(TYPE, dst, src)					\
	dmk__opts_load(dst, offsetofend(struct TYPE, TYPE##__last_field), src)

/*
 * The other direction, for info/stats structs: copy @full (whose first
 * member is its size) into the caller's @dst, up to the dst->sz bytes the
 * caller said it has, leaving dst->sz as it was.  -EINVAL for a NULL @dst
 * or a size too small to hold the size field.
 */
int dmk__struct_out(void *dst, const void *full, size_t full_sz);

/* ---- buffers (buf.c) ---- */
struct dmk_buf;

/*
 * A free hook: @fn runs once, in the last dmk_buf_put(), before the
 * mapping goes and the fds close, with no lock of the buffer held (so it
 * may take its own locks and wait).  The node is the caller's (intrusive),
 * and is not touched by the buffer after @fn was called: @fn may free it.
 */
struct dmk__buf_hook {
	void (*fn)(struct dmk_buf *buf, struct dmk__buf_hook *hook);
	void *data;
	struct dmk__buf_hook *next;
};

struct dmk_buf {
	atomic_int refs;
	int fd;			/* primary: the dma-buf, else the memfd */
	int memfd;		/* -1 when there is none; may equal fd */
	uint64_t memfd_off;	/* where the buffer starts in the memfd */
	enum dmk_backend backend;
	unsigned int caps;
	bool writable;
	uint64_t size;
	_Atomic bool have_identity;	/* dev and ino are set */
	dev_t dev;
	ino_t ino;
	_Atomic(void *) map;	/* set once by dmk_buf_map() */
	char name[DMK_MEMFD_NAME_MAX + 1];
	pthread_mutex_t hook_lock;	/* guards hooks */
	struct dmk__buf_hook *hooks;	/* run by the last dmk_buf_put() */
};

/*
 * Register @hook on @buf (the caller holds a reference).  0, or -EINVAL
 * for a hook without fn.
 */
int dmk__buf_add_free_hook(struct dmk_buf *buf, struct dmk__buf_hook *hook);

/*
 * Unregister @hook: 0 when it was removed and will never run; -ENOENT
 * when it is not registered, which includes a hook the last put has
 * already taken and is running or about to run.  The caller must know
 * @buf is still allocated: a hook's owner does, as long as its hook has
 * not finished, since the buffer is freed only after every hook returned.
 * Takes the buffer's hook lock, which is never held while a hook runs, so
 * a caller may hold a lock that its hook also takes.
 */
int dmk__buf_del_free_hook(struct dmk_buf *buf, struct dmk__buf_hook *hook);

/*
 * Wrap fds the library made.  Takes ownership of @fd and @memfd (either may
 * be -1, not both; they may be equal): closed on failure too.
 */
int dmk__buf_new(int fd, int memfd, enum dmk_backend backend,
		 unsigned int caps, uint64_t size, const char *name,
		 struct dmk_buf **out);

/* Copy a string, truncating to fit; @dst is always terminated. */
static inline void dmk__strscpy(char *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Whether a name fits the kernel's dma-buf name limit. */
static inline bool dmk__dmabuf_name_ok(const char *name)
{
	return strnlen(name, DMA_BUF_NAME_LEN) < DMA_BUF_NAME_LEN;
}

/* 1 if @fd is a memfd, 0 if not, -errno without /proc. */
int dmk__is_memfd(int fd);

/* The name a memfd was created with ("" if @fd is not a memfd). */
void dmk__memfd_name(int fd, char *name, size_t len);

/* One "key:\tvalue" field of /proc/self/fdinfo/<fd>; -ENOENT if absent. */
int dmk__fdinfo_field(int fd, const char *key, char *val, size_t len);

#endif /* DMK_INTERNAL_H */
