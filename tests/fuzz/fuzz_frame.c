/* SPDX-License-Identifier: ISC */
/*
 * fuzz_frame.c - libFuzzer target for the IPC frame decoder: header checks
 * and the per-type layout check must reject or accept, never crash, for any
 * datagram. The first byte decides whether a descriptor is "attached".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t	 buf[FRAME_MAX];
	struct frame	 f;
	const char	*why;
	char		 s[64];
	uint64_t	 v;

	if (size < 1 || size - 1 > FRAME_MAX)
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (frame_parse(buf, size - 1, (data[0] & 1) ? 1000 : -1, &f, &why) == 0) {
		/* A valid frame must also survive arbitrary getter sequences. */
		while (!f.bad && f.off < f.len) {
			if (!frame_get_str(&f, s, sizeof(s)))
				break;
			if (!frame_get_u64(&f, &v))
				break;
		}
	}
	return 0;
}
