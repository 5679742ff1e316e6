/* SPDX-License-Identifier: MIT */
/*
 * The channel's wire format: control messages on the SOCK_SEQPACKET
 * socket and the layout of the shared ring memfd.  Private to libdmakit
 * (never installed); the tests include it to build hostile peers that
 * speak the real protocol.
 *
 * Both peers run on one host, so fields are in host byte order.  Every
 * message starts with struct msg_hdr; len is the whole message and nfds
 * the number of fds that travel with it in one SCM_RIGHTS block.
 * Handshake: consumer HELLO; producer WELCOME (fds: ring memfd, frame
 * eventfd, release eventfd), BUFFERS (one fd per buffer, in id order, at
 * most MAX_FDS a message), READY.  Either side may send GOODBYE at any
 * time; nothing else travels after READY.
 */
#ifndef DMK_CHAN_WIRE_H
#define DMK_CHAN_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <dmakit/chan.h>
#include <dmakit/frame.h>

#define CHAN_MAGIC 0x434b4d44u		/* "DMKC" */
#define RING_MAGIC 0x31474e49524b4d44ull	/* "DMKRING1" */
#define MAX_FDS 253			/* SCM_MAX_FD */
#define MSG_MAX 1024
#define SLOT_SIZE 128

enum msg_type {
	MSG_HELLO = 1,
	MSG_WELCOME = 2,
	MSG_BUFFERS = 3,
	MSG_READY = 4,
	MSG_GOODBYE = 5,
};

struct msg_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t version;
	uint32_t len;		/* whole message */
	uint32_t nfds;		/* fds that travel with it */
};

struct msg_hello {
	struct msg_hdr h;
	uint32_t features;
	uint32_t pad;
	char name[32];
};

struct msg_welcome {
	struct msg_hdr h;
	uint32_t consumer_id;
	uint32_t nslots;
	uint32_t nrel;
	uint32_t nbufs;
	uint64_t ring_size;
	uint64_t buf_size;
	uint32_t has_layout;
	uint32_t pad;
	struct dmk_frame_layout layout;
};	/* fds: ring memfd, frame eventfd, release eventfd */

struct msg_buffers {
	struct msg_hdr h;
	uint32_t first_id;
	uint32_t count;		/* ids first_id .. first_id + count - 1 */
};	/* fds: one per buffer */

struct msg_goodbye {
	struct msg_hdr h;
	int32_t reason;		/* 0, or a positive errno */
	uint32_t pad;
};

/*
 * The ring memfd: this header, nslots frame slots, nrel release entries.
 * The producer creates, sizes and seals it; both sides map it shared, so
 * every field is a claim to check, never a truth.
 */
struct ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t nslots;
	uint32_t nrel;
	uint32_t nbufs;
	uint64_t size;
	/* producer-written */
	_Alignas(64) _Atomic uint64_t head;
	_Atomic uint64_t dropped;
	_Atomic uint32_t closed;
	_Atomic uint32_t prod_waiting;
	_Atomic uint64_t rel_tail;
	/* written by both: the claim point */
	_Alignas(64) _Atomic uint64_t tail;
	/* consumer-written */
	_Alignas(64) _Atomic uint64_t rel_head;
	_Atomic uint32_t cons_waiting;
};

struct ring_slot {
	_Atomic uint64_t seq;	/* frame number + 1 once written */
	uint32_t buf_id;
	uint32_t flags;
	uint64_t frame_id;
	uint64_t ts_ns;
	uint32_t meta_len;
	uint32_t pad;
	uint8_t meta[DMK_META_MAX];
	uint8_t pad2[SLOT_SIZE - 104];
};
_Static_assert(sizeof(struct ring_slot) == SLOT_SIZE, "slot size");

/*
 * A release names the buffer and the frame it came with: (frame << 13) |
 * buffer id, the frame being the ring index the consumer claimed.  A
 * release of a buffer the consumer holds under another frame (released
 * twice, re-published since, or never claimed) is caught by the frame.
 */
#define REL_ID_BITS 13
_Static_assert(DMK_POOL_MAX <= (1u << REL_ID_BITS), "pool ids fit");
#define REL_ENTRY(frame, id) (((uint64_t)(frame) << REL_ID_BITS) | (id))
#define REL_ID(e) ((uint32_t)((e) & ((1u << REL_ID_BITS) - 1)))
#define REL_FRAME(e) ((e) >> REL_ID_BITS)

/* Bytes of a ring memfd with @nslots slots and @nrel release entries,
 * rounded up to whole pages. */
static inline size_t ring_bytes(uint32_t nslots, uint32_t nrel)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t sz = sizeof(struct ring_hdr) + (size_t)nslots * SLOT_SIZE +
		    (size_t)nrel * sizeof(uint64_t);

	return (sz + page - 1) & ~(page - 1);
}

#endif /* DMK_CHAN_WIRE_H */
