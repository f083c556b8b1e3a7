/* SPDX-License-Identifier: ISC */
/*
 * agent_auth.c - SMTP AUTH (RFC 4954) credentials of the delivery agent:
 * the relay user and password the master sends in MSG_CTL_RELAY_AUTH, kept
 * in guarded memory (sodium_malloc) and wiped when replaced and at exit,
 * plus the pure pieces of the exchange: mechanism choice, the PLAIN and
 * LOGIN responses (base64 by libsodium) and the masking of command lines
 * for logs. agent.c passes the control frame in; agent_session.c runs the
 * exchange (to the relay host only). The password never reaches a log.
 */
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "frame.h"
#include "log.h"
#include "msg.h"

#include "agent.h"

/* Written only here: set by auth_ctl_frame(), wiped by auth_clear(). */
static char	*cred_user;	/* sodium_malloc(AUTH_USER_MAX) */
static char	*cred_pass;	/* sodium_malloc(AUTH_PASS_MAX) */
static bool	 cred_set;

/* sodium_malloc needs it; cheap once done. */
static void
auth_sodium(void)
{
	if (sodium_init() < 0)
		fatalx("agent: sodium_init");
}

static void
cred_alloc(void)
{
	if (cred_user != NULL)
		return;
	auth_sodium();
	if ((cred_user = sodium_malloc(AUTH_USER_MAX)) == NULL ||
	    (cred_pass = sodium_malloc(AUTH_PASS_MAX)) == NULL)
		fatalx("agent: sodium_malloc for the relay credentials");
	sodium_memzero(cred_user, AUTH_USER_MAX);
	sodium_memzero(cred_pass, AUTH_PASS_MAX);
}

void
auth_clear(void)
{
	if (cred_user != NULL) {
		/* sodium_free wipes before it unmaps. */
		sodium_free(cred_user);
		sodium_free(cred_pass);
		cred_user = cred_pass = NULL;
	}
	cred_set = false;
}

bool
auth_have(void)
{
	return cred_set;
}

int
auth_ctl_frame(struct frame *f)
{
	bool	 ok;

	if (f->hdr.type != MSG_CTL_RELAY_AUTH)
		return -1;
	cred_alloc();
	sodium_memzero(cred_user, AUTH_USER_MAX);
	sodium_memzero(cred_pass, AUTH_PASS_MAX);
	ok = frame_get_str(f, cred_user, AUTH_USER_MAX) &&
	    frame_get_str(f, cred_pass, AUTH_PASS_MAX) && frame_end(f);
	/* The receive buffer's copy goes now, whatever the frame held. */
	if (f->p != NULL && f->len > 0)
		sodium_memzero((void *)(uintptr_t)f->p, f->len);
	if (!ok) {
		auth_clear();
		log_warnx("malformed relay credentials from the master");
		return -1;
	}
	cred_set = cred_user[0] != '\0' && cred_pass[0] != '\0';
	log_detail("relay credentials %s", cred_set ? "received" : "cleared");
	return 0;
}

int
auth_choose(const char *offered)
{
	char		 buf[sizeof(((struct ehlo_caps *)0)->auth)];
	char		*p, *w;
	bool		 plain = false, login = false;

	strlcpy(buf, offered, sizeof(buf));
	for (p = buf; (w = strsep(&p, " \t")) != NULL;) {
		if (strcasecmp(w, "PLAIN") == 0)
			plain = true;
		else if (strcasecmp(w, "LOGIN") == 0)
			login = true;
	}
	if (plain)
		return AUTH_MECH_PLAIN;
	if (login)
		return AUTH_MECH_LOGIN;
	return AUTH_MECH_NONE;
}

const char *
auth_mech_name(int mech)
{
	switch (mech) {
	case AUTH_MECH_PLAIN:
		return "PLAIN";
	case AUTH_MECH_LOGIN:
		return "LOGIN";
	default:
		return "none";
	}
}

static int
b64(char *out, size_t outlen, const unsigned char *in, size_t inlen)
{
	if (sodium_base64_ENCODED_LEN(inlen, sodium_base64_VARIANT_ORIGINAL) > outlen)
		return -1;
	sodium_bin2base64(out, outlen, in, inlen, sodium_base64_VARIANT_ORIGINAL);
	return (int)strlen(out);
}

int
auth_plain_response(const char *user, const char *pass, char *out, size_t outlen)
{
	unsigned char	*raw;
	size_t		 ul = strlen(user), pl = strlen(pass), n = ul + pl + 2;
	int		 r;

	/* RFC 4616: authzid (empty) NUL authcid NUL passwd. */
	if (ul >= AUTH_USER_MAX || pl >= AUTH_PASS_MAX)
		return -1;
	auth_sodium();
	if ((raw = sodium_malloc(n)) == NULL)
		return -1;
	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, pass, pl);
	r = b64(out, outlen, raw, n);
	sodium_free(raw);
	return r;
}

int
auth_login_response(const char *text, char *out, size_t outlen)
{
	return b64(out, outlen, (const unsigned char *)text, strlen(text));
}

int
auth_response(int mech, unsigned step, char *out, size_t outlen)
{
	if (!cred_set)
		return -1;
	switch (mech) {
	case AUTH_MECH_PLAIN:
		return step == 0 ? auth_plain_response(cred_user, cred_pass, out, outlen) : -1;
	case AUTH_MECH_LOGIN:
		if (step == 0)
			return auth_login_response(cred_user, out, outlen);
		if (step == 1)
			return auth_login_response(cred_pass, out, outlen);
		return -1;
	default:
		return -1;
	}
}

const char *
auth_user(void)
{
	return cred_set ? cred_user : "";
}

void
auth_mask(const char *line, bool secret, char *out, size_t outlen)
{
	const char	*sp;

	if (secret) {
		/* A bare response line: nothing of it is shown. */
		strlcpy(out, "****", outlen);
		return;
	}
	if (strncasecmp(line, "AUTH ", 5) != 0) {
		strlcpy(out, line, outlen);
		return;
	}
	/* "AUTH <mechanism>" stays, an initial response becomes ****. */
	if ((sp = strchr(line + 5, ' ')) == NULL) {
		strlcpy(out, line, outlen);
		return;
	}
	snprintf(out, outlen, "%.*s ****", (int)(sp - line), line);
}

bool
agent_addr_loopback(const struct agent_addr *a)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (a->ss.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)&a->ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->ss.ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)&a->ss;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}
