/* SPDX-License-Identifier: MIT */
/*
 * dmakit channels: hand frames from one producer to any number of
 * consumer processes without copying them and without a syscall per frame.
 *
 * The control connection is a unix SOCK_SEQPACKET socket: a versioned
 * handshake, peer credentials checked against an access policy, every
 * pool buffer's fd sent exactly once (in SCM_RIGHTS batches of at most
 * 253), and goodbye.  Frames then travel through a per-consumer ring in
 * shared memory (a sealed memfd): buffer id, frame id, timestamp, flags
 * and a little user metadata per slot.  When a consumer lags, the
 * producer reclaims the oldest frame it has not started reading (a frame
 * being read is never taken back).  Consumers release buffers through a
 * second ring in the same memory; a buffer returns to the producer's pool
 * once every consumer released it, or died.
 *
 * Everything a peer writes (messages, fds, shared memory) is checked
 * before use; a peer that breaks the protocol is disconnected with
 * -EPROTO.  A channel is used by one thread at a time.
 */
#ifndef DMAKIT_CHAN_H
#define DMAKIT_CHAN_H

#include <stdint.h>
#include <sys/types.h>

#include <dmakit/buf.h>
#include <dmakit/common.h>
#include <dmakit/frame.h>
#include <dmakit/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_chan;

#define DMK_CHAN_VERSION 1
#define DMK_META_MAX 64		/* user metadata bytes per frame */
#define DMK_CHAN_MAX_SLOTS 1024
#define DMK_CHAN_MAX_UIDS 16

/*
 * One frame as it travels.  Exposed because it is filled on every frame;
 * the reserved space keeps room for growth.
 */
struct dmk_frame_info {
	uint64_t frame_id;	/* the producer's count, or its own ids */
	uint64_t ts_ns;		/* CLOCK_MONOTONIC; 0 on publish: now */
	uint32_t buf_id;	/* pool id; set by dmk_chan_recv() */
	uint32_t flags;		/* the application's */
	uint32_t meta_len;	/* bytes of meta in use, <= DMK_META_MAX */
	uint32_t reserved0;
	uint8_t meta[DMK_META_MAX];
	uint64_t reserved[2];
};

enum dmk_chan_flags {
	/* Consumer: spin on the ring instead of sleeping on an eventfd. */
	DMK_CHAN_BUSY_POLL = 1u << 0,
};

struct dmk_chan_opts {
	size_t sz;
	unsigned int flags;	/* DMK_CHAN_* */
	/*
	 * Producer: ring slots per consumer, a power of two.  0: 8, halved
	 * until at most half the pool, so a consumer that stops reading
	 * cannot tie up the whole pool with unread frames.
	 */
	unsigned int nslots;
	/* Producer: most consumers at once; 0: 16. */
	unsigned int max_consumers;
	/*
	 * Producer: uids allowed to connect besides the producer's own
	 * (root included only when listed or when the producer is root).
	 */
	const uid_t *allow_uids;
	unsigned int n_allow_uids;	/* <= DMK_CHAN_MAX_UIDS */
	/* Consumer: a name the producer shows; NULL: "consumer". */
	const char *name;
};
#define dmk_chan_opts__last_field name

/**
 * dmk_chan_serve() - listen on @path for consumers of @pool's buffers.
 * @path: a filesystem path for the socket (not abstract); a stale socket
 *        file there is replaced, any other file is left alone (-EEXIST).
 *        The socket is made 0600 before anyone can connect (0666 when
 *        opts->allow_uids lets other users in: SO_PEERCRED then keeps
 *        everyone else out).
 * @pool: not owned; must outlive the channel.
 *
 * Return: 0, -EINVAL, -ENAMETOOLONG (path over 107 bytes), -EADDRINUSE
 * (a live producer is listening there), -EEXIST (a file that is not a
 * socket is there), -errno.
 */
DMK_API int dmk_chan_serve(const char *path, struct dmk_pool *pool,
			   const struct dmk_chan_opts *opts,
			   struct dmk_chan **out);

/**
 * dmk_chan_connect() - connect to a producer, complete the handshake,
 * receive and validate every buffer and the ring.
 * @timeout_ms: for the whole handshake; < 0 waits forever.
 *
 * Return: 0, -ENOENT / -ECONNREFUSED (no producer), -EACCES (refused by
 * the producer's policy), -EPROTONOSUPPORT (the producer speaks another
 * protocol version), -EPROTO (a malformed or hostile handshake: bad fds, a
 * buffer shorter than announced, a layout outside its buffer...),
 * -ETIMEDOUT (no complete handshake in @timeout_ms, a full listen backlog
 * included), -ECONNRESET (the producer hung up), -errno.
 */
DMK_API int dmk_chan_connect(const char *path,
			     const struct dmk_chan_opts *opts, int timeout_ms,
			     struct dmk_chan **out);

/**
 * dmk_chan_close() - say goodbye and free everything.  A producer's
 * consumers see -EPIPE once they have drained their rings; a consumer's
 * held buffers go back to the producer.  NULL is a no-op.
 */
DMK_API void dmk_chan_close(struct dmk_chan *chan);

/**
 * dmk_chan_fd() - an fd that polls readable when dmk_chan_dispatch()
 * (producer) or dmk_chan_recv() (consumer, eventfd mode) has work.
 * Borrowed.
 */
DMK_API int dmk_chan_fd(const struct dmk_chan *chan);

/**
 * dmk_chan_dispatch() - producer: accept consumers, run handshakes,
 * notice goodbyes and deaths, collect releases.
 * @timeout_ms: 0 polls, < 0 waits forever.
 *
 * A consumer that dies or breaks the protocol is dropped here and its
 * buffers return to the pool; the channel itself goes on.
 *
 * Return: the number of events handled, or -errno (-EINTR).
 */
DMK_API int dmk_chan_dispatch(struct dmk_chan *chan, int timeout_ms);

/**
 * dmk_chan_publish() - producer: hand buffer @buf_id to every ready
 * consumer.  The producer keeps its own hold on the buffer: release it
 * with dmk_pool_release() when done writing (usually right after).
 * @info: frame id, timestamp, flags and metadata (buf_id is ignored); may
 *        be NULL.
 *
 * No syscall unless a consumer sleeps (one eventfd write to wake it).
 *
 * Return: the number of consumers it went to, -EINVAL (bad id, metadata
 * too long, a buffer the caller does not hold), -errno.
 */
DMK_API int dmk_chan_publish(struct dmk_chan *chan, unsigned int buf_id,
			     const struct dmk_frame_info *info);

/**
 * dmk_chan_recv() - consumer: take the next frame.
 * @info: filled with the frame; info->buf_id is also the return value.
 * @timeout_ns: 0 polls; < 0 waits forever.
 *
 * The buffer is the caller's until dmk_chan_release().
 *
 * In eventfd mode a call that finds nothing arms the wakeup, so
 * dmk_chan_fd() polls readable when the next frame comes.  Busy-poll mode
 * spins until @timeout_ns and is not interrupted by signals: give it a
 * finite timeout when a signal must be able to stop the caller.
 *
 * Return: the buffer id, -EAGAIN (nothing, timeout 0), -ETIMEDOUT, -EPIPE
 * (the producer is gone and the ring is drained), -EPROTO (the producer
 * broke the protocol; the channel stays failed), -EINTR.
 */
DMK_API int dmk_chan_recv(struct dmk_chan *chan, struct dmk_frame_info *info,
			  int64_t timeout_ns);

/**
 * dmk_chan_release() - consumer: give a received buffer back.
 *
 * Return: 0, -ENOENT (not held), -EPIPE (the producer is gone: nothing to
 * give back to; the buffer is dropped here).
 */
DMK_API int dmk_chan_release(struct dmk_chan *chan, unsigned int buf_id);

/** dmk_chan_buf() - buffer @id (borrowed), NULL for an unknown id. */
DMK_API struct dmk_buf *dmk_chan_buf(const struct dmk_chan *chan,
				     unsigned int id);

/** dmk_chan_addr() - buffer @id's mapping, NULL for an unknown id. */
DMK_API void *dmk_chan_addr(const struct dmk_chan *chan, unsigned int id);

/** dmk_chan_nbufs() - number of buffers (pool size). */
DMK_API unsigned int dmk_chan_nbufs(const struct dmk_chan *chan);

/** dmk_chan_layout() - the frame layout, NULL for raw buffers. */
DMK_API const struct dmk_frame_layout *
dmk_chan_layout(const struct dmk_chan *chan);

struct dmk_chan_stats {
	size_t sz;		/* set by the caller */
	uint64_t frames;	/* producer: published; consumer: received */
	uint64_t dropped;	/* frames reclaimed from lagging consumers */
	uint64_t releases;	/* buffers given back */
	uint32_t consumers;	/* producer: ready consumers now */
	uint32_t held;		/* consumer: buffers held now */
	uint64_t refused;	/* producer: connections refused */
	uint64_t disconnects;	/* producer: consumers dropped (death,
				 * goodbye or protocol error) */
};
#define dmk_chan_stats__last_field disconnects

/** dmk_chan_stats() - counters, written up to @st->sz bytes; 0 or -EINVAL. */
DMK_API int dmk_chan_stats(const struct dmk_chan *chan,
			   struct dmk_chan_stats *st);

/**
 * dmk_chan_error() - why a failed channel failed (a sticky -errno), or 0.
 */
DMK_API int dmk_chan_error(const struct dmk_chan *chan);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_CHAN_H */
