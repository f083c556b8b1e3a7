/* SPDX-License-Identifier: ISC */
/*
 * dkim_keygen.c - outpostctl dkim-keygen: a new DKIM key pair.
 *
 *   outpostctl dkim-keygen [-d DIR] DOMAIN SELECTOR [rsa|ed25519]
 *
 * Writes the private key (PEM PKCS#8, mode 0600, owned by the caller: run it
 * as root, for the master reads only root's key files) to
 * DIR/DOMAIN.SELECTOR.key (DIR defaults to SYSCONFDIR/dkim; an existing file
 * is never overwritten), then prints the [dkim] line and the TXT record to
 * publish. RSA keys have 2048 bits; Ed25519 keys (RFC 8463) are best signed
 * alongside an RSA one, as not every verifier knows them yet.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "addr.h"
#include "dkim_conf.h"
#include "dkim_sign.h"
#include "outpostctl.h"

static EVP_PKEY *
keygen(int alg)
{
	EVP_PKEY_CTX *pc;
	EVP_PKEY *pk = NULL;

	pc = EVP_PKEY_CTX_new_id(alg == DKIM_ED25519_SHA256 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
	if (pc == NULL || EVP_PKEY_keygen_init(pc) != 1 ||
	    (alg == DKIM_RSA_SHA256 && EVP_PKEY_CTX_set_rsa_keygen_bits(pc, 2048) != 1) ||
	    EVP_PKEY_keygen(pc, &pk) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(pc);
	return pk;
}

/* The TXT record in strings of at most 255 characters (RFC 1035 character-strings). */
static void
print_txt(const char *selector, const char *domain, const char *rec)
{
	size_t n = strlen(rec);

	printf("%s._domainkey.%s. IN TXT (", selector, domain);
	for (size_t off = 0; off < n; off += 255)
		printf(" \"%.*s\"", (int)(n - off > 255 ? 255 : n - off), rec + off);
	printf(" )\n");
}

int
cmd_dkim_keygen(int argc, char **argv)
{
	const char *dir = SYSCONFDIR "/dkim", *why, *domain, *selector;
	char path[1100], *rec = NULL, *pem;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	long pemlen;
	int alg = DKIM_RSA_SHA256, fd = -1, rc = 1;

	if (argc >= 3 && strcmp(argv[1], "-d") == 0) {
		dir = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 3 || argc > 4 || (argc == 4 && (alg = dkim_alg_parse(argv[3])) < 0)) {
		fprintf(stderr, "usage: outpostctl dkim-keygen [-d DIR] DOMAIN SELECTOR [rsa|ed25519]\n");
		return 2;
	}
	domain = argv[1];
	selector = argv[2];
	if (addr_check_domain(domain, strlen(domain), &why) == -1 || domain[0] == '[') {
		fprintf(stderr, "outpostctl: \"%s\" is not a domain\n", domain);
		return 2;
	}
	if (strlen(selector) == 0 || strlen(selector) >= DKIM_SELECTOR_MAX ||
	    strspn(selector, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
	    strlen(selector)) {
		fprintf(stderr, "outpostctl: \"%s\" is not a selector\n", selector);
		return 2;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.%s.key", dir, domain, selector) >= sizeof(path)) {
		fprintf(stderr, "outpostctl: path too long\n");
		return 2;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "outpostctl: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if ((pk = keygen(alg)) == NULL || (rec = dkim_txt_record(pk)) == NULL) {
		fprintf(stderr, "outpostctl: key generation failed\n");
		goto done;
	}
	/* Secure-heap BIO: the PEM text is wiped when the BIO is freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
		fprintf(stderr, "outpostctl: cannot encode the key\n");
		goto done;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		fprintf(stderr, "outpostctl: %s: %s\n", path, strerror(errno));
		goto done;
	}
	if (write(fd, pem, (size_t)pemlen) != pemlen || fsync(fd) == -1 || close(fd) == -1) {
		fprintf(stderr, "outpostctl: %s: %s\n", path, strerror(errno));
		fd = -1;
		(void)unlink(path);
		goto done;
	}
	fd = -1;
	printf("# private key written to %s\n", path);
	printf("# [dkim] entry:\n%s = %s:%s %s\n", domain, selector, path,
	    alg == DKIM_ED25519_SHA256 ? "ed25519" : "rsa");
	printf("# TXT record to publish:\n");
	print_txt(selector, domain, rec);
	rc = 0;
done:
	if (fd != -1)
		close(fd);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	free(rec);
	return rc;
}
