/* The agent's apply times: installing a host policy of N set elements in
 * one transaction, and the isolate transaction on top of it, whose cost
 * must not grow with N. Runs in a network namespace of its own (root). */
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "nft.h"

#define ISOLATE_RUNS 2000


static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* n disjoint elements: distinct /32s in 198.18.0.0/15, tcp, one port each. */
static struct host_policy *policy_make(size_t n)
{
	struct host_policy *hp = xcalloc(1, sizeof(*hp));

	hp->host = xstrdup("bench");
	hp->in = xcalloc(n, sizeof(*hp->in));
	hp->nin = n;
	for (size_t i = 0; i < n; i++) {
		struct policy_elem *e = &hp->in[i];
		uint32_t a = htonl(0xc6120000u + (uint32_t)(i / 4)); /* 198.18.x.y */

		e->family = AF_INET;
		e->proto = IPPROTO_TCP;
		e->port_lo = e->port_hi = (uint16_t)(1000 + i % 4);
		memcpy(e->addr_lo, &a, 4);
		memcpy(e->addr_hi, &a, 4);
	}
	return hp;
}

/* Installs a policy of `elems` elements in one transaction; returns its time. */
static uint64_t install(struct agent_nft *n, const struct nft_mgmt *m, size_t elems)
{
	struct host_policy *hp = policy_make(elems);
	uint64_t t0 = clock_mono_us();

	if (nft_table_install(n, m, MODE_SEGMENTED, hp) < 0)
		fatal("install of %zu elements failed", elems);
	t0 = clock_mono_us() - t0;
	host_policy_free(hp);
	return t0;
}

int main(int argc, char **argv)
{
	size_t big = argc > 1 ? (size_t)atol(argv[1]) : 50000;
	static uint64_t small_us[ISOLATE_RUNS], big_us[ISOLATE_RUNS];
	struct conf_addr ctl;
	struct nft_mgmt m = {&ctl, 1, 7443};
	uint64_t inst_small, inst_big, med_small, med_big;
	struct agent_nft *ns, *nb;

	log_init("agent-apply-bench", 0);
	conf_addr_parse("198.18.0.1", &ctl);
	/* Two namespaces, one socket in each (a socket stays in the namespace
	 * it was made in): the small and the large host are measured turn by
	 * turn, so that the machine's noise falls on both alike. */
	if (unshare(CLONE_NEWNET) < 0 || !(ns = agent_nft_new(false))) {
		perror("unshare(CLONE_NEWNET) (run as root)");
		return 1;
	}
	if (unshare(CLONE_NEWNET) < 0 || !(nb = agent_nft_new(false))) {
		perror("unshare(CLONE_NEWNET)");
		return 1;
	}
	install(ns, &m, 10); /* warm the kernel's modules and caches once */
	inst_small = install(ns, &m, 10);
	inst_big = install(nb, &m, big);
	for (int i = 0; i < ISOLATE_RUNS; i++) {
		int mode = i % 2 ? MODE_SEGMENTED : MODE_ISOLATED;

		if (nft_mode_apply(ns, mode, &small_us[i]) < 0 ||
		    nft_mode_apply(nb, mode, &big_us[i]) < 0)
			fatal("mode apply failed");
	}
	qsort(small_us, ISOLATE_RUNS, sizeof(small_us[0]), cmp_u64);
	qsort(big_us, ISOLATE_RUNS, sizeof(big_us[0]), cmp_u64);
	med_small = small_us[ISOLATE_RUNS / 2];
	med_big = big_us[ISOLATE_RUNS / 2];
	printf("policy install, 10 elements:      %8.2f ms (one transaction)\n",
	       inst_small / 1000.0);
	printf("policy install, %zu elements:  %8.2f ms (one transaction)\n", big,
	       inst_big / 1000.0);
	printf("isolate/release apply, host of 10 elements:   median %4llu us over %d runs\n",
	       (unsigned long long)med_small, ISOLATE_RUNS);
	printf("isolate/release apply, host of %zu elements: median %4llu us over %d runs\n", big,
	       (unsigned long long)med_big, ISOLATE_RUNS);
	printf("ratio (%zu / 10 elements): %.2f  (target: within 1.20)\n", big,
	       (double)med_big / (double)(med_small ? med_small : 1));
	agent_nft_free(ns);
	agent_nft_free(nb);
	return 0;
}
