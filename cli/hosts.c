/* bulkhead hosts: the inventory of a policy checkout, one host a line, for
 * people and for scripts (the lab builds a site's hosts from it). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>

#include "bulkhead/policy.h"
#include "cli.h"
#include "output.h"

static void hosts_usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: bulkhead hosts [DIR] [--management] [--json]\n"
		     "One line per inventory host of the policy in DIR (default .):\n"
		     "  NAME IPV4 IPV6 PROFILE   (- where the host has no such address)\n"
		     "--management prints the management section instead:\n"
		     "  controllers ADDR... / port PORT / collectors ADDR...\n"
		     "--json prints either as one JSON document.\n");
}

static const char *first_addr(const struct inv_host *h, int family)
{
	for (int i = 0; i < h->naddrs; i++)
		if (h->addrs[i].family == family)
			return h->addrs[i].text;
	return "-";
}

static void addrs_json(const char *key, const struct conf_addr *a, int n, const char *sep)
{
	printf("%s\"%s\":[", sep, key);
	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		output_json_str(a[i].text);
	}
	putchar(']');
}

static void management_print(const struct policy *p)
{
	struct host_policy *hp = policy_host_compile(p, policy_host_name(p, 0));

	if (cli.json) {
		addrs_json("controllers", hp->controllers, hp->ncontrollers, "{");
		printf(",\"port\":%u", hp->port);
		addrs_json("collectors", hp->collectors, hp->ncollectors, ",");
		printf("}\n");
		host_policy_free(hp);
		return;
	}
	printf("controllers");
	for (int i = 0; i < hp->ncontrollers; i++)
		printf(" %s", hp->controllers[i].text);
	printf("\nport %u\ncollectors", hp->port);
	for (int i = 0; i < hp->ncollectors; i++)
		printf(" %s", hp->collectors[i].text);
	printf("\n");
	host_policy_free(hp);
}

int cmd_hosts_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"management", no_argument, NULL, 'm'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	const char *dir;
	struct policy *p;
	int opt, rc, mgmt = 0;

	optind = 1;
	while ((opt = cli_getopt(argc, argv, "mjh", longopts, hosts_usage, &rc)) == 'm' ||
	       opt == 'j') {
		mgmt |= opt == 'm';
		cli.json |= opt == 'j';
	}
	if (opt == CLI_OPT_USAGE || cli_dir_operand(argc, argv, &dir, hosts_usage, &rc) < 0)
		return rc;
	p = policy_load(dir, conf_error_stderr, NULL, NULL);
	if (!p)
		return 1;
	if (mgmt && policy_host_count(p) > 0) {
		management_print(p);
	} else if (cli.json) {
		printf("{\"hosts\":[");
		for (size_t i = 0; i < policy_host_count(p); i++) {
			const struct inv_host *h = policy_host(p, i);

			printf("%s{\"name\":", i ? "," : "");
			output_json_str(h->name);
			addrs_json("addresses", h->addrs, h->naddrs, ",");
			printf(",\"profile\":");
			output_json_str(h->profile);
			printf("}");
		}
		printf("]}\n");
	} else {
		for (size_t i = 0; i < policy_host_count(p); i++) {
			const struct inv_host *h = policy_host(p, i);

			printf("%s %s %s %s\n", h->name, first_addr(h, AF_INET),
			       first_addr(h, AF_INET6), h->profile);
		}
	}
	policy_free(p);
	return 0;
}
