/* SPDX-License-Identifier: MIT */
/*
 * dmakit streams: io_uring I/O between files and dmakit buffers.
 *
 * A struct dmk_stream is one io_uring (its queue depth is the number of
 * chunks in the kernel at once) plus up to DMK_STREAM_MAX_FILES files.  A
 * request moves a range of a file to or from memory (a buffer's mapping);
 * the stream cuts it into chunks of the chunk size, keeps up to the queue
 * depth of them in flight, resubmits the rest of a short read or write,
 * retries EINTR/EAGAIN and reports one result per request: the bytes
 * moved, or -errno with the file offset that failed.
 *
 * Each chunk takes the fastest path the kernel, the file and the memory
 * allow, and falls back, never fails, where a slower correct path exists:
 *
 *   fixed+direct  registered buffer (IORING_OP_READ_FIXED) and O_DIRECT
 *   direct        O_DIRECT into unregistered memory
 *   fixed         registered buffer through the page cache
 *   buffered      plain IORING_OP_READ/WRITE through the page cache
 *   sync          pread()/pwrite(): io_uring is absent (-ENOSYS) or
 *                 disabled (-EPERM, sysctl kernel.io_uring_disabled)
 *
 * O_DIRECT needs the file offset, length and memory address aligned to the
 * file's direct-I/O alignment (statx STATX_DIOALIGN, else a probe), and
 * memory that can be pinned: a buffer with DMK_CAP_PINNABLE.  Only such
 * buffers are ever registered; a dma-heap buffer (VM_PFNMAP, or CMA, whose
 * long-term pin can stall the kernel for minutes) is filled by buffered
 * I/O, decided from its caps, never by trying.  A file's unaligned tail is
 * read or written buffered.  dmk_stream_path() says which path a file gets
 * and why; dmk_stream_stats() counts the bytes each path moved.
 *
 * A stream is not thread-safe: use it from one thread at a time.
 */
#ifndef DMAKIT_STREAM_H
#define DMAKIT_STREAM_H

#include <stdint.h>
#include <sys/types.h>

#include <dmakit/buf.h>
#include <dmakit/common.h>
#include <dmakit/frame.h>
#include <dmakit/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_stream;

#define DMK_STREAM_MAX_FILES 8		/* files in one stream */
#define DMK_STREAM_MAX_DEPTH 4096	/* chunks in flight */
#define DMK_STREAM_MAX_CHUNK (1u << 30)	/* bytes in one chunk */
#define DMK_STREAM_MAX_REQUESTS 65536	/* requests queued at once */

/* The path a chunk took; also indexes dmk_stream_stats.bytes[]. */
enum dmk_stream_path {
	DMK_STREAM_PATH_NONE = 0,
	DMK_STREAM_PATH_FIXED_DIRECT = 1,
	DMK_STREAM_PATH_DIRECT = 2,
	DMK_STREAM_PATH_FIXED = 3,
	DMK_STREAM_PATH_BUFFERED = 4,
	DMK_STREAM_PATH_SYNC = 5,
};
#define DMK_STREAM_NPATHS 8	/* array size, room for more paths */

/* dmk_stream_new() flags: each turns a faster path off (tests, policy). */
enum dmk_stream_flags {
	/* No io_uring: the "sync" path, pread()/pwrite(). */
	DMK_STREAM_NO_URING = 1u << 0,
	/* No O_DIRECT, every chunk goes through the page cache. */
	DMK_STREAM_NO_DIRECT = 1u << 1,
	/* No registered (fixed) buffers. */
	DMK_STREAM_NO_FIXED = 1u << 2,
	/* No registered files: plain fds in every submission. */
	DMK_STREAM_NO_FIXED_FILES = 1u << 3,
	/*
	 * Opt in to a kernel submission-polling thread (IORING_SETUP_SQPOLL).
	 * It spins a core while busy: on a machine without a core to spare
	 * (2 cores) throughput collapses.  Falls back to a normal ring when
	 * the kernel refuses it.
	 */
	DMK_STREAM_SQPOLL = 1u << 4,
};

struct dmk_stream_opts {
	size_t sz;
	/* Chunks in the kernel at once, 1 .. DMK_STREAM_MAX_DEPTH; 0: 8. */
	unsigned int queue_depth;
	/* Requests queued or unreaped at once; 0: 256. */
	unsigned int max_requests;
	/* Bytes per chunk, 1 .. DMK_STREAM_MAX_CHUNK; 0: 1 MiB. */
	uint64_t chunk_size;
	/* DMK_STREAM_SQPOLL: idle time before the thread sleeps; 0: 100. */
	unsigned int sqpoll_idle_ms;
};
#define dmk_stream_opts__last_field sqpoll_idle_ms

/**
 * dmk_stream_new() - set up a stream: an io_uring of the queue depth, or
 * the sync path when io_uring is absent, disabled or turned off.
 * @flags: DMK_STREAM_* flags.
 * @opts:  may be NULL.
 * @out:   the stream.
 *
 * Never fails because io_uring is missing: dmk_stream_path() then reports
 * DMK_STREAM_PATH_SYNC and why.
 *
 * Return: 0, -EINVAL (bad flags or opts), -ENOMEM.
 */
DMK_API int dmk_stream_new(unsigned int flags,
			   const struct dmk_stream_opts *opts,
			   struct dmk_stream **out);

/**
 * dmk_stream_free() - cancel what is in flight, wait for the kernel to let
 * go of it, unregister and close the stream's files.  Buffers used in
 * requests may be freed after this returns.  NULL is a no-op.
 */
DMK_API void dmk_stream_free(struct dmk_stream *s);

/* dmk_stream_open_file() / dmk_stream_add_fd() flags. */
enum dmk_stream_file_flags {
	DMK_STREAM_READ = 1u << 0,	/* requests may read the file */
	DMK_STREAM_WRITE = 1u << 1,	/* requests may write it */
	DMK_STREAM_CREATE = 1u << 2,	/* O_CREAT (open_file only) */
	DMK_STREAM_TRUNC = 1u << 3,	/* O_TRUNC (open_file only) */
};

/**
 * dmk_stream_open_file() - open a file for the stream's requests.
 * @path:  a regular file, or a block or character device (O_DIRECT is
 *         tried on regular files and block devices only).  A request
 *         reads until it has @len bytes or meets the end of the file,
 *         also on a device whose reads come back short (a tty): there it
 *         waits for the rest, so ask for what is expected.
 * @flags: DMK_STREAM_READ and/or DMK_STREAM_WRITE, plus CREATE/TRUNC.
 * @mode:  permissions for DMK_STREAM_CREATE (0: 0644).
 *
 * The stream opens the file itself (close-on-exec) and, where the
 * filesystem takes it, a second O_DIRECT descriptor of the same file; both
 * are registered with the ring when the kernel allows.  They are closed by
 * dmk_stream_free().
 *
 * Return: the file's index (>= 0) for requests, or -EINVAL (bad flags),
 * -EMFILE (DMK_STREAM_MAX_FILES already), -EISDIR (a directory), -ESPIPE
 * (a pipe, socket or other file without offsets), or open()'s -errno
 * (-ENOENT, -EACCES, -EROFS, ...).
 */
DMK_API int dmk_stream_open_file(struct dmk_stream *s, const char *path,
				 unsigned int flags, unsigned int mode);

/**
 * dmk_stream_add_fd() - use an open file for the stream's requests.
 * @fd:    not taken: the stream keeps its own close-on-exec duplicate and
 *         @fd stays the caller's, on success and on failure.  Its access
 *         mode must allow @flags.  An O_DIRECT descriptor is reopened
 *         from /proc/self/fd/@fd when /proc is there.
 * @flags: DMK_STREAM_READ and/or DMK_STREAM_WRITE.
 *
 * Return: the file's index, or -EINVAL (bad flags), -EBADF (not open, or
 * opened without the access @flags ask for), -EMFILE, -EISDIR, -ESPIPE.
 */
DMK_API int dmk_stream_add_fd(struct dmk_stream *s, int fd,
			      unsigned int flags);

/**
 * dmk_stream_register_bufs() - register buffers with the ring (io_uring
 * fixed buffers), replacing any set registered before.
 * @bufs: buffers to register; not referenced: they must outlive the
 *        registration (the next call, or dmk_stream_free()).
 * @n:    number of buffers; 0 unregisters.
 *
 * Only buffers whose caps include DMK_CAP_PINNABLE (and not
 * DMK_CAP_CONTIG) are registered; the others are skipped, as are buffers
 * over 1 GiB.  If the kernel refuses the registration (RLIMIT_MEMLOCK,
 * pages it cannot pin), none are registered and requests take the
 * unregistered paths; dmk_stream_path() says why.
 *
 * Return: the number of buffers registered (0 is not an error), -EBUSY
 * (requests are in flight), -EINVAL.
 */
DMK_API int dmk_stream_register_bufs(struct dmk_stream *s,
				     struct dmk_buf *const *bufs,
				     unsigned int n);

/**
 * dmk_stream_register_pool() - dmk_stream_register_bufs() with every
 * buffer of @pool (which must outlive the registration).
 */
DMK_API int dmk_stream_register_pool(struct dmk_stream *s,
				     const struct dmk_pool *pool);

enum dmk_stream_op {
	DMK_STREAM_OP_READ = 0,		/* file -> memory */
	DMK_STREAM_OP_WRITE = 1,	/* memory -> file */
};

enum dmk_stream_req_flags {
	/*
	 * More requests follow: queue this one without entering the kernel;
	 * it starts with the next submit without this flag, or the next
	 * dmk_stream_flush(), dmk_stream_reap() or dmk_stream_wait().
	 */
	DMK_STREAM_REQ_MORE = 1u << 0,
	/*
	 * Raw memory (@addr, no @buf) whose pages can be pinned: anonymous
	 * or memfd memory, never a dma-buf mapping.  Allows O_DIRECT.
	 */
	DMK_STREAM_REQ_PINNABLE = 1u << 1,
};

struct dmk_stream_req {
	size_t sz;
	unsigned int op;	/* DMK_STREAM_OP_* */
	unsigned int file;	/* index from dmk_stream_open_file() */
	unsigned int flags;	/* DMK_STREAM_REQ_* */
	/*
	 * The memory: @buf's mapping at @buf_off (the buffer is mapped with
	 * dmk_buf_map() if it was not, and not referenced: keep it alive
	 * until the request completes), or @addr when @buf is NULL.
	 */
	struct dmk_buf *buf;
	void *addr;
	uint64_t buf_off;
	uint64_t file_off;	/* where in the file */
	uint64_t len;		/* bytes, > 0 */
	uint64_t tag;		/* the caller's, returned in the completion */
};
#define dmk_stream_req__last_field tag

/* A completed request (dmk_stream_reap(), dmk_stream_wait()). */
struct dmk_stream_done {
	uint64_t tag;
	/*
	 * Bytes moved; a read moves fewer than asked only at the end of the
	 * file.  Or -errno: the first failure (-ECANCELED if cancelled).
	 */
	int64_t res;
	uint64_t err_off;	/* res < 0: file offset of the failed chunk */
	int id;			/* the request id dmk_stream_submit() gave */
	unsigned int reserved0;
	uint64_t reserved[2];
};

/**
 * dmk_stream_submit() - start a request.
 *
 * The memory is written (reads) or read (writes) by the kernel until the
 * request completes; on a dma-buf the CPU-access bracket
 * (dmk_buf_begin_cpu()/dmk_buf_end_cpu()) is taken for the request.  On the
 * sync path the request is done before this returns.
 *
 * Return: the request id (>= 0), or -EINVAL (bad request or flags, range
 * outside @buf), -EBADF (no such file, or not opened for the op), -EACCES
 * (a read into a read-only mapping), -EAGAIN (max_requests are queued or
 * unreaped: reap some), or -errno from mapping @buf.
 */
DMK_API int dmk_stream_submit(struct dmk_stream *s,
			      const struct dmk_stream_req *req);

/**
 * dmk_stream_flush() - start requests queued with DMK_STREAM_REQ_MORE.
 * Return: 0 or -errno from io_uring_enter.
 */
DMK_API int dmk_stream_flush(struct dmk_stream *s);

/**
 * dmk_stream_reap() - collect completed requests, oldest first.
 * @done:       filled with up to @max completions.
 * @timeout_ns: 0 returns at once; < 0 waits for at least one; else waits
 *              at most this long for one.
 *
 * A completed request's id is free again once it is reaped.
 *
 * Return: the number written (0: none by the timeout, or nothing is in
 * flight), -EINTR (a signal interrupted the wait), -errno.
 */
DMK_API int dmk_stream_reap(struct dmk_stream *s,
			    struct dmk_stream_done *done, unsigned int max,
			    int64_t timeout_ns);

/**
 * dmk_stream_wait() - wait for one request and reap it (other requests
 * that complete meanwhile stay for dmk_stream_reap()).
 * @done: may be NULL.
 *
 * Return: 0 (then see @done->res), -ENOENT (no such request in flight or
 * unreaped), -ETIMEDOUT, -EINTR.
 */
DMK_API int dmk_stream_wait(struct dmk_stream *s, int id,
			    struct dmk_stream_done *done, int64_t timeout_ns);

/**
 * dmk_stream_cancel() - cancel a request: no more of its chunks start, the
 * kernel is asked to cancel those in flight, and it completes with
 * -ECANCELED once the kernel lets go of its memory (reap it as usual).
 *
 * Return: 0, -ENOENT (no such request), -EALREADY (already complete, or
 * already cancelled).
 */
DMK_API int dmk_stream_cancel(struct dmk_stream *s, int id);

/**
 * dmk_stream_read() / dmk_stream_write() - one request, waited for.
 *
 * Return: bytes moved (a read: fewer than @len only at the end of the
 * file), or -errno as dmk_stream_submit() and the I/O give.
 */
DMK_API int64_t dmk_stream_read(struct dmk_stream *s, unsigned int file,
				struct dmk_buf *buf, uint64_t buf_off,
				uint64_t file_off, uint64_t len);
DMK_API int64_t dmk_stream_write(struct dmk_stream *s, unsigned int file,
				 struct dmk_buf *buf, uint64_t buf_off,
				 uint64_t file_off, uint64_t len);

/**
 * dmk_stream_path() - the fastest path a request on @file can take here:
 * what an aligned request into a registered, pinnable buffer gets.
 * Requests into other memory take the next path down (dmk_stream_stats()
 * shows what ran).
 * @why: one line in words (io_uring or not and why, the O_DIRECT
 *       alignment or why not, registered buffers and files); owned by the
 *       stream, valid until the next open, registration or free.  May be
 *       NULL.
 *
 * Return: a DMK_STREAM_PATH_* (> 0), or -EBADF (no such file).
 */
DMK_API int dmk_stream_path(const struct dmk_stream *s, unsigned int file,
			    const char **why);

/** dmk_stream_path_name() - "fixed+direct", "direct", ..., "sync", "none". */
DMK_API const char *dmk_stream_path_name(int path);

struct dmk_stream_stats {
	size_t sz;			/* set by the caller */
	uint64_t bytes[DMK_STREAM_NPATHS];	/* moved, by path */
	uint64_t chunks[DMK_STREAM_NPATHS];	/* chunks, by path */
	uint64_t requests;		/* completed */
	uint64_t errors;		/* completed with an error */
	uint64_t short_io;		/* resubmitted after a short read/write */
	uint64_t retries;		/* resubmitted after EINTR/EAGAIN */
	uint64_t fallbacks;		/* chunks redone on a slower path */
	uint32_t inflight;		/* chunks in the kernel now */
	uint32_t queue_depth;
	uint64_t chunk_size;
	uint32_t registered_bufs;
	uint32_t registered_files;	/* 1 when files are registered */
	uint32_t ran;			/* the path that moved most bytes */
	uint32_t reserved0;
};
#define dmk_stream_stats__last_field reserved0

/**
 * dmk_stream_stats() - counters, written up to @st->sz bytes.
 * Return: 0, -EINVAL (@st->sz too small to hold the size field).
 */
DMK_API int dmk_stream_stats(const struct dmk_stream *s,
			     struct dmk_stream_stats *st);

/* ---- frames from and to files ---- */

struct dmk_frame_source;
struct dmk_frame_sink;

/* How frames land in (or leave) buffers. */
enum dmk_frame_io {
	DMK_FRAME_IO_NONE = 0,
	/* The buffer's layout is the file's (tight): one read per frame,
	 * straight into the buffer.  Zero-copy. */
	DMK_FRAME_IO_DIRECT = 1,
	/* Rows are tight but planes are apart: one read per plane, straight
	 * into the buffer.  Zero-copy. */
	DMK_FRAME_IO_PLANES = 2,
	/* Rows are padded (pitch > row bytes): read into a staging area,
	 * then copied row by row. */
	DMK_FRAME_IO_COPY = 3,
};

struct dmk_frame_source_opts {
	size_t sz;
	/*
	 * A raw file of frames with no headers: its DRM fourcc (NV12, R8
	 * (GRAY8), YUV420, ... any format dmk_frame_layout_init() lays out),
	 * width and height.  0: the file is Y4M, which carries its own.
	 */
	uint32_t fourcc;
	uint32_t width;
	uint32_t height;
	/* Frames read ahead of the one the caller works on; 0: 2. */
	unsigned int readahead;
	/* dmk_stream_new() flags and opts for the stream underneath. */
	unsigned int stream_flags;
	const struct dmk_stream_opts *stream_opts;
	/*
	 * How long dmk_frame_source_next() waits for a free pool buffer
	 * when none is reading: 0 (default) fails at once with -ENOBUFS,
	 * < 0 waits forever.
	 */
	int64_t acquire_timeout_ns;
	/*
	 * Optional: where dmk_frame_source_open() writes one line about a
	 * failure ("H tag: 70000 is over 16384"), NUL-terminated, at most
	 * @errmsg_len bytes.  Untouched on success.
	 */
	char *errmsg;
	size_t errmsg_len;
};
#define dmk_frame_source_opts__last_field errmsg_len

/**
 * dmk_frame_source_open() - open a Y4M file, or a raw file of frames.
 * @path:  the file.
 * @flags: none defined yet; must be 0.
 * @opts:  NULL or fourcc 0: Y4M.
 * @out:   the source.
 *
 * A Y4M header is parsed strictly: "YUV4MPEG2" then W, H (1 .. 16384),
 * F, I, A, C and X tags (others are ignored); colour spaces 420jpeg,
 * 420paldv, 420mpeg2, 420 (read as YUV420) and mono (R8).
 *
 * Return: 0, -EBADMSG (not Y4M, or a malformed or truncated header),
 * -ENOTSUP (a colour space or format not handled), -EFBIG (a dimension
 * over 16384, or a frame over 1 GiB), -EINVAL (bad flags or opts), the
 * -errno of opening the file (-ENOENT, -EACCES, -EISDIR, ...), -ENOMEM.
 * On failure @opts->errmsg gets one line about why.
 */
DMK_API int dmk_frame_source_open(const char *path, unsigned int flags,
				  const struct dmk_frame_source_opts *opts,
				  struct dmk_frame_source **out);

/**
 * dmk_frame_source_close() - cancel the reads in flight, give their
 * buffers back to the pool and close the file.  Frames already returned
 * by dmk_frame_source_next() stay the caller's.  NULL is a no-op.
 */
DMK_API void dmk_frame_source_close(struct dmk_frame_source *src);

/**
 * dmk_frame_source_layout() - the file's frames as a tight layout (pitch =
 * row bytes, planes back to back).  A pool made with it gets
 * DMK_FRAME_IO_DIRECT.  Valid while @src is open.
 */
DMK_API const struct dmk_frame_layout *
dmk_frame_source_layout(const struct dmk_frame_source *src);

/**
 * dmk_frame_source_rate() - frames per second as @num / @den (Y4M's F
 * tag; 0/0 when unknown or raw).  Either pointer may be NULL.
 */
DMK_API void dmk_frame_source_rate(const struct dmk_frame_source *src,
				   uint32_t *num, uint32_t *den);

/**
 * dmk_frame_source_start() - bind @pool and start reading ahead.
 * @pool: buffers to read frames into.  Its layout must have the file's
 *        format, width and height (any pitches and offsets), or, without
 *        a layout, buffers of at least the tight frame size.  Not taken:
 *        it must outlive @src.  Its pinnable buffers are registered with
 *        the stream.  It needs readahead + 1 buffers, plus one for each
 *        frame the caller holds at once, to overlap reading and work.
 *
 * Return: 0, -EINVAL (layout mismatch, or started already), -errno.
 */
DMK_API int dmk_frame_source_start(struct dmk_frame_source *src,
				   struct dmk_pool *pool);

/* One frame, as dmk_frame_source_next() hands it over. */
struct dmk_frame_ref {
	unsigned int id;	/* the pool buffer: dmk_pool_release() it */
	unsigned int reserved0;
	uint64_t index;		/* frame number in the file, from 0 */
	struct dmk_buf *buf;	/* borrowed from the pool */
	void *addr;		/* the buffer's mapping */
	uint64_t file_off;	/* where the frame's pixels start in the file */
	uint64_t reserved[2];
};

/**
 * dmk_frame_source_next() - the next frame.  Reads of the frames after it
 * (up to readahead) are in flight when it returns, so they overlap the
 * caller's work on this one.  The caller owns the buffer (@out->id) and
 * gives it back with dmk_pool_release().
 *
 * Return: 1 (a frame in @out), 0 (clean end of the file), or -errno, which
 * sticks: -ENODATA (the file ends inside a frame), -EBADMSG (a frame
 * marker is missing or malformed), -ENOBUFS (no pool buffer is free and
 * none is being read: the caller holds them all), -ETIMEDOUT, -EINTR,
 * -EINVAL (not started), or the I/O's -errno.  dmk_frame_source_error()
 * says more.
 */
DMK_API int dmk_frame_source_next(struct dmk_frame_source *src,
				  struct dmk_frame_ref *out);

/**
 * dmk_frame_source_error() - one line about the last error (frame number,
 * offset, what was expected), "" when there was none.  Owned by @src.
 */
DMK_API const char *
dmk_frame_source_error(const struct dmk_frame_source *src);

/** dmk_frame_source_io() - how frames land in the pool's buffers. */
DMK_API enum dmk_frame_io
dmk_frame_source_io(const struct dmk_frame_source *src);

/**
 * dmk_frame_source_stream() - the stream underneath (borrowed), for
 * dmk_stream_path() (file 0) and dmk_stream_stats().
 */
DMK_API struct dmk_stream *
dmk_frame_source_stream(const struct dmk_frame_source *src);

/** dmk_frame_io_name() - "direct", "planes", "copy" or "none". */
DMK_API const char *dmk_frame_io_name(int io);

enum dmk_frame_sink_flags {
	/* Write bare frames, no Y4M header or FRAME markers. */
	DMK_FRAME_SINK_RAW = 1u << 0,
};

struct dmk_frame_sink_opts {
	size_t sz;
	/* Y4M's F tag; 0/0: "F30:1" is written (Y4M requires the tag). */
	uint32_t fps_num;
	uint32_t fps_den;
	/* dmk_stream_new() flags and opts for the stream underneath. */
	unsigned int stream_flags;
	const struct dmk_stream_opts *stream_opts;
	/* File permissions when it is created; 0: 0644. */
	unsigned int mode;
	/*
	 * Optional: a Y4M source whose F, I, A and C tags the header repeats
	 * (a copy keeps its frame rate, interlacing, aspect ratio and chroma
	 * siting); its frames must have the sink's format.  Set fps_num /
	 * fps_den still win.  Only read during dmk_frame_sink_open().
	 */
	const struct dmk_frame_source *like;
};
#define dmk_frame_sink_opts__last_field like

/**
 * dmk_frame_sink_open() - create (or truncate) @path and write the Y4M
 * header for frames of @layout's format and size.
 * @layout: YUV420 (written as C420jpeg) or R8 (Cmono); with
 *          DMK_FRAME_SINK_RAW any format.  Copied.
 * @flags:  DMK_FRAME_SINK_*.
 *
 * Return: 0, -ENOTSUP (a format Y4M cannot carry), -EINVAL (bad flags or
 * opts, @opts->like of another format), the -errno of creating the file
 * (-EACCES, -EROFS, -EISDIR, ...), -ENOMEM.
 */
DMK_API int dmk_frame_sink_open(const char *path,
				const struct dmk_frame_layout *layout,
				unsigned int flags,
				const struct dmk_frame_sink_opts *opts,
				struct dmk_frame_sink **out);

/**
 * dmk_frame_sink_write() - append one frame, waiting until it is written.
 * @buf:    the frame's buffer (mapped if it was not); only read.
 * @layout: the frame's layout in @buf: the sink's format and size, any
 *          pitches; NULL: the sink's own layout.
 *
 * Return: 0, -EINVAL (a different format or size, a layout past the end
 * of @buf), or the write's -errno (-ENOSPC, -EIO, ...), which sticks.
 */
DMK_API int dmk_frame_sink_write(struct dmk_frame_sink *sink,
				 struct dmk_buf *buf,
				 const struct dmk_frame_layout *layout);

/** dmk_frame_sink_close() - close the file.  NULL is a no-op. */
DMK_API void dmk_frame_sink_close(struct dmk_frame_sink *sink);

/** dmk_frame_sink_stream() - the stream underneath (borrowed). */
DMK_API struct dmk_stream *
dmk_frame_sink_stream(const struct dmk_frame_sink *sink);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_STREAM_H */
