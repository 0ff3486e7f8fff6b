/* The mode machine's backend on a real host: the kernel through nft*.c and
 * hard.c, the record through state.c, the rollback timer in the event loop,
 * alerts through the session. */
#include <stdio.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "agent.h"

/* The profile's hooks for the links as they are now. */
static void agent_hooks_get(struct agent *a, struct nft_hooks *h)
{
	struct profile_ctx c;

	memset(h, 0, sizeof(*h));
	if (!a->link || profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0)
		return;
	a->profile.ops->hooks(&c, h);
	profile_ctx_done(&c);
}

static int be_table_install(void *arg, enum bulkhead_mode mode, const struct host_policy *hp)
{
	struct agent *a = arg;
	struct nft_hooks h;

	agent_hooks_get(a, &h);
	nft_hooks_set(a->nft, &h);
	return nft_table_install(a->nft, &a->mgmt, mode, hp);
}

int agent_table_install(struct agent *a)
{
	return be_table_install(a, a->m.cur.mode, a->m.cur.policy);
}

static int be_mode_apply(void *arg, enum bulkhead_mode mode, uint64_t *apply_us)
{
	struct agent *a = arg;

	return nft_mode_apply(a->nft, mode, apply_us);
}

static int be_hard_plan(void *arg, struct agent_hold *out, int max, char *kept, size_t kept_len)
{
	return hard_plan(arg, out, max, kept, kept_len);
}

static void be_hard_apply(void *arg, const struct agent_hold *h, int n)
{
	hard_apply(arg, h, n);
}

static void be_hard_release(void *arg, const struct agent_hold *h, int n)
{
	hard_release(arg, h, n);
}

static int be_record(void *arg)
{
	return agent_record(arg);
}

static int be_policy_save(void *arg, const struct host_policy *hp)
{
	struct agent *a = arg;

	return state_policy_save(a->conf.state_dir, hp);
}

static struct host_policy *be_policy_load(void *arg, const char *hash)
{
	struct agent *a = arg;

	return state_policy_load(a->conf.state_dir, hash);
}

static void be_policy_gc(void *arg, const char *keep)
{
	struct agent *a = arg;

	state_policy_gc(a->conf.state_dir, keep, "");
}

static void be_rollback_arm(void *arg, uint32_t ms)
{
	struct agent *a = arg;
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(a->rollback_ev, &tv);
}

static void be_rollback_disarm(void *arg)
{
	struct agent *a = arg;

	evtimer_del(a->rollback_ev);
}

static void be_alert(void *arg, enum alert_kind kind, const char *text)
{
	agent_alert(arg, kind, "%s", text);
}

const struct mode_backend agent_backend = {
    .mode_apply = be_mode_apply,
    .table_install = be_table_install,
    .hard_plan = be_hard_plan,
    .hard_apply = be_hard_apply,
    .hard_release = be_hard_release,
    .record = be_record,
    .policy_save = be_policy_save,
    .policy_load = be_policy_load,
    .policy_gc = be_policy_gc,
    .rollback_arm = be_rollback_arm,
    .rollback_disarm = be_rollback_disarm,
    .alert = be_alert,
};

void agent_rollback_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	struct mode_result res;
	char why[96];

	snprintf(why, sizeof(why), "not confirmed within %u ms", a->m.confirm_ms);
	mode_rollback(&a->m, why, &res);
	agent_mode_done(a, &res);
	session_send_ack(a, 0, &res);
}
