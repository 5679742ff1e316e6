/* SPDX-License-Identifier: MIT */
/*
 * dmakit: common definitions shared by every public header.
 *
 * Conventions (all of libdmakit):
 *  - Functions return >= 0 on success and a negative errno on failure.
 *    Constructors return int and write *out only on success.
 *  - Calls that may grow take an opts struct whose first member is
 *    `size_t sz`; declare one with DMK_OPTS().  A NULL opts means defaults.
 *    Non-zero bytes past the end of the struct this library knows give
 *    -EINVAL, as do unknown flag bits.
 *  - Every fd the library creates is close-on-exec.  Each prototype says
 *    whether it takes ownership of an fd it is given.
 *  - The library never prints; diagnostics go to the callback installed
 *    with dmk_set_log().
 */
#ifndef DMAKIT_COMMON_H
#define DMAKIT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DMK_VERSION_MAJOR 0
#define DMK_VERSION_MINOR 1
#define DMK_VERSION_PATCH 0

#ifndef DMK_API
#define DMK_API __attribute__((visibility("default")))
#endif

/*
 * Declare and zero-fill an opts struct, set its size and the named
 * fields:  DMK_OPTS(dmk_alloc_opts, o, .name = "cam0");
 * In C++ use a value-initialised struct and set .sz yourself.
 */
#define DMK_OPTS(TYPE, NAME, ...)					\
	struct TYPE NAME = ({						\
		memset(&NAME, 0, sizeof(struct TYPE));			\
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ };\
	})

enum dmk_log_level {
	DMK_LOG_ERROR = 0,
	DMK_LOG_WARN = 1,
	DMK_LOG_INFO = 2,
	DMK_LOG_DEBUG = 3,
};

typedef void (*dmk_log_fn)(enum dmk_log_level level, const char *fmt,
			   va_list ap, void *user);

/**
 * dmk_set_log() - install the diagnostics callback.
 * @fn:    callback, or NULL to silence the library (the default).
 * @user:  passed back to @fn untouched.
 * @max:   messages above this level are not formatted at all.
 *
 * Process-wide; set it once, before other threads use the library.
 */
DMK_API void dmk_set_log(dmk_log_fn fn, void *user, enum dmk_log_level max);

/**
 * dmk_version() - the library's version as "MAJOR.MINOR.PATCH".
 */
DMK_API const char *dmk_version(void);

/**
 * dmk_strerror() - a short description of a negative errno returned by
 * libdmakit (the same text strerror() gives for -@err).
 */
DMK_API const char *dmk_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_COMMON_H */
