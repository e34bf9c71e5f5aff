/* SPDX-License-Identifier: MIT */
/* The signature options shared by apply and plan, and the check they ask for. */
#define _GNU_SOURCE 1
#include <string.h>

#include "cli.h"

const char cli_trust_usage[] =
	"Signatures (with --pubkey or --ca-file the header must be signed; it is checked\n"
	"before any source is read or anything written, exit status 5 when it fails):\n"
	"      --pubkey FILE        PEM public key: a raw Ed25519, ECDSA P-256 or RSA\n"
	"                           (PKCS#1 v1.5 or PSS, SHA-256) signature\n"
	"      --ca-file FILE       PEM CA bundle: a CMS (PKCS#7) signature whose signer\n"
	"                           chains up to one of these certificates\n"
	"      --cert-purpose P     CMS signer purpose: smimesign (default), codesign, any\n"
	"      --signature FILE     the detached signature (zckup sign, openssl)\n"
	"      --signature-url URL  the same, from http://, https:// or file://\n"
	"      --metadata FILE      the signed metadata (version, expiry, hardware)\n"
	"      --metadata-url URL   the same, from http://, https:// or file://\n"
	"      --min-version V      refuse an image whose signed version is lower than V\n"
	"                           (numbers and dots: 1.2 < 1.10); needs --metadata\n"
	"      --hw-compat STRING   the device's hardware: refuse an image signed for\n"
	"                           other hardware; needs --metadata\n";

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) ||
	       !strncmp(s, "file://", 7);
}

int cli_trust_option(int c, const char *arg, struct cli_trust *t)
{
	switch (c) {
	case CLI_OPT_PUBKEY:
		t->o.pubkey = arg;
		break;
	case CLI_OPT_CA_FILE:
		t->o.ca_file = arg;
		break;
	case CLI_OPT_CERT_PURPOSE:
		if (!strcmp(arg, "smimesign"))
			t->o.purpose = ZCKUP_PURPOSE_SMIME_SIGN;
		else if (!strcmp(arg, "codesign"))
			t->o.purpose = ZCKUP_PURPOSE_CODE_SIGN;
		else if (!strcmp(arg, "any"))
			t->o.purpose = ZCKUP_PURPOSE_ANY;
		else
			return cli_usage_error("--cert-purpose wants smimesign, codesign or any, "
					       "not '%s'", arg);
		break;
	case CLI_OPT_SIGNATURE:
	case CLI_OPT_SIGNATURE_URL:
		if (t->o.signature)
			return cli_usage_error("give the signature once (--signature or "
					       "--signature-url)");
		if (c == CLI_OPT_SIGNATURE && is_url(arg))
			return cli_usage_error("--signature wants a file; use --signature-url");
		if (c == CLI_OPT_SIGNATURE_URL && !is_url(arg))
			return cli_usage_error("--signature-url wants http://, https:// or "
					       "file://, not '%s'", arg);
		t->o.signature = arg;
		break;
	case CLI_OPT_METADATA:
	case CLI_OPT_METADATA_URL:
		if (t->o.metadata)
			return cli_usage_error("give the metadata once (--metadata or "
					       "--metadata-url)");
		if (c == CLI_OPT_METADATA && is_url(arg))
			return cli_usage_error("--metadata wants a file; use --metadata-url");
		if (c == CLI_OPT_METADATA_URL && !is_url(arg))
			return cli_usage_error("--metadata-url wants http://, https:// or "
					       "file://, not '%s'", arg);
		t->o.metadata = arg;
		break;
	case CLI_OPT_MIN_VERSION:
		if (zckup_version_compare(arg, arg, &(int){ 0 }) < 0)
			return cli_usage_error("--min-version wants numbers and dots (1.2.10), "
					       "not '%s'", arg);
		t->o.min_version = arg;
		break;
	case CLI_OPT_HW_COMPAT:
		t->o.hw_compat = arg;
		break;
	default:
		return CLI_NOT_COMMON;
	}
	t->set = true;
	return EXIT_OK;
}

int cli_trust_check(const struct cli_trust *t)
{
	if (!t->set)
		return EXIT_OK;
	if (t->o.pubkey && t->o.ca_file)
		return cli_usage_error("give --pubkey or --ca-file, not both");
	if (!t->o.pubkey && !t->o.ca_file)
		return cli_usage_error("signature options need --pubkey or --ca-file: without "
				       "one, nothing would be checked");
	if (t->o.purpose != ZCKUP_PURPOSE_SMIME_SIGN && !t->o.ca_file)
		return cli_usage_error("--cert-purpose goes with --ca-file");
	return EXIT_OK;
}

int cli_trust_verify(zckup_ctx *ctx, const struct cli_trust *t, const zckup_header *h,
		     bool quiet)
{
	static const char *const kinds[] = { "none", "Ed25519", "ECDSA P-256", "RSA PKCS#1 v1.5",
					      "RSA-PSS", "CMS" };
	struct zckup_trust_info in;
	int r;

	if (!t->o.pubkey && !t->o.ca_file)
		return 0;
	r = zckup_header_verify(ctx, h, &t->o, &in);
	if (r < 0 || quiet)
		return r;
	fprintf(stderr, "signature: %s, verified%s%s%s%s\n",
		(unsigned)in.kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[in.kind] : "?",
		in.signer[0] ? " (signer " : "", in.signer, in.signer[0] ? ")" : "",
		in.has_metadata ? "" : "; no signed metadata");
	if (in.has_metadata)
		fprintf(stderr, "version:   %s%s%s\n", in.version, in.hw_compat[0] ? ", hardware " : "",
			in.hw_compat);
	return 0;
}
