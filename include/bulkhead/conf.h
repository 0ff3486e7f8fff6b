/* Configuration and inventory files (YAML), parsed with libyaml.
 * Every parse error is reported as "file:line:col: message" (1-based line and
 * column) through the errors callback, and parsing goes on to report them all. */
#ifndef BULKHEAD_CONF_H
#define BULKHEAD_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CONF_MAX_ADDRS 8

struct conf_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		uint8_t v4[4];
		uint8_t v6[16];
	} a;
	char text[48]; /* as written, normalised by inet_ntop */
};

struct agent_conf {
	struct conf_addr controllers[CONF_MAX_ADDRS];
	int ncontrollers;
	uint16_t port;	       /* controller port, default 7443 */
	char *controller_name; /* name in the controller's certificate, default "bulkheadd" */
	char *controller_alt[CONF_MAX_ADDRS]; /* further names accepted (controller_name: [...]) */
	int ncontroller_alt;
	char *name;	       /* this host's name; default: the CN of its certificate */
	char *ca, *cert, *key; /* PEM paths, required */
	char *state_dir;       /* required */
	char *profile;	       /* hardware profile, default "linux-server" */
	char *mgmt_if;	       /* management interface name, optional */
	char *profile_dir;     /* hw-profiles/ directory; NULL: the default (see below) */
	int heartbeat_ms;      /* default 1000 */
	int dead_ms;	       /* peer silent this long is gone, default 5000 */
	int verify_ms;	       /* the tamper guard's periodic check, default 10000 */
	char *user;	       /* runs as this user once started, optional (default uid 0) */
};

/* Where hardware profiles are read from when agent.yaml names no profile_dir:
 * SYSCONFDIR/bulkhead/hw-profiles, as meson installs them. */
#ifdef BULKHEAD_PROFILE_DIR
#define CONF_PROFILE_DIR BULKHEAD_PROFILE_DIR
#else
#define CONF_PROFILE_DIR "/etc/bulkhead/hw-profiles"
#endif

#define CONF_MAX_GROUPS 8
#define CONF_MAX_REQUESTS 64 /* control request kinds, by wire type */

/* A control request's role: what the caller's groups must grant. */
enum access_role { ROLE_DEFAULT, ROLE_READ, ROLE_OPERATE };

/* What a second operator must approve (bulkheadd.yaml access.two_person). */
enum {
	TWO_PERSON_RELEASE_ALL = 1 << 0, /* release --all */
	TWO_PERSON_APPLY_OPEN = 1 << 1,	 /* apply of a plan that opens traffic */
	TWO_PERSON_PLAYBOOK_APPROVE = 1 << 2,
};

/* Who may make which control request. With no groups named, everyone who
 * can open the socket may make every request. */
struct ctl_access {
	gid_t read[CONF_MAX_GROUPS], operate[CONF_MAX_GROUPS];
	int nread, noperate;
	unsigned char role[CONF_MAX_REQUESTS]; /* by wire type - NLMSG_MIN_TYPE */
	unsigned two_person;		       /* TWO_PERSON_* */
	int two_person_ms;		       /* default 300000 */
};

/* The role a request of wire type needs under a: its configured one, else
 * read for the requests that only read, operate for the rest. */
enum access_role ctl_request_role(const struct ctl_access *a, uint16_t type);

struct ctl_conf {
	char *listen;  /* address to bind, default "0.0.0.0" (accepts IPv4 and IPv6 literals) */
	uint16_t port; /* default 7443 */
	char *ca, *cert, *key; /* PEM paths, required */
	char *state_dir;       /* holds bulkhead.db, required */
	char *control_socket;  /* default "/run/bulkhead/bulkheadd.sock" */
	char *control_group;   /* group owning the control socket, optional */
	char *user;	       /* runs as this user once started as root, optional */
	char *inventory;       /* path, required; relative paths are relative to the config file */
	int heartbeat_ms;      /* default 1000 */
	int dead_ms;	       /* default 5000 */
	struct ctl_access access;
	/* agent sessions still in their TLS handshake: in all, and from one address */
	int handshake_max;	  /* default 4096 */
	int handshake_per_source; /* default 16 */
	char *revoked; /* revocation list (revoked.yaml), optional; relative to the file */
	/* Metrics and events for other systems (docs/bulkheadd.8), all off by default. */
	char metrics_listen[64]; /* "ADDRESS:PORT" of the HTTP /metrics listener, "" off */
	char *events_exec;	 /* absolute path of a program run once per event */
	char *events_file;	 /* absolute path of a file that gets one JSON line per event */
	int events_syslog;	 /* 1: every event to syslog too */
	char *store; /* "sqlite:PATH" or "postgresql:CONNINFO"; NULL: state_dir/bulkhead.db */
	char *name;  /* this controller among those sharing a store; NULL: the host name */
};

struct inv_label {
	char *key, *value;
};

struct inv_host {
	char *name;
	struct conf_addr addrs[CONF_MAX_ADDRS];
	int naddrs;
	char *profile;
	struct inv_label *labels;
	int nlabels;
	int line; /* where the host was defined, for messages */
};

/* A host plugged into a switch port, from the switches' `ports` maps. */
struct inv_hostport {
	char *host, *sw, *port;
};

struct conf_index;

struct inventory {
	struct inv_host *hosts;
	int nhosts;
	struct inv_hostport *ports; /* what a silent host's switch isolates */
	int nports;
	struct conf_index *names; /* name to place in hosts, for inventory_host_find */
};

/* Receives one formatted "file:line:col: message" (or "file: message") per error. */
typedef void (*conf_error_fn)(void *arg, const char *msg);

/* Default: print to stderr. */
void conf_error_stderr(void *arg, const char *msg);

/* Return 0 on success, -1 if the file had any error (all were reported). */
int agent_conf_load(const char *path, struct agent_conf *c, conf_error_fn err, void *arg);
void agent_conf_clear(struct agent_conf *c);
int ctl_conf_load(const char *path, struct ctl_conf *c, conf_error_fn err, void *arg);
void ctl_conf_clear(struct ctl_conf *c);

/* Hosts must have unique names and addresses; a profile is required. */
struct inventory *inventory_load(const char *path, conf_error_fn err, void *arg);
void inventory_free(struct inventory *inv);
/* In constant time: a site of 30,000 agents admits each by this. */
const struct inv_host *inventory_host_find(const struct inventory *inv, const char *name);

/* A hardware profile file, hw-profiles/NAME.yaml: parsed and checked for
 * form here; what each kind accepts is checked by the agent (agents/profile.c),
 * which is why the place of every kind-specific key is kept. */
#define CONF_MAX_PATTERNS 32

struct conf_patterns {
	char *p[CONF_MAX_PATTERNS]; /* shell globs over interface names (fnmatch) */
	int n;
};

struct conf_where {
	int line, col; /* 1-based; 0: the key is not in the file */
};

struct profile_conf {
	char *name;	   /* required, must match the file name */
	char *kind;	   /* optional: linux-server, hypervisor or linux-switch; default name */
	char *description; /* optional */
	struct conf_patterns management, data, uplinks, host_facing;
	int netdev_ingress;   /* -1: not set, else 0 or 1 */
	int bridge;	      /* -1: not set, else 0 or 1 */
	char *port_isolation; /* NULL: not set; "link-down" or "bridge-block" */
	struct conf_where at_name, at_kind, at_data, at_uplinks, at_host_facing, at_netdev_ingress,
	    at_bridge, at_port_isolation;
};

/* Returns 0, or -1 once every problem is reported; either way pc holds what
 * could be read (so that the caller can report more) and is cleared by
 * profile_conf_clear. */
int profile_conf_load(const char *path, struct profile_conf *pc, conf_error_fn err, void *arg);
void profile_conf_clear(struct profile_conf *pc);

/* The revocation list (revoked.yaml, see bulkhead-policy(5)): each entry
 * names a host or a certificate serial. */
struct revoked_entry {
	char *host;	/* NULL, or a host name */
	char *serial;	/* NULL, or the serial as written */
	char *reason;	/* optional */
	char norm[128]; /* the serial as tls_serial_normalize writes it */
	int line;
};

struct revoked_list {
	struct revoked_entry *v;
	int n;
};

/* 0, or -1 once every problem is reported (file:line:col) and l is empty. */
int revoked_load(const char *path, struct revoked_list *l, conf_error_fn err, void *arg);
void revoked_clear(struct revoked_list *l);
/* The entry that revokes host or serial (normalised), or NULL. */
const struct revoked_entry *revoked_find(const struct revoked_list *l, const char *host,
					 const char *serial);

/* Parse an IPv4 or IPv6 literal; 0 on success. */
int conf_addr_parse(const char *s, struct conf_addr *out);
/* "ADDRESS:PORT", an IPv6 address in brackets ("[::1]:9464"), into the
 * address (unchecked) and a port of 1-65535; -1 when it is not that shape. */
int conf_hostport_split(const char *s, char *addr, size_t alen, uint16_t *port);

#endif
