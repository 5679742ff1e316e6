// SPDX-License-Identifier: MIT
/* Diagnostics callback, opts handling and small text helpers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sys.h"

static dmk_log_fn log_fn;
static void *log_user;
static enum dmk_log_level log_max = DMK_LOG_WARN;

DMK_API void dmk_set_log(dmk_log_fn fn, void *user, enum dmk_log_level max)
{
	log_fn = fn;
	log_user = user;
	log_max = max;
}

void dmk__log(enum dmk_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!log_fn || level > log_max)
		return;
	va_start(ap, fmt);
	log_fn(level, fmt, ap, log_user);
	va_end(ap);
	errno = saved;
}

DMK_API const char *dmk_version(void)
{
#define DMK_STR_(x) #x
#define DMK_STR(x) DMK_STR_(x)
	return DMK_STR(DMK_VERSION_MAJOR) "." DMK_STR(DMK_VERSION_MINOR) "."
	       DMK_STR(DMK_VERSION_PATCH);
}

DMK_API const char *dmk_strerror(int err)
{
	return strerror(err < 0 ? -err : err);
}

int dmk__opts_load(void *dst, size_t known, const void *src)
{
	const unsigned char *p = src;
	size_t sz, i;

	memset(dst, 0, known);
	if (!src)
		return 0;
	memcpy(&sz, src, sizeof(sz));
	if (sz < sizeof(size_t))
		return -EINVAL;
	/* A newer caller's struct: everything we do not know must be 0. */
	for (i = known; i < sz; i++)
		if (p[i])
			return -EINVAL;
	memcpy(dst, src, sz < known ? sz : known);
	return 0;
}

int dmk__struct_out(void *dst, const void *full, size_t full_sz)
{
	size_t sz;

	if (!dst)
		return -EINVAL;
	memcpy(&sz, dst, sizeof(sz));
	if (sz < sizeof(size_t))
		return -EINVAL;
	memcpy((char *)dst + sizeof(size_t),
	       (const char *)full + sizeof(size_t),
	       (sz < full_sz ? sz : full_sz) - sizeof(size_t));
	return 0;
}

int dmk__read_text(int dirfd, const char *path, char *buf, size_t len)
{
	ssize_t n;
	size_t off = 0;
	int fd, err = 0;

	if (len == 0)
		return -EINVAL;
	fd = dmk__openat(dirfd, path, O_RDONLY);
	if (fd < 0)
		return fd;
	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = dmk__neg_errno();
			break;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	dmk__close(fd);
	if (err)
		return err;
	buf[off] = '\0';
	return (int)off;
}

int dmk__parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -ERANGE;
	}
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s)
		return -EINVAL;
	*out = v;
	return 0;
}

int dmk__fdinfo_field(int fd, const char *key, char *val, size_t len)
{
	char path[64], text[4096], *line, *save = NULL;
	size_t klen = strlen(key);
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	ret = dmk__read_text(AT_FDCWD, path, text, sizeof(text));
	if (ret < 0)
		return ret;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		line += klen + 1;
		while (*line == ' ' || *line == '\t')
			line++;
		if (strlen(line) >= len)
			return -ENAMETOOLONG;
		strcpy(val, line);
		return 0;
	}
	return -ENOENT;
}
