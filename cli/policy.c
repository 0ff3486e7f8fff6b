/* bulkhead check / render / explain: the offline commands, run on a checkout
 * of the policy repository; no controller needed. See bulkhead-policy(5). */
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/policy.h"
#include "cli.h"

#define EX_USAGE 64

/* explain's exit codes: allowed, denied, could not tell */
#define EXPLAIN_ALLOWED 0
#define EXPLAIN_DENIED 1
#define EXPLAIN_ERROR 2

static void policy_msg_print(void *arg, const char *msg)
{
	int *count = arg;

	fprintf(stderr, "%s\n", msg);
	if (count != NULL)
		(*count)++;
}

/* --today: expiry judged as on that date, for reproducible checks. */
static int today_parse(const char *cmd, const char *s, long *today)
{
	if (policy_date_parse(s, today) == -1) {
		fprintf(stderr, "bulkhead %s: --today: expected a date YYYY-MM-DD, got \"%s\"\n",
			cmd, s);
		return -1;
	}
	return 0;
}

static void check_usage(FILE *out)
{
	fprintf(out, "usage: bulkhead check [--today YYYY-MM-DD] [--strict] [DIR]\n\n"
		     "Checks the policy in DIR (default: the current directory). Prints every\n"
		     "error as file:line:col: message and exits 1; prints warnings the same way\n"
		     "and exits 0 (1 with --strict). See bulkhead-policy(5).\n");
}

int cmd_check_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"today", required_argument, NULL, 't'},
	    {"strict", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct policy_stats st;
	struct policy *p;
	const char *dir = ".";
	long today = policy_date_today();
	int c, strict = 0, warnings = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (today_parse("check", optarg, &today) == -1)
				return EX_USAGE;
			break;
		case 's': strict = 1; break;
		case 'h': check_usage(stdout); return 0;
		default: check_usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind > 1) {
		check_usage(stderr);
		return EX_USAGE;
	}
	if (optind < argc)
		dir = argv[optind];
	p = policy_load_at(dir, today, policy_msg_print, policy_msg_print, &warnings);
	if (p == NULL)
		return 1;
	policy_stats_get(p, &st);
	printf("policy ok: %zu host%s, %zu switch%s, %zu group%s, %zu service%s, %zu rule%s",
	       st.hosts, st.hosts == 1 ? "" : "s", st.switches, st.switches == 1 ? "" : "es",
	       st.groups, st.groups == 1 ? "" : "s", st.services, st.services == 1 ? "" : "s",
	       st.rules, st.rules == 1 ? "" : "s");
	if (st.expired > 0)
		printf(" (%zu expired)", st.expired);
	if (warnings > 0)
		printf(", %d warning%s", warnings, warnings > 1 ? "s" : "");
	printf("\n");
	policy_free(p);
	return strict && warnings > 0 ? 1 : 0;
}

static void render_usage(FILE *out)
{
	fprintf(out, "usage: bulkhead render [--today YYYY-MM-DD] HOST [DIR]\n"
		     "       bulkhead render --list [DIR]\n\n"
		     "Prints the nftables ruleset (nft -f input) that HOST gets from the policy\n"
		     "in DIR (default: the current directory), or with --list the names of\n"
		     "every host and switch it can render.\n");
}

int cmd_render_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"today", required_argument, NULL, 't'},
	    {"list", no_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct host_policy *hp;
	struct policy *p;
	const char *dir = ".", *host = NULL;
	long today = policy_date_today();
	size_t i;
	int c, list = 0, npos;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (today_parse("render", optarg, &today) == -1)
				return EX_USAGE;
			break;
		case 'l': list = 1; break;
		case 'h': render_usage(stdout); return 0;
		default: render_usage(stderr); return EX_USAGE;
		}
	}
	npos = argc - optind;
	if (list ? npos > 1 : npos < 1 || npos > 2) {
		render_usage(stderr);
		return EX_USAGE;
	}
	if (!list)
		host = argv[optind++];
	if (optind < argc)
		dir = argv[optind];
	/* warnings are check's business; errors still say why nothing renders */
	p = policy_load_at(dir, today, policy_msg_print, NULL, NULL);
	if (p == NULL) {
		fprintf(stderr, "bulkhead render: the policy in %s has errors\n", dir);
		return 1;
	}
	if (list) {
		for (i = 0; i < policy_host_count(p); i++)
			printf("%s\n", policy_host_name(p, i));
		policy_free(p);
		return 0;
	}
	hp = policy_host_compile(p, host);
	if (hp == NULL) {
		fprintf(stderr, "bulkhead render: no host \"%s\" in %s\n", host, dir);
		policy_free(p);
		return 1;
	}
	host_policy_render(hp, stdout);
	host_policy_free(hp);
	policy_free(p);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void explain_usage(FILE *out)
{
	fprintf(out, "usage: bulkhead explain [--today YYYY-MM-DD] [DIR] --from HOST --to HOST "
		     "PROTO/PORT|icmp\n\n"
		     "Tells whether the policy in DIR lets HOST reach HOST, and which rule\n"
		     "decides. HOST may also be an address outside the inventory. Exits 0 if\n"
		     "allowed, 1 if denied, 2 if it cannot tell.\n");
}

/* "tcp/443", "udp/53" or "icmp". */
static int flow_parse(const char *s, uint8_t *proto, uint16_t *port)
{
	char *end;
	long n;

	if (strcmp(s, "icmp") == 0) {
		*proto = IPPROTO_ICMP;
		*port = 0;
		return 0;
	}
	if (strncmp(s, "tcp/", 4) == 0)
		*proto = IPPROTO_TCP;
	else if (strncmp(s, "udp/", 4) == 0)
		*proto = IPPROTO_UDP;
	else
		return -1;
	if (s[4] < '0' || s[4] > '9')
		return -1;
	n = strtol(s + 4, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

int cmd_explain_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 'o'},
	    {"today", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct policy_verdict v;
	struct policy *p;
	const char *dir = ".", *from = NULL, *to = NULL, *flow;
	long today = policy_date_today();
	char date[32];
	uint16_t port;
	uint8_t proto;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 'o': to = optarg; break;
		case 't':
			if (today_parse("explain", optarg, &today) == -1)
				return EX_USAGE;
			break;
		case 'h': explain_usage(stdout); return 0;
		default: explain_usage(stderr); return EX_USAGE;
		}
	}
	if (from == NULL || to == NULL || argc - optind < 1 || argc - optind > 2) {
		explain_usage(stderr);
		return EX_USAGE;
	}
	if (argc - optind == 2)
		dir = argv[optind++];
	flow = argv[optind];
	if (flow_parse(flow, &proto, &port) == -1) {
		fprintf(stderr,
			"bulkhead explain: expected tcp/PORT, udp/PORT or icmp, got \"%s\"\n",
			flow);
		return EX_USAGE;
	}
	p = policy_load_at(dir, today, policy_msg_print, NULL, NULL);
	if (p == NULL) {
		fprintf(stderr, "bulkhead explain: the policy in %s has errors\n", dir);
		return EXPLAIN_ERROR;
	}
	if (policy_explain(p, from, to, proto, port, &v) == -1) {
		/* a flow from a name to itself fails only if the name is unknown */
		fprintf(stderr, "bulkhead explain: \"%s\" is neither a host of %s nor an address\n",
			policy_explain(p, from, from, proto, port, &v) == -1 ? from : to, dir);
		policy_free(p);
		return EXPLAIN_ERROR;
	}
	if (v.allowed) {
		printf("allowed by %s:%u (%s)\n", v.file, v.line, v.comment);
	} else if (v.expired_line != 0) {
		policy_date_format(v.expired_on, date);
		printf("denied: no rule allows %s from %s to %s (default deny; the rule at %s:%u "
		       "expired on %s)\n",
		       flow, from, to, v.file, v.expired_line, date);
	} else {
		printf("denied: no rule allows %s from %s to %s (default deny)\n", flow, from, to);
	}
	policy_free(p);
	return v.allowed ? EXPLAIN_ALLOWED : EXPLAIN_DENIED;
}
