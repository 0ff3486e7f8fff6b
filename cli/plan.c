/* bulkhead plan / apply / confirm: what a policy checkout would change on
 * each host, and pushing exactly that reviewed plan, commit-confirmed. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "cli.h"
#include "output.h"

#define PLAN_MAGIC "bulkhead-plan 1\n"

/* What the controller reports each host holds. */
struct applied {
	struct reply r;		 /* r.hosts: mode, hash */
	struct host_policy **hp; /* per row; NULL when none or not stored */
	size_t nhp;
	struct policy_wire_rx *rx;
	const char *err;
};

/* A WIRE_POLICY frame: part of the policy of the last host row. */
static int applied_frame(const struct wire_frame *f, const union msg *m, void *arg)
{
	struct applied *ap = arg;
	size_t row = ap->r.hosts.n - 1;
	int rc;

	if (f->type != WIRE_POLICY || ap->r.hosts.n == 0)
		return -1;
	rc = policy_wire_rx_add(ap->rx, f, &ap->err);
	if (rc < 0) {
		fprintf(stderr, "bulkhead plan: policy of %s from the controller: %s\n",
			MSG_AT(&ap->r.hosts, row, ctl_host)->name, ap->err);
		return -1;
	}
	if (rc == 1) {
		ap->hp = realloc(ap->hp, sizeof(*ap->hp) * (row + 1));
		if (!ap->hp)
			fatal("out of memory");
		while (ap->nhp <= row)
			ap->hp[ap->nhp++] = NULL;
		ap->hp[row] = policy_wire_rx_take(ap->rx);
	}
	return 0;
}

static const struct host_policy *applied_find(const struct applied *ap, const char *host,
					      const struct msg_ctl_host **row)
{
	for (size_t i = 0; i < ap->r.hosts.n; i++)
		if (strcmp(MSG_AT(&ap->r.hosts, i, ctl_host)->name, host) == 0) {
			*row = MSG_AT(&ap->r.hosts, i, ctl_host);
			return i < ap->nhp ? ap->hp[i] : NULL;
		}
	*row = NULL;
	return NULL;
}

static const char *elem_set(const struct policy_elem *e, int in)
{
	static const char *const names[2][2][2] = {
	    {{"allow_out4", "allow_out6"}, {"ping_out4", "ping_out6"}},
	    {{"allow_in4", "allow_in6"}, {"ping_in4", "ping_in6"}},
	};
	int ping = e->proto == IPPROTO_ICMP || e->proto == IPPROTO_ICMPV6;

	return names[in][ping][e->family == AF_INET6];
}

static int elem_cmp(const void *pa, const void *pb)
{
	return memcmp(pa, pb, sizeof(struct policy_elem));
}

/* One element added (+) or removed (-): a line, or with --json an object
 * of the host's "changes" (*first says whether one came before). */
static void elem_print(char op, const char *set, const char *text, bool *first)
{
	if (!cli.json) {
		printf("      %c %-11s %s\n", op, set, text);
		return;
	}
	printf("%s{\"op\":\"%c\",\"set\":\"%s\",\"element\":", *first ? "" : ",", op, set);
	output_json_str(text);
	printf("}");
	*first = false;
}

/* Prints one direction's added and removed elements; returns how many. */
static size_t elems_diff(const struct policy_elem *old, size_t nold, const struct policy_elem *new,
			 size_t nnew, int in, bool *first)
{
	struct policy_elem *a = xcalloc(nold + 1, sizeof(*a)), *b = xcalloc(nnew + 1, sizeof(*b));
	char text[POLICY_ELEM_TEXT];
	size_t i = 0, j = 0, changes = 0;

	if (nold)
		memcpy(a, old, nold * sizeof(*a));
	if (nnew)
		memcpy(b, new, nnew * sizeof(*b));
	qsort(a, nold, sizeof(*a), elem_cmp);
	qsort(b, nnew, sizeof(*b), elem_cmp);
	while (i < nold || j < nnew) {
		int c = i == nold ? 1 : j == nnew ? -1 : elem_cmp(&a[i], &b[j]);

		if (c == 0) {
			i++;
			j++;
			continue;
		}
		policy_elem_format(c < 0 ? &a[i] : &b[j], text);
		elem_print(c < 0 ? '-' : '+', elem_set(c < 0 ? &a[i] : &b[j], in), text, first);
		changes++;
		if (c < 0)
			i++;
		else
			j++;
	}
	free(a);
	free(b);
	return changes;
}

/* The SHA-256 of a whole plan file, as a reviewer sees it: what `apply
 * --reviewed` compares. -1 (reported) when it cannot be read. */
static int plan_file_digest(const char *cmd, const char *path, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
	unsigned int mdlen = 0;
	FILE *f = fopen(path, "re");
	EVP_MD_CTX *ctx;
	size_t n;
	int ok;

	if (!f) {
		fprintf(stderr, "bulkhead %s: %s: %s\n", cmd, path, strerror(errno));
		return -1;
	}
	if (!(ctx = EVP_MD_CTX_new()))
		fatal("out of memory");
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ok = EVP_DigestUpdate(ctx, chunk, n);
	if (ok && ferror(f)) {
		fprintf(stderr, "bulkhead %s: %s: %s\n", cmd, path, strerror(errno));
		EVP_MD_CTX_free(ctx);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (!ok || !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32)
		fatal("cannot compute SHA-256");
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
	return 0;
}

static int plan_write_frame(const void *frame, int len, void *arg)
{
	return fwrite(frame, 1, (size_t)len, arg) == (size_t)len ? 0 : -1;
}

static void plan_usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: bulkhead plan [DIR] [-o FILE] [--json]\n"
		     "Compiles the policy in DIR (default .) and compares it with what every\n"
		     "agent reports it has applied: per host, the set elements added (+) and\n"
		     "removed (-), and the mode changes. -o FILE writes the plan for\n"
		     "`bulkhead apply FILE`, and prints the file's SHA-256 for its review.\n"
		     "--json prints the same as one JSON document.\n"
		     "Exit status: 0 nothing would change, 2 something would, 1 on errors.\n");
}

int cmd_plan_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	static char buf[WIRE_MAX_FRAME];
	struct applied ap = {.r = {.what = "plan"}};
	bool first_host = true;
	const char *dir, *out_path = NULL;
	char digest[65];
	struct policy *p = NULL;
	FILE *out = NULL;
	size_t nchanged = 0, nskipped = 0, n;
	int opt, rc = 1;

	optind = 1;
	while ((opt = cli_getopt(argc, argv, "o:jh", longopts, plan_usage, &rc)) == 'o' ||
	       opt == 'j') {
		if (opt == 'o')
			out_path = optarg;
		else
			cli.json = true;
	}
	if (opt == CLI_OPT_USAGE || cli_dir_operand(argc, argv, &dir, plan_usage, &rc) < 0)
		return rc;
	p = policy_load(dir, conf_error_stderr, NULL, NULL);
	if (!p) {
		fprintf(stderr, "bulkhead plan: %s: the policy has errors; nothing planned\n", dir);
		return 1;
	}
	ap.rx = policy_wire_rx_new();
	rc = conn_exchange(buf, msg_empty_encode(buf, 1, WIRE_CTL_POLICIES), 30000, &ap.r,
			   applied_frame, &ap);
	if (rc)
		goto out;
	if (out_path) {
		out = fopen(out_path, "we");
		if (!out || fputs(PLAN_MAGIC, out) < 0) {
			fprintf(stderr, "bulkhead plan: %s: %s\n", out_path, strerror(errno));
			rc = 1;
			goto out;
		}
	}
	n = policy_host_count(p);
	if (cli.json)
		printf("{\"hosts\":[");
	for (size_t i = 0; i < n; i++) {
		const char *name = policy_host_name(p, i);
		struct host_policy *hp = policy_host_compile(p, name);
		const struct msg_ctl_host *row;
		const struct host_policy *old = applied_find(&ap, name, &row);
		int mode = row ? row->mode : MODE_OPEN;

		if (!row) {
			if (!cli.json)
				printf("! %s: not in the controller's inventory; skipped\n", name);
			nskipped++;
			host_policy_free(hp);
			continue;
		}
		if (strcmp(row->hash, hp->hash) == 0 && mode != MODE_OPEN) {
			host_policy_free(hp);
			continue;
		}
		nchanged++;
		if (cli.json) {
			bool first = true;

			printf("%s{\"name\":", first_host ? "" : ",");
			output_json_str(name);
			printf(",\"mode\":\"%s\",\"new_mode\":\"%s\",\"policy\":", mode_name(mode),
			       mode == MODE_ISOLATED ? "isolated" : "segmented");
			output_json_str(row->hash);
			printf(",\"new_policy\":\"%s\",\"in_flight\":%s,\"applied_known\":%s,"
			       "\"changes\":[",
			       hp->hash, row->status == HOST_CHANGING ? "true" : "false",
			       row->hash[0] && !old ? "false" : "true");
			elems_diff(old ? old->in : NULL, old ? old->nin : 0, hp->in, hp->nin, 1,
				   &first);
			elems_diff(old ? old->out : NULL, old ? old->nout : 0, hp->out, hp->nout, 0,
				   &first);
			printf("]}");
			first_host = false;
		} else {
			bool first = true;

			printf("~ %s: %s -> %s, policy %.12s -> %.12s%s\n", name, mode_name(mode),
			       mode == MODE_ISOLATED
				   ? "isolated (stays isolated; the policy is staged)"
				   : "segmented",
			       row->hash[0] ? row->hash : "(none)", hp->hash,
			       row->status == HOST_CHANGING ? " [a change is in flight]" : "");
			if (row->hash[0] && !old)
				printf("      (the controller does not hold the applied policy; "
				       "showing all elements)\n");
			elems_diff(old ? old->in : NULL, old ? old->nin : 0, hp->in, hp->nin, 1,
				   &first);
			elems_diff(old ? old->out : NULL, old ? old->nout : 0, hp->out, hp->nout, 0,
				   &first);
		}
		if (out) {
			struct msg_plan_host ph = {name, MODE_SEGMENTED, hp->hash, row->hash};

			if (plan_write_frame(buf, msg_plan_host_encode(buf, 0, &ph), out) < 0 ||
			    policy_wire_encode(hp, buf, plan_write_frame, out) < 0) {
				fprintf(stderr, "bulkhead plan: %s: %s\n", out_path,
					strerror(errno));
				host_policy_free(hp);
				rc = 1;
				goto out;
			}
		}
		host_policy_free(hp);
	}
	if (!cli.json) {
		printf("%zu of %zu hosts would change.\n", nchanged, n);
		if (nskipped)
			printf(
			    "%zu host%s of %s %s not in the controller's inventory: check that %s "
			    "and the controller (-s SOCKET) are of the same site.\n",
			    nskipped, nskipped == 1 ? "" : "s", dir, nskipped == 1 ? "is" : "are",
			    dir);
	}
	if (out) {
		if (fclose(out) != 0) {
			out = NULL;
			fprintf(stderr, "bulkhead plan: %s: %s\n", out_path, strerror(errno));
			rc = 1;
			goto out;
		}
		out = NULL;
		if (plan_file_digest("plan", out_path, digest) < 0) {
			rc = 1;
			goto out;
		}
		if (!cli.json)
			printf("Plan written to %s (sha256 %s).\n"
			       "Once reviewed, push it with: bulkhead apply %s --reviewed %s\n",
			       out_path, digest, out_path, digest);
	}
	if (cli.json) {
		printf("],\"changed\":%zu,\"total\":%zu,\"skipped\":%zu,\"file\":", nchanged, n,
		       nskipped);
		if (out_path) {
			output_json_str(out_path);
			printf(",\"sha256\":\"%s\"}\n", digest);
		} else {
			printf("null,\"sha256\":null}\n");
		}
	}
	rc = nchanged ? CLI_EXIT_CHANGES : CLI_EXIT_OK;
out:
	if (out)
		fclose(out);
	for (size_t i = 0; i < ap.nhp; i++)
		host_policy_free(ap.hp[i]);
	free(ap.hp);
	reply_free(&ap.r);
	policy_wire_rx_free(ap.rx);
	policy_free(p);
	return rc;
}

static void apply_usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: bulkhead apply FILE [--reviewed SHA256] [--reason TEXT]\n"
		     "                      [--confirm-timeout SECONDS] [--confirm manual]\n"
		     "                      [--timeout SECONDS] [--json]\n"
		     "Pushes exactly the plan in FILE (made by `bulkhead plan -o FILE`). It is\n"
		     "refused whole if any host changed since the plan was made, and, with\n"
		     "--reviewed, if FILE's SHA-256 is not the one that was reviewed.\n"
		     "Each host that opens traffic arms a rollback timer (--confirm-timeout,\n"
		     "default 30 s): the controller confirms the change once the host acks it,\n"
		     "and a host that is not confirmed in time returns to its previous state.\n"
		     "With --confirm manual the controller does not confirm: run\n"
		     "`bulkhead confirm` within the timeout, or every host rolls back.\n"
		     "Isolated hosts take the new policy and stay isolated.\n");
}

static char *plan_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char magic[sizeof(PLAN_MAGIC)] = "";
	char *data = NULL;
	size_t cap = 0;

	*len = 0;
	if (!f) {
		fprintf(stderr, "bulkhead apply: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fread(magic, 1, strlen(PLAN_MAGIC), f) != strlen(PLAN_MAGIC) ||
	    memcmp(magic, PLAN_MAGIC, strlen(PLAN_MAGIC)) != 0) {
		fprintf(stderr, "bulkhead apply: %s: not a plan made by `bulkhead plan -o`\n",
			path);
		fclose(f);
		return NULL;
	}
	for (;;) {
		size_t n;

		if (*len + 65536 > cap) {
			cap = 2 * cap + 65536;
			data = realloc(data, cap);
			if (!data)
				fatal("out of memory");
		}
		n = fread(data + *len, 1, cap - *len - WIRE_MAX_FRAME / 2, f);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	return data;
}

/* The plan's frames must all decode before anything is sent. */
static int plan_check(const char *path, const char *data, size_t len, size_t *nhosts)
{
	size_t off = 0;

	*nhosts = 0;
	while (off < len) {
		int flen = wire_frame_peek_len(data + off, len - off);
		struct wire_frame f;
		const char *err = "truncated";
		union msg m;

		if (flen <= 0 || (size_t)flen > len - off ||
		    wire_frame_decode(data + off, (size_t)flen, &f, &err) < 0 ||
		    (f.type != WIRE_PLAN_HOST && f.type != WIRE_POLICY) ||
		    msg_decode(&f, &m, &err) < 0) {
			fprintf(stderr, "bulkhead apply: %s: damaged at byte %zu: %s\n", path,
				off + strlen(PLAN_MAGIC), err);
			return -1;
		}
		*nhosts += f.type == WIRE_PLAN_HOST;
		off += (size_t)flen;
	}
	return 0;
}

int cmd_apply_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"reason", required_argument, NULL, 'r'},
						 {"timeout", required_argument, NULL, 't'},
						 {"confirm-timeout", required_argument, NULL, 'c'},
						 {"confirm", required_argument, NULL, 'm'},
						 {"reviewed", required_argument, NULL, 'R'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	static char buf[WIRE_MAX_FRAME];
	struct msg_ctl_apply m = {0};
	const char *reviewed = NULL;
	double timeout_s = 60, confirm_s = 30;
	size_t len, nhosts, hlen;
	char *data, *req;
	int opt, rc;

	optind = 1;
	while ((opt = cli_getopt(argc, argv, "r:t:c:m:R:jh", longopts, apply_usage, &rc)) >= 0) {
		switch (opt) {
		case 'r': m.reason = optarg; break;
		case 'R':
			if (strlen(optarg) != 64 || strspn(optarg, "0123456789abcdef") != 64) {
				fprintf(stderr,
					"bulkhead apply: --reviewed: expected the 64 hex digits of "
					"the SHA-256 that `bulkhead plan -o` printed, got \"%s\"\n",
					optarg);
				return EX_USAGE;
			}
			reviewed = optarg;
			break;
		case 't':
			if (cli_seconds_parse("apply", "--timeout", optarg, &timeout_s) < 0)
				return EX_USAGE;
			break;
		case 'c':
			if (cli_seconds_parse("apply", "--confirm-timeout", optarg, &confirm_s) < 0)
				return EX_USAGE;
			break;
		case 'm':
			if (strcmp(optarg, "manual") != 0 && strcmp(optarg, "auto") != 0) {
				fprintf(stderr,
					"bulkhead apply: --confirm: expected manual or auto\n");
				return EX_USAGE;
			}
			m.manual = strcmp(optarg, "manual") == 0;
			break;
		case 'j': cli.json = true; break;
		}
	}
	if (opt == CLI_OPT_USAGE)
		return rc;
	if (optind != argc - 1) {
		apply_usage(stderr, argv[0]);
		return EX_USAGE;
	}
	if (reviewed) {
		char digest[65];

		if (plan_file_digest("apply", argv[optind], digest) < 0)
			return 1;
		if (strcmp(digest, reviewed) != 0) {
			fprintf(
			    stderr,
			    "bulkhead apply: %s is not the reviewed plan: its sha256 is %s, "
			    "the reviewed one %s; nothing was sent.\n"
			    "  Apply the plan file that was reviewed, or have this one reviewed.\n",
			    argv[optind], digest, reviewed);
			return 1;
		}
	}
	data = plan_read(argv[optind], &len);
	if (!data)
		return 1;
	if (plan_check(argv[optind], data, len, &nhosts) < 0) {
		free(data);
		return 1;
	}
	if (nhosts == 0) {
		printf("bulkhead apply: %s changes nothing\n", argv[optind]);
		free(data);
		return EX_OK;
	}
	/* APPLY, the plan's frames, APPLY_END: one request. */
	m.timeout_ms = (uint32_t)(timeout_s * 1000);
	m.confirm_ms = (uint32_t)(confirm_s * 1000);
	hlen = (size_t)msg_ctl_apply_encode(buf, 1, &m);
	req = malloc(hlen + len + WIRE_HDRLEN);
	if (!req)
		fatal("out of memory");
	memcpy(req, buf, hlen);
	memcpy(req + hlen, data, len);
	len += hlen;
	memcpy(req + len, buf, (size_t)msg_empty_encode(buf, 1, WIRE_CTL_APPLY_END));
	len += WIRE_HDRLEN;
	rc = conn_command(ACTION_APPLY, m.reason, req, (int)len, (int)m.timeout_ms + 5000);
	free(req);
	free(data);
	return rc;
}

int cmd_approve_main(int argc, char **argv)
{
	static const char usage[] = "usage: bulkhead approve [--json] ID\n";
	static char buf[WIRE_MAX_FRAME];
	struct msg_ctl_approve m = {0};
	struct reply r = {.what = "approve"};
	char *end = NULL;
	int i = 1, rc;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("%s"
		       "Approves request ID, which bulkheadd holds until a second operator\n"
		       "(another user) approves it: a release of every host, an apply that\n"
		       "opens traffic or a playbook approval, as access.two_person in\n"
		       "bulkheadd.yaml lists them. The request then runs, in both names.\n"
		       "Exit 0 when it ran and did all it was asked, 1 when not, 77 when\n"
		       "the caller may not approve it (it is their own, or their role).\n",
		       usage);
		return EX_OK;
	}
	if (argc > i && strcmp(argv[i], "--json") == 0) {
		cli.json = true;
		i++;
	}
	if (argc != i + 1 || !*argv[i] || (m.id = strtoull(argv[i], &end, 10), *end) || !m.id) {
		fprintf(stderr, "%sID: the number that the held request printed\n", usage);
		return EX_USAGE;
	}
	rc = conn_exchange(buf, msg_ctl_approve_encode(buf, 1, &m), 120000, &r, NULL, NULL);
	if (rc == 0) {
		output_approve(m.id, &r, cli.json);
		rc = reply_exit(reply_end(&r));
	}
	reply_free(&r);
	return rc;
}

int cmd_confirm_main(int argc, char **argv)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_ctl_confirm m = {.timeout_ms = 10000};

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: bulkhead confirm [--json]\n"
		       "Confirms every change that `bulkhead apply --confirm manual` left\n"
		       "waiting; without it, those hosts roll back when their timer ends.\n");
		return EX_OK;
	}
	if (argc > 1 && strcmp(argv[1], "--json") == 0)
		cli.json = true;
	else if (argc > 1) {
		fprintf(stderr, "usage: bulkhead confirm [--json]\n");
		return EX_USAGE;
	}
	return conn_command(ACTION_CONFIRM, NULL, buf, msg_ctl_confirm_encode(buf, 1, &m), 15000);
}
