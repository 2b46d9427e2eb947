/* SPDX-License-Identifier: MIT */
/* Fuzzes key file text: keyfile_parse_authorized on the input, keyfile_parse_public on it and its lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "fuzz_common.h"
#include "keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One public key line; a key it accepts formats back to a line that parses to the same key. */
static void check_public(const char *line)
{
	uint8_t pub[KEYFILE_KEY_LEN], again[KEYFILE_KEY_LEN];
	char text[KEYFILE_LINE_MAX], fp[KEYFILE_FINGERPRINT_LEN];
	size_t comment = SIZE_MAX;
	int rc;

	rc = keyfile_parse_public(line, pub, &comment);
	FUZZ_CHECK(rc <= 0);
	if (rc)
		return;
	FUZZ_CHECK(comment <= strlen(line));
	FUZZ_CHECK(keyfile_format_public(pub, text, sizeof(text)) == 0);
	FUZZ_CHECK(strncmp(text, KEYFILE_PUB_PREFIX " ", sizeof(KEYFILE_PUB_PREFIX)) == 0);
	FUZZ_CHECK(keyfile_parse_public(text, again, NULL) == 0);
	FUZZ_CHECK(memcmp(pub, again, sizeof(pub)) == 0);
	keyfile_fingerprint(pub, fp);
	FUZZ_CHECK(memchr(fp, '\0', sizeof(fp)) == fp + KEYFILE_FINGERPRINT_LEN - 1);
	FUZZ_CHECK(strncmp(fp, "SHA256:", 7) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], tiny_err[8], *text, *line, *nl;
	keyfile_auth *list = NULL;
	size_t count = SIZE_MAX, i, nlines = 1;
	int rc, rc_tiny;

	/* authorized_keys: exactly SIZE bytes, not NUL-terminated (it may hold NULs) */
	memset(err, 'x', sizeof(err));
	rc = keyfile_parse_authorized((const char *)data, size, &list, &count, err, sizeof(err));
	FUZZ_CHECK(rc <= 0);
	fuzz_check_err(err, sizeof(err), rc);
	for (i = 0; i < size; i++)
		nlines += data[i] == '\n';
	if (rc == 0) {
		FUZZ_CHECK(count <= nlines);
		FUZZ_CHECK(count == 0 || list != NULL);
		for (i = 0; i < count; i++) {
			FUZZ_CHECK((list[i].perms &
			            ~(uint32_t)(CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN)) == 0);
			FUZZ_CHECK(memchr(list[i].comment, '\0', sizeof(list[i].comment)) != NULL);
			/* no key twice */
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(memcmp(list[i].pub, list[j].pub, KEYFILE_KEY_LEN) != 0);
		}
	} else {
		FUZZ_CHECK(list == NULL && count == 0);
	}
	free(list);

	/* the same verdict with an error buffer too small for the reason, which is cut, not overrun */
	list = NULL;
	rc_tiny =
	    keyfile_parse_authorized((const char *)data, size, &list, &count, tiny_err, sizeof(tiny_err));
	FUZZ_CHECK(rc_tiny == rc);
	fuzz_check_err(tiny_err, sizeof(tiny_err), 0);
	free(list);

	/* public key lines: the input up to its first NUL, then each of its lines */
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	check_public(text);
	for (line = text; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		check_public(line);
	}
	free(text);
	return 0;
}
