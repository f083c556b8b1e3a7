/* SPDX-License-Identifier: ISC */
/*
 * sendmail_queue.c - printing the queue listing (outpost-sendmail -bp,
 * mailq) in the layout of Postfix's mailq, which people and scripts know:
 *
 *   -Queue ID-               --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   0005F1A2B3C4D5E6F7A8B9C0     1234 Thu Nov 26 06:00:00  sender@example.org
 *                                  (last reply of a deferred recipient)
 *                                                          rcpt@example.net
 *
 *   -- 2 Kbytes in 1 Request.
 *
 * Recipients already delivered or bounced are not shown. Every string
 * came from the queue (hence from submitters and remote servers): control
 * characters are replaced before they reach the terminal.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "msg.h"
#include "sendmail.h"

static void
print_clean(const char *s)
{
	for (; *s != '\0'; s++)
		putchar(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s);
}

void
queue_print_header(void)
{
	printf("-Queue ID-               --Size-- ----Arrival Time---- "
	    "-Sender/Recipient-------\n");
}

int
queue_print_entry(struct frame *f, uint64_t *size)
{
	char id[QUEUE_ID_MAX], sender[ADDR_MAX], addr[ADDR_MAX], reply[REPLY_MAX];
	char when[32];
	uint64_t arrival, next;
	uint32_t flags, nrcpt, attempts;
	uint16_t n, i;
	uint8_t state;
	time_t t;
	struct tm tm;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_get_u64(f, &arrival) ||
	    !frame_get_u64(f, size) || !frame_get_u32(f, &flags) ||
	    !frame_get_str(f, sender, sizeof(sender)) || !frame_get_u32(f, &nrcpt) ||
	    !frame_get_u16(f, &n) || n > nrcpt)
		return -1;
	t = (time_t)arrival;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
		strlcpy(when, "?", sizeof(when));
	print_clean(id);
	printf("%s %8llu %-20s  ", (flags & MAIL_F_HELD) ? "!" : " ",
	    (unsigned long long)*size, when);
	print_clean(sender[0] ? sender : "MAILER-DAEMON");
	putchar('\n');
	for (i = 0; i < n; i++) {
		if (!frame_get_str(f, addr, sizeof(addr)) || !frame_get_u8(f, &state) ||
		    !frame_get_u32(f, &attempts) || !frame_get_u64(f, &next) ||
		    !frame_get_str(f, reply, sizeof(reply)))
			return -1;
		if (state == RCPT_DELIVERED || state == RCPT_FAILED)
			continue;
		if (state == RCPT_DEFERRED && reply[0] != '\0') {
			printf("%*s(", 33, "");
			print_clean(reply);
			printf(")\n");
		}
		printf("%*s", 57, "");
		print_clean(addr);
		putchar('\n');
	}
	if (n < nrcpt)
		printf("%*s(%u more recipients)\n", 57, "", nrcpt - n);
	putchar('\n');
	return frame_end(f) ? 0 : -1;
}

void
queue_print_footer(uint32_t nmails, uint64_t total)
{
	if (nmails == 0) {
		printf("Mail queue is empty\n");
		return;
	}
	printf("-- %llu Kbytes in %u Request%s.\n", (unsigned long long)((total + 1023) / 1024),
	    nmails, nmails == 1 ? "" : "s");
}
