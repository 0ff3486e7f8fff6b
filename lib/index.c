/* A string (or byte string) to int map with open addressing, so that big
 * inventories and policies check their names and addresses in linear time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "yamlutil.h"

struct conf_index_slot {
	void *key; /* NULL: free */
	size_t len;
	int val;
};

void conf_index_init(struct conf_index *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void conf_index_clear(struct conf_index *ix)
{
	size_t i;

	for (i = 0; i < ix->cap; i++)
		free(ix->slots[i].key);
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

static uint64_t conf_index_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct conf_index_slot *conf_index_slot(const struct conf_index *ix, const void *key,
					       size_t len)
{
	size_t i = (size_t)conf_index_hash(key, len) & (ix->cap - 1);

	for (;; i = (i + 1) & (ix->cap - 1)) {
		struct conf_index_slot *s = &ix->slots[i];

		if (s->key == NULL || (s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

int conf_index_get(const struct conf_index *ix, const void *key, size_t len)
{
	const struct conf_index_slot *s;

	if (ix->cap == 0)
		return -1;
	s = conf_index_slot(ix, key, len);
	return s->key != NULL ? s->val : -1;
}

int conf_index_put(struct conf_index *ix, const void *key, size_t len, int val)
{
	struct conf_index_slot *s, *old = ix->slots;
	size_t i, oldcap = ix->cap;

	if (2 * (ix->n + 1) > ix->cap) {
		ix->cap = oldcap != 0 ? 2 * oldcap : 64;
		ix->slots = xcalloc(ix->cap, sizeof(*ix->slots));
		for (i = 0; i < oldcap; i++)
			if (old[i].key != NULL)
				*conf_index_slot(ix, old[i].key, old[i].len) = old[i];
		free(old);
	}
	s = conf_index_slot(ix, key, len);
	if (s->key != NULL)
		return s->val;
	s->key = xcalloc(1, len != 0 ? len : 1);
	memcpy(s->key, key, len);
	s->len = len;
	s->val = val;
	ix->n++;
	return -1;
}

size_t conf_addr_key(const struct conf_addr *a, uint8_t key[17])
{
	size_t len = a->family == AF_INET ? 4 : 16;

	key[0] = (uint8_t)a->family;
	memcpy(key + 1, &a->a, len);
	return len + 1;
}
