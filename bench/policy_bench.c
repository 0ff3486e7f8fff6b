/* Benchmark of the offline policy path: generates a site (deterministic, in a
 * temporary directory), then times policy_load (parse, resolve, checks) and
 * policy_host_compile + host_policy_render for every host to /dev/null.
 * usage: policy_bench [-n HOSTS] [-r RULES] [-j THREADS] [-k]
 * (default 10000 hosts, 2000 rules, 1 thread; -j N also times the same loop
 * over N threads, policy_host_compile being safe to call concurrently; -k
 * keeps the generated site and prints where it is) */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/policy.h"

#define ROLES 8
#define HOSTS_PER_PRODUCT 500
#define HOSTS_PER_RACK 40
#define HOSTS_PER_SUBNET 250
#define SERVICES 40
#define UNIONS 50
#define NETWORKS 10

static const char *const roles[ROLES] = {"web",	  "app",   "api", "cache",
					 "queue", "batch", "db",  "search"};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: the same site on every run and machine */
static uint32_t rng(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32) % n;
}

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wall time, and the CPU time of this process: on a busy machine the second
 * says what the code costs. */
static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static double cpu_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static FILE *file_open(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "policy_bench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static void file_close(FILE *f)
{
	if (ferror(f) || fclose(f) != 0) {
		fprintf(stderr, "policy_bench: write failed\n");
		exit(1);
	}
}

/* A rule's group: mostly tiers, some racks, roles, unions and products; a
 * source may also be a network. */
static void group_pick(char *g, size_t size, int source, int nproducts, int nracks)
{
	int kind = (int)rng(20);

	if (kind < 12)
		snprintf(g, size, "p%02d-%s", (int)rng((uint32_t)nproducts), roles[rng(ROLES)]);
	else if (kind < 14)
		snprintf(g, size, "rack%03d", (int)rng((uint32_t)nracks));
	else if (kind < 15)
		snprintf(g, size, "all-%s", roles[rng(ROLES)]);
	else if (kind < 17)
		snprintf(g, size, "u%02d", (int)rng(UNIONS));
	else if (kind < 19 || !source)
		snprintf(g, size, "p%02d", (int)rng((uint32_t)nproducts));
	else
		snprintf(g, size, "net%d", (int)rng(NETWORKS));
}

/* Hosts are laid out product by product and role by role, so that tiers
 * are contiguous address blocks, as in most data centers; racks cut across
 * them, so rack groups are scattered addresses. */
static int site_generate(const char *dir, int nhosts, int nrules)
{
	int nproducts = nhosts / HOSTS_PER_PRODUCT > 2 ? nhosts / HOSTS_PER_PRODUCT : 2;
	int nracks = (nhosts + HOSTS_PER_RACK - 1) / HOSTS_PER_RACK;
	int per_tier = (nhosts + nproducts * ROLES - 1) / (nproducts * ROLES);
	int ngroups = 0, i, j, tier;
	FILE *f;

	f = file_open(dir, "inventory.yaml");
	fprintf(f, "hosts:\n");
	for (i = 0; i < nhosts; i++) {
		tier = i / per_tier;
		fprintf(f, "  - name: h%05d\n    addresses: [198.18.%d.%d", i, i / HOSTS_PER_SUBNET,
			i % HOSTS_PER_SUBNET + 1);
		if (tier / ROLES % 2 == 0) /* every other product is dual-stack */
			fprintf(f, ", \"2001:2:0:%x::%x\"", i / HOSTS_PER_SUBNET,
				i % HOSTS_PER_SUBNET + 1);
		fprintf(
		    f,
		    "]\n    profile: linux-server\n"
		    "    labels: {site: bench, product: p%02d, role: %s, rack: r%03d, env: %s}\n",
		    tier / ROLES, roles[tier % ROLES], i % nracks,
		    i % 10 == 0 ? "staging" : "prod");
	}
	file_close(f);

	f = file_open(dir, "groups.yaml");
	fprintf(f, "groups:\n");
	for (i = 0; i < nproducts; i++) {
		fprintf(f, "  p%02d:\n    match: {product: p%02d}\n", i, i);
		for (j = 0; j < ROLES; j++)
			fprintf(f, "  p%02d-%s:\n    match: {product: p%02d, role: %s}\n", i,
				roles[j], i, roles[j]);
		ngroups += 1 + ROLES;
	}
	for (j = 0; j < ROLES; j++)
		fprintf(f, "  all-%s:\n    match: {role: %s}\n", roles[j], roles[j]);
	for (i = 0; i < nracks; i++)
		fprintf(f, "  rack%03d:\n    match: {rack: r%03d}\n", i, i);
	for (i = 0; i < UNIONS; i++)
		fprintf(f, "  u%02d:\n    groups: [p%02d-%s, p%02d-%s, p%02d-%s]\n", i,
			(int)rng((uint32_t)nproducts), roles[rng(ROLES)],
			(int)rng((uint32_t)nproducts), roles[rng(ROLES)],
			(int)rng((uint32_t)nproducts), roles[rng(ROLES)]);
	for (i = 0; i < NETWORKS; i++)
		fprintf(f, "  net%d:\n    networks: [198.19.%d.0/24, \"2001:2:0:%x::/64\"]\n", i, i,
			0x8000 + i);
	file_close(f);
	ngroups += ROLES + nracks + UNIONS + NETWORKS;

	f = file_open(dir, "services.yaml");
	fprintf(f, "services:\n");
	for (i = 0; i < SERVICES; i++) {
		int port = 1000 + 100 * i;

		if (i == 0)
			fprintf(f, "  s00: [icmp]\n");
		else if (i % 7 == 0)
			fprintf(f, "  s%02d: [tcp/%d-%d]\n", i, port, port + 9);
		else if (i % 5 == 0)
			fprintf(f, "  s%02d: [udp/%d, tcp/%d]\n", i, port, port);
		else
			fprintf(f, "  s%02d: [tcp/%d]\n", i, port);
	}
	file_close(f);

	f = file_open(dir, "rules.yaml");
	fprintf(f, "rules:\n");
	for (i = 0; i < nrules; i++) {
		char from[32], to[32];

		group_pick(from, sizeof(from), 1, nproducts, nracks);
		group_pick(to, sizeof(to), 0, nproducts, nracks);
		fprintf(f, "  - from: %s\n    to: %s\n    services: [s%02d", from, to,
			(int)rng(SERVICES));
		for (j = (int)rng(3); j > 0; j--)
			fprintf(f, ", s%02d", (int)rng(SERVICES));
		fprintf(f, "]\n    comment: generated rule %d\n", i);
		if (i % 50 == 0)
			fprintf(f, "    expires: 2099-12-31\n");
	}
	file_close(f);

	f = file_open(dir, "management.yaml");
	fprintf(f, "management:\n  controllers: [198.18.255.10, \"2001:2:0:ff::10\"]\n"
		   "  port: 7443\n  collectors: [198.18.255.40]\n");
	file_close(f);
	return ngroups;
}

static void site_remove(const char *dir)
{
	static const char *const names[] = {"inventory.yaml", "groups.yaml", "services.yaml",
					    "rules.yaml", "management.yaml"};
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}


/* One thread's share of the hosts: every nth, from first. */
struct worker {
	pthread_t tid;
	const struct policy *p;
	size_t first, step;
	FILE *null;
	int failed;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct host_policy *hp;
	size_t i, n = policy_host_count(w->p);

	for (i = w->first; i < n; i += w->step) {
		hp = policy_host_compile(w->p, policy_host_name(w->p, i));
		if (hp == NULL) {
			w->failed = 1;
			break;
		}
		host_policy_render(hp, w->null);
		host_policy_free(hp);
	}
	return NULL;
}

/* The same compile+render loop over nthreads threads; wall ms, or -1. */
static double threads_time(const struct policy *p, int nthreads)
{
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	double t0 = now_ms();
	int i, failed = 0;

	if (w == NULL)
		return -1;
	for (i = 0; i < nthreads; i++) {
		w[i].p = p;
		w[i].first = (size_t)i;
		w[i].step = (size_t)nthreads;
		w[i].null = fopen("/dev/null", "w");
		if (w[i].null == NULL || pthread_create(&w[i].tid, NULL, worker_run, &w[i]) != 0)
			return -1;
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		failed |= w[i].failed;
		fclose(w[i].null);
	}
	free(w);
	return failed ? -1 : now_ms() - t0;
}

static void warn_count(void *arg, const char *msg)
{
	(void)msg;
	(*(int *)arg)++;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/bulkhead-policy-bench-XXXXXX";
	struct host_policy *hp;
	struct policy *p;
	double t0, c0, t_gen, t_parse, t_compile, c_parse, c_compile;
	size_t i, n, elems, elems_max = 0, elems_total = 0, rules = 0, rules_min = SIZE_MAX,
			    rules_max = 0, len;
	int c, nhosts = 10000, nrules = 2000, nthreads = 0, keep = 0, ngroups, warnings = 0;
	double t_threads = 0;
	FILE *null;
	char *text;

	while ((c = getopt(argc, argv, "n:r:j:k")) != -1) {
		switch (c) {
		case 'n': nhosts = atoi(optarg); break;
		case 'r': nrules = atoi(optarg); break;
		case 'j': nthreads = atoi(optarg); break;
		case 'k': keep = 1; break;
		default:
			fprintf(stderr,
				"usage: policy_bench [-n HOSTS] [-r RULES] [-j THREADS] [-k]\n");
			return 64;
		}
	}
	if (nhosts < 1 || nhosts > 60000 || nrules < 1 || nthreads < 0 || nthreads > 64) {
		fprintf(stderr, "policy_bench: 1..60000 hosts, at least one rule, 0..64 threads\n");
		return 64;
	}
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "policy_bench: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	null = fopen("/dev/null", "w");
	if (null == NULL)
		return 1;

	t0 = now_ms();
	ngroups = site_generate(dir, nhosts, nrules);
	t_gen = now_ms() - t0;

	t0 = now_ms();
	c0 = cpu_ms();
	p = policy_load_at(dir, 20000 /* 2024-10-04 */, conf_error_stderr, warn_count, &warnings);
	t_parse = now_ms() - t0;
	c_parse = cpu_ms() - c0;
	if (p == NULL) {
		fprintf(stderr, "policy_bench: the generated site does not load (kept in %s)\n",
			dir);
		return 1;
	}
	n = policy_host_count(p);

	t0 = now_ms();
	c0 = cpu_ms();
	for (i = 0; i < n; i++) {
		hp = policy_host_compile(p, policy_host_name(p, i));
		if (hp == NULL)
			return 1;
		host_policy_render(hp, null);
		elems = hp->nin + hp->nout;
		elems_total += elems;
		if (elems > elems_max)
			elems_max = elems;
		host_policy_free(hp);
	}
	t_compile = now_ms() - t0;
	c_compile = cpu_ms() - c0;

	if (nthreads > 0 && (t_threads = threads_time(p, nthreads)) < 0) {
		fprintf(stderr, "policy_bench: a thread failed\n");
		return 1;
	}

	/* apart from the timed loops: the number of rules each host gets */
	for (i = 0; i < n; i++) {
		hp = policy_host_compile(p, policy_host_name(p, i));
		text = host_policy_text(hp, &len);
		rules = host_policy_text_rules(text);
		if (rules < rules_min)
			rules_min = rules;
		if (rules > rules_max)
			rules_max = rules;
		free(text);
		host_policy_free(hp);
	}

	printf("site:            %zu hosts, %d groups, %d rules (%d warnings), generated in "
	       "%.0f ms\n",
	       n, ngroups, nrules, warnings, t_gen);
	printf("                 wall ms   cpu ms\n");
	printf("parse:           %8.1f %8.1f  (policy_load: read, resolve, check)\n", t_parse,
	       c_parse);
	printf("compile+render:  %8.1f %8.1f  (every host, to /dev/null; %.1f us cpu per host)\n",
	       t_compile, c_compile, c_compile * 1e3 / (double)n);
	printf("total:           %8.1f %8.1f\n", t_parse + t_compile, c_parse + c_compile);
	if (nthreads > 0)
		printf("compile+render:  %8.1f           (the same over %d threads)\n", t_threads,
		       nthreads);
	printf("rules per host:  %zu..%zu (the skeleton; does not grow with the policy)\n",
	       rules_min, rules_max);
	printf("elements/host:   %.1f average, %zu max (in + out, after merging)\n",
	       (double)elems_total / (double)n, elems_max);
	policy_free(p);
	fclose(null);
	if (keep)
		printf("site kept in %s\n", dir);
	else
		site_remove(dir);
	return 0;
}
