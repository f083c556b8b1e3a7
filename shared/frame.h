/* SPDX-License-Identifier: ISC */
/*
 * frame.h - the one framed protocol spoken between outpost processes.
 *
 * Every link is an AF_UNIX SOCK_SEQPACKET socket: one datagram is one frame,
 * so boundaries never have to be reassembled and a passed descriptor always
 * belongs to exactly one frame.
 *
 * Wire layout (host byte order: both ends run on this machine, but every
 * field is fixed width):
 *
 *   uint32 len    total length, header included, FRAME_HDR_LEN..FRAME_MAX
 *   uint16 type   enum msg_type (msg.h)
 *   uint16 flags  FRAME_F_FD when a descriptor is attached (exactly one)
 *   uint32 reqid  correlates asynchronous answers with their request
 *
 * Payload fields are appended with fbuf_add_*() and read back in the same
 * order with frame_get_*(); strings and byte runs carry a uint32 length.
 * Reading past the end, a string with a NUL inside, or unread trailing bytes
 * (frame_end()) make the frame malformed: the receiver closes the link and
 * treats the sender as compromised.
 */
#ifndef OUTPOST_FRAME_H
#define OUTPOST_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR_LEN	12
#define FRAME_MAX	(128 * 1024)
#define FRAME_PAYLOAD_MAX (FRAME_MAX - FRAME_HDR_LEN)
#define FRAME_F_FD	0x0001
#define FRAME_F_ALL	(FRAME_F_FD)

struct frame_hdr {
	uint32_t	len;
	uint16_t	type;
	uint16_t	flags;
	uint32_t	reqid;
};

/* An outgoing frame under construction. Adds past FRAME_MAX set overflow. */
struct fbuf {
	uint8_t		*data;
	size_t		 len;
	size_t		 cap;
	int		 fd;		/* -1, or a descriptor owned by the fbuf */
	bool		 overflow;
	bool		 wipe;		/* holds a secret: zero the buffer when freed */
	struct fbuf	*next;		/* send queue of a chan */
};

struct fbuf	*fbuf_new(uint16_t type, uint32_t reqid);
void		 fbuf_free(struct fbuf *);	/* closes an attached fd */
void		 fbuf_add_u8(struct fbuf *, uint8_t);
void		 fbuf_add_u16(struct fbuf *, uint16_t);
void		 fbuf_add_u32(struct fbuf *, uint32_t);
void		 fbuf_add_u64(struct fbuf *, uint64_t);
void		 fbuf_add_str(struct fbuf *, const char *);	/* NULL sends "" */
void		 fbuf_add_bytes(struct fbuf *, const void *, size_t);
/* Fixed-size raw bytes, no length prefix (the 16 bytes of an address). */
void		 fbuf_add_raw(struct fbuf *, const void *, size_t);
/* Attach a descriptor; the fbuf owns it from now on. */
void		 fbuf_set_fd(struct fbuf *, int);
/* Room left for payload before FRAME_MAX. */
size_t		 fbuf_room(const struct fbuf *);

/* A received frame being decoded. Points into the receive buffer. */
struct frame {
	struct frame_hdr hdr;
	const uint8_t	*p;		/* payload */
	size_t		 len;		/* payload length */
	size_t		 off;		/* read position */
	int		 fd;		/* attached descriptor or -1; set to -1 to keep it */
	bool		 bad;		/* a getter failed */
};

bool	frame_get_u8(struct frame *, uint8_t *);
bool	frame_get_u16(struct frame *, uint16_t *);
bool	frame_get_u32(struct frame *, uint32_t *);
bool	frame_get_u64(struct frame *, uint64_t *);
/* Copies a string into buf (size bufsz, NUL-terminated); fails if longer or if it holds a NUL. */
bool	frame_get_str(struct frame *, char *buf, size_t bufsz);
/* Same, into a new allocation; fails if longer than maxlen. */
bool	frame_get_strdup(struct frame *, char **out, size_t maxlen);
/* Zero-copy view of a byte run (length-prefixed). */
bool	frame_get_bytes(struct frame *, const uint8_t **p, size_t *len);
/* Exactly n raw bytes (no length prefix). */
bool	frame_get_raw(struct frame *, void *out, size_t n);
/* True when nothing failed and every payload byte was consumed. */
bool	frame_end(struct frame *);

/*
 * Parse a datagram already received into buf (n bytes) with fd attached
 * (or -1). Checks length, flags, known type. Returns 0 and fills f, or -1
 * with *why set; on failure the caller closes fd.
 */
int	frame_parse(const uint8_t *buf, size_t n, int fd, struct frame *f, const char **why);

/*
 * Blocking/non-blocking primitives on a SEQPACKET socket.
 * frame_send: 0 sent, -1 error (errno; EAGAIN when the socket is full).
 * frame_recv: 1 frame in f (decoded from buf, which must hold FRAME_MAX bytes),
 *             0 orderly EOF, -1 error (errno), -2 malformed frame (*why set).
 */
int	frame_send(int sock, const struct fbuf *);
int	frame_recv(int sock, uint8_t *buf, struct frame *f, const char **why);

/* A SEQPACKET socketpair sized for FRAME_MAX, close-on-exec, non-blocking. */
int	frame_socketpair(int sv[2]);

#endif
