/* bulkhead check / render / explain: the offline commands, run on a checkout
 * of the policy repository; no controller needed. See bulkhead-policy(5). */
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "cli.h"
#include "output.h"

/* explain's exit codes: allowed, denied, could not tell */
#define EXPLAIN_ALLOWED CLI_EXIT_OK
#define EXPLAIN_DENIED CLI_EXIT_FAILED
#define EXPLAIN_ERROR CLI_EXIT_CHANGES

/* check --json: the problems, kept until the document is printed. */
struct check_msgs {
	char **v;
	size_t n;
	int warnings;
};

static void check_msg_keep(void *arg, const char *msg)
{
	struct check_msgs *m = arg;

	m->v = realloc(m->v, sizeof(*m->v) * (m->n + 1));
	if (!m->v || !(m->v[m->n] = strdup(msg)))
		fatal("out of memory");
	m->warnings += strstr(msg, ": warning: ") != NULL;
	m->n++;
}

/* "FILE:LINE:COL: [warning: ]MESSAGE" (or "FILE: MESSAGE") as an object. */
static void check_msg_json(const char *msg, bool first)
{
	const char *p = msg, *text = msg, *warn;
	unsigned long line = 0, col = 0;
	size_t flen = 0;
	char *end, *file;

	/* the file name ends at the first ":LINE:COL: ", or at the first ": " */
	for (; *p; p++) {
		if (*p != ':')
			continue;
		line = strtoul(p + 1, &end, 10);
		if (end != p + 1 && *end == ':' && (col = strtoul(end + 1, &end, 10)) > 0 &&
		    strncmp(end, ": ", 2) == 0) {
			flen = (size_t)(p - msg);
			text = end + 2;
			break;
		}
		line = col = 0;
	}
	if (!flen && (p = strstr(msg, ": "))) {
		flen = (size_t)(p - msg);
		text = p + 2;
	}
	warn = strncmp(text, "warning: ", 9) == 0 ? text + 9 : NULL;
	if (!(file = strndup(msg, flen)))
		fatal("out of memory");
	printf("%s{\"file\":", first ? "" : ",");
	output_json_str(file);
	printf(",\"line\":%lu,\"col\":%lu,\"severity\":\"%s\",\"message\":", line, col,
	       warn ? "warning" : "error");
	output_json_str(warn ? warn : text);
	printf("}");
	free(file);
}

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

/* What check, render and explain take, each some of the options. */
struct policy_args {
	long today;
	int strict, list;
	const char *from, *to;
};

static const struct option policy_opts[] = {
    {"today", required_argument, NULL, 't'}, {"strict", no_argument, NULL, 's'},
    {"json", no_argument, NULL, 'j'},	     {"list", no_argument, NULL, 'l'},
    {"from", required_argument, NULL, 'f'},  {"to", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},	     {0}};

/* The options of policy_opts whose letters are in accept; 0, or -1 with the
 * exit status in *status once it is reported. */
static int policy_args_parse(int argc, char **argv, const char *accept,
			     void (*usage)(FILE *out, const char *cmd), struct policy_args *a,
			     int *status)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->today = policy_date_today();
	*status = EX_USAGE;
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", policy_opts, usage, status)) >= 0) {
		if (!strchr(accept, c)) {
			/* as getopt says it of an option it does not know */
			for (const struct option *o = policy_opts; o->name; o++)
				if (o->val == c)
					fprintf(stderr, "%s: unrecognized option '--%s'\n", argv[0],
						o->name);
			usage(stderr, argv[0]);
			return -1;
		}
		if (c == 't' && today_parse(argv[0], optarg, &a->today) == -1)
			return -1;
		a->strict |= c == 's';
		cli.json |= c == 'j';
		a->list |= c == 'l';
		if (c == 'f')
			a->from = optarg;
		if (c == 'o')
			a->to = optarg;
	}
	return c == CLI_OPT_USAGE ? -1 : 0;
}

static void check_usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: bulkhead check [--today YYYY-MM-DD] [--strict] [--json] [DIR]\n\n"
		     "Checks the policy in DIR (default: the current directory). Prints every\n"
		     "error as file:line:col: message and exits 1; prints warnings the same way\n"
		     "and exits 0 (1 with --strict). --json prints the counts and every\n"
		     "problem (file, line, col, severity, message) as one JSON document.\n"
		     "See bulkhead-policy(5).\n");
}

static int check_json(const char *dir, const struct policy_args *a)
{
	struct check_msgs m = {0};
	struct policy *p = policy_load_at(dir, a->today, check_msg_keep, check_msg_keep, &m);
	struct policy_stats st;
	int rc = p == NULL || (a->strict && m.warnings > 0);

	printf("{\"ok\":%s,\"dir\":", rc ? "false" : "true");
	output_json_str(dir);
	if (p) {
		policy_stats_get(p, &st);
		printf(",\"hosts\":%zu,\"switches\":%zu,\"groups\":%zu,\"services\":%zu,"
		       "\"rules\":%zu,\"expired\":%zu",
		       st.hosts, st.switches, st.groups, st.services, st.rules, st.expired);
	}
	printf(",\"errors\":%zu,\"warnings\":%d,\"problems\":[", m.n - (size_t)m.warnings,
	       m.warnings);
	for (size_t i = 0; i < m.n; i++) {
		check_msg_json(m.v[i], i == 0);
		free(m.v[i]);
	}
	printf("]}\n");
	free(m.v);
	policy_free(p);
	return rc;
}

int cmd_check_main(int argc, char **argv)
{
	struct policy_stats st;
	struct policy_args a;
	struct policy *p;
	const char *dir;
	int rc, warnings = 0;

	if (policy_args_parse(argc, argv, "tsj", check_usage, &a, &rc) < 0)
		return rc;
	if (cli_dir_operand(argc, argv, &dir, check_usage, &rc) < 0)
		return rc;
	if (cli.json)
		return check_json(dir, &a);
	p = policy_load_at(dir, a.today, policy_msg_print, policy_msg_print, &warnings);
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
	return a.strict && warnings > 0 ? 1 : 0;
}

static void render_usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: bulkhead render [--today YYYY-MM-DD] HOST [DIR]\n"
		     "       bulkhead render --list [DIR]\n\n"
		     "Prints the nftables ruleset (nft -f input) that HOST gets from the policy\n"
		     "in DIR (default: the current directory), or with --list the names of\n"
		     "every host and switch it can render.\n");
}

int cmd_render_main(int argc, char **argv)
{
	struct host_policy *hp;
	struct policy_args a;
	struct policy *p;
	const char *dir = ".", *host = NULL;
	size_t i;
	int rc, npos;

	if (policy_args_parse(argc, argv, "tl", render_usage, &a, &rc) < 0)
		return rc;
	npos = argc - optind;
	if (a.list ? npos > 1 : npos < 1 || npos > 2) {
		render_usage(stderr, argv[0]);
		return EX_USAGE;
	}
	if (!a.list)
		host = argv[optind++];
	if (optind < argc)
		dir = argv[optind];
	if (cli_policy_dir_ok("render", dir) < 0)
		return 1;
	/* warnings are check's business; errors still say why nothing renders */
	p = policy_load_at(dir, a.today, policy_msg_print, NULL, NULL);
	if (p == NULL) {
		fprintf(stderr, "bulkhead render: the policy in %s has errors\n", dir);
		return 1;
	}
	if (a.list) {
		for (i = 0; i < policy_host_count(p); i++)
			printf("%s\n", policy_host_name(p, i));
		policy_free(p);
		return 0;
	}
	hp = policy_host_compile(p, host);
	if (hp == NULL) {
		fprintf(stderr,
			"bulkhead render: no host \"%s\" in %s; `bulkhead render --list %s` "
			"lists them\n",
			host, dir, dir);
		policy_free(p);
		return 1;
	}
	host_policy_render(hp, stdout);
	host_policy_free(hp);
	policy_free(p);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void explain_usage(FILE *out, const char *cmd)
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
	struct policy_verdict v;
	struct policy_args a;
	struct policy *p;
	const char *dir = ".", *from, *to, *flow;
	char date[32];
	uint16_t port;
	uint8_t proto;
	int rc;

	if (policy_args_parse(argc, argv, "fot", explain_usage, &a, &rc) < 0)
		return rc;
	from = a.from;
	to = a.to;
	if (from == NULL || to == NULL || argc - optind < 1 || argc - optind > 2) {
		explain_usage(stderr, argv[0]);
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
	if (cli_policy_dir_ok("explain", dir) < 0)
		return EXPLAIN_ERROR;
	p = policy_load_at(dir, a.today, policy_msg_print, NULL, NULL);
	if (p == NULL) {
		fprintf(stderr, "bulkhead explain: the policy in %s has errors\n", dir);
		return EXPLAIN_ERROR;
	}
	if (policy_explain(p, from, to, proto, port, &v) == -1) {
		/* a flow from a name to itself fails only if the name is unknown */
		fprintf(stderr,
			"bulkhead explain: \"%s\" is neither a host of %s nor an address; "
			"`bulkhead hosts %s` lists the hosts\n",
			policy_explain(p, from, from, proto, port, &v) == -1 ? from : to, dir, dir);
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
