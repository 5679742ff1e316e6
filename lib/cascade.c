// SPDX-License-Identifier: MIT
/*
 * OpenCV cascade classifier files (the new format opencv_traincascade
 * writes) into flat arrays (detect_internal.h).
 *
 * The file is hostile input: it is read by us (size-limited, regular files
 * only), parsed by libxml2 without network, DTD loading or entity
 * substitution, and a document with a DTD is refused outright, so no
 * entity can expand.  Every count is checked against the file's own
 * declarations and the DMK_CASCADE_MAX_* limits before it is trusted, and
 * every index, rectangle and number before it is stored: the detectors
 * index arrays with these values without further checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "internal.h"
#include "detect_internal.h"

struct parse {
	const char *path;
	locale_t c_locale;	/* numbers are "C" whatever the caller's */
	struct dmk_cascade *c;
	size_t cap_stages, cap_weaks, cap_nodes, cap_leaves, cap_subsets;
};

/* Log what is wrong with @node and return @err. */
__attribute__((format(printf, 4, 5)))
static int bad(const struct parse *ps, const xmlNode *node, int err,
	       const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node)
		pr_warn("cascade %s:%ld: <%s>: %s", ps->path,
			xmlGetLineNo(node), (const char *)node->name, msg);
	else
		pr_warn("cascade %s: %s", ps->path, msg);
	return err;
}

/* ---- reading the file ---- */

static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		pr_warn("cascade %s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		goto err_close;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		pr_warn("cascade %s: a directory", path);
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		pr_warn("cascade %s: not a regular file", path);
		goto err_close;
	}
	if (st.st_size == 0) {
		err = -EINVAL;
		pr_warn("cascade %s: empty file", path);
		goto err_close;
	}
	if ((uint64_t)st.st_size > DMK_CASCADE_MAX_FILE) {
		err = -E2BIG;
		pr_warn("cascade %s: %lld bytes, more than the %u allowed",
			path, (long long)st.st_size, DMK_CASCADE_MAX_FILE);
		goto err_close;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		err = -ENOMEM;
		goto err_close;
	}
	/* The size may change under us: read what fstat said, no more. */
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto err_free;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got == 0) {
		err = -EINVAL;
		pr_warn("cascade %s: empty file", path);
		goto err_free;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;

err_free:
	free(buf);
err_close:
	close(fd);
	return err;
}

/* ---- the tree ---- */

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       (!name || !strcmp((const char *)n->name, name));
}

static xmlNode *next_elem(xmlNode *n)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

#define for_each_elem(it, parent)					\
	for (it = next_elem((parent)->children); it; it = next_elem(it->next))

/* The one child element of @parent called @name (NULL if optional). */
static int child(const struct parse *ps, xmlNode *parent, const char *name,
		 bool required, xmlNode **out)
{
	xmlNode *it, *found = NULL;

	for_each_elem(it, parent) {
		if (!is_elem(it, name))
			continue;
		if (found)
			return bad(ps, it, -EINVAL, "appears twice");
		found = it;
	}
	if (!found && required)
		return bad(ps, parent, -EINVAL, "no <%s> inside", name);
	*out = found;
	return 0;
}

/* How many <_> items @parent holds; anything else in it is an error. */
static int count_items(const struct parse *ps, xmlNode *parent, long *n)
{
	xmlNode *it;
	long k = 0;

	for_each_elem(it, parent) {
		if (!is_elem(it, "_"))
			return bad(ps, it, -EINVAL, "unexpected in <%s>",
				   (const char *)parent->name);
		k++;
	}
	*n = k;
	return 0;
}

/*
 * The text of a leaf element (malloc'd): text and CDATA only, comments
 * skipped; an element or entity reference inside is an error.
 */
static int leaf_text(const struct parse *ps, xmlNode *node, char **out)
{
	size_t len = 0, l;
	xmlNode *it;
	char *s;

	for (it = node->children; it; it = it->next) {
		if (it->type == XML_COMMENT_NODE)
			continue;
		if (it->type != XML_TEXT_NODE &&
		    it->type != XML_CDATA_SECTION_NODE)
			return bad(ps, node, -EINVAL, "not a plain value");
		if (it->content &&
		    __builtin_add_overflow(len, strlen((char *)it->content),
					   &len))
			return -EOVERFLOW;
	}
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	len = 0;
	for (it = node->children; it; it = it->next) {
		if (it->type == XML_COMMENT_NODE || !it->content)
			continue;
		l = strlen((char *)it->content);
		memcpy(s + len, it->content, l);
		len += l;
	}
	s[len] = '\0';
	*out = s;
	return 0;
}

/* ---- numbers ---- */

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* A token cursor over a leaf's text. */
struct toks {
	char *p;
};

static char *skip_space(char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/* 1 and the next integer, 0 at the end, -EINVAL for anything else. */
static int next_ll(const struct parse *ps, xmlNode *node, struct toks *t,
		   long long *v)
{
	char *end;

	t->p = skip_space(t->p);
	if (!*t->p)
		return 0;
	errno = 0;
	*v = strtoll(t->p, &end, 10);
	if (end == t->p || (*end && !is_space(*end)))
		return bad(ps, node, -EINVAL, "\"%.24s\" is not an integer",
			   t->p);
	if (errno == ERANGE)
		return bad(ps, node, -EINVAL, "\"%.24s\" is out of range",
			   t->p);
	t->p = end;
	return 1;
}

/* 1 and the next finite number that a float holds, 0 at the end. */
static int next_float(const struct parse *ps, xmlNode *node, struct toks *t,
		      float *v)
{
	char *end;
	double d;

	t->p = skip_space(t->p);
	if (!*t->p)
		return 0;
	errno = 0;
	d = strtod_l(t->p, &end, ps->c_locale);
	if (end == t->p || (*end && !is_space(*end)))
		return bad(ps, node, -EINVAL, "\"%.24s\" is not a number",
			   t->p);
	*v = (float)d;
	if (!__builtin_isfinite(d) || !__builtin_isfinite(*v))
		return bad(ps, node, -EINVAL, "\"%.24s\" is not finite as a "
			   "float", t->p);
	t->p = end;
	return 1;
}

/* The single integer a leaf element holds. */
static int elem_ll(const struct parse *ps, xmlNode *node, long long *v)
{
	struct toks t;
	long long extra;
	char *s;
	int err;

	err = leaf_text(ps, node, &s);
	if (err)
		return err;
	t.p = s;
	err = next_ll(ps, node, &t, v);
	if (err == 0)
		err = bad(ps, node, -EINVAL, "empty");
	if (err == 1) {
		err = next_ll(ps, node, &t, &extra);
		if (err == 1)
			err = bad(ps, node, -EINVAL, "more than one value");
	}
	free(s);
	return err;
}

/*
 * A count or size: 1..@limit, -E2BIG past the limit (a file may declare
 * anything; only what we agree to allocate and walk is bounded).
 */
static int elem_count(const struct parse *ps, xmlNode *node, long limit,
		      long *out)
{
	long long v;
	int err = elem_ll(ps, node, &v);

	if (err)
		return err;
	if (v < 1)
		return bad(ps, node, -EINVAL, "%lld: must be at least 1", v);
	if (v > limit)
		return bad(ps, node, -E2BIG, "%lld: more than the %ld allowed",
			   v, limit);
	*out = (long)v;
	return 0;
}

/* The single number a leaf element holds. */
static int elem_float(const struct parse *ps, xmlNode *node, float *v)
{
	struct toks t;
	float extra;
	char *s;
	int err;

	err = leaf_text(ps, node, &s);
	if (err)
		return err;
	t.p = s;
	err = next_float(ps, node, &t, v);
	if (err == 0)
		err = bad(ps, node, -EINVAL, "empty");
	if (err == 1) {
		err = next_float(ps, node, &t, &extra);
		if (err == 1)
			err = bad(ps, node, -EINVAL, "more than one value");
	}
	free(s);
	return err;
}

/* The word a leaf element holds, compared with @want. */
static int elem_word(const struct parse *ps, xmlNode *node, char *word,
		     size_t len)
{
	char *s, *p, *e;
	int err;

	err = leaf_text(ps, node, &s);
	if (err)
		return err;
	p = skip_space(s);
	for (e = p; *e && !is_space(*e); e++)
		;
	if (*skip_space(e) || e == p || (size_t)(e - p) >= len) {
		free(s);
		return bad(ps, node, -EINVAL, "not a single word");
	}
	memcpy(word, p, (size_t)(e - p));
	word[e - p] = '\0';
	free(s);
	return 0;
}

/* ---- growing arrays ---- */

static int grow(void **arr, size_t *cap, size_t want, size_t elsz)
{
	size_t ncap = *cap ? *cap : 64, bytes;
	void *p;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		if (__builtin_mul_overflow(ncap, 2, &ncap))
			return -EOVERFLOW;
	if (__builtin_mul_overflow(ncap, elsz, &bytes))
		return -EOVERFLOW;
	p = realloc(*arr, bytes);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Room for @more items past @len of array @arr (a cascade member). */
#define GROW(ps, arr, len, more)					\
	({								\
		size_t want_;						\
		__builtin_add_overflow((size_t)(len), (size_t)(more), &want_) \
			? -EOVERFLOW					\
			: grow((void **)&(ps)->c->arr,			\
			       &(ps)->cap_##arr, want_,			\
			       sizeof(*(ps)->c->arr));			\
	})

/* ---- features ---- */

/* x, y, w, h inside the window (x + @span * w <= win_w, likewise y). */
static int check_rect(const struct parse *ps, xmlNode *node,
		      const long long r[4], int span)
{
	const struct dmk_cascade *c = ps->c;

	if (r[0] < 0 || r[1] < 0 || r[2] < 1 || r[3] < 1 ||
	    r[0] + span * r[2] > c->win_w || r[1] + span * r[3] > c->win_h)
		return bad(ps, node, -EINVAL, "rect %lld %lld %lld %lld%s "
			   "outside the %ux%u window", r[0], r[1], r[2], r[3],
			   span == 3 ? " (a 3x3 grid)" : "", c->win_w,
			   c->win_h);
	return 0;
}

/* Exactly @n integers, all within a window-sized range. */
static int read_ints(const struct parse *ps, xmlNode *node, struct toks *t,
		     long long *v, int n)
{
	int i, err;

	for (i = 0; i < n; i++) {
		err = next_ll(ps, node, t, &v[i]);
		if (err < 0)
			return err;
		if (err == 0)
			return bad(ps, node, -EINVAL, "%d values, %d wanted",
				   i, n);
		if (v[i] < INT32_MIN || v[i] > INT32_MAX)
			return bad(ps, node, -EINVAL, "%lld out of range",
				   v[i]);
	}
	return 0;
}

static int lbp_feature(const struct parse *ps, xmlNode *item,
		       struct dmk__lbp_feature *f)
{
	struct toks t;
	long long r[4], extra;
	xmlNode *rect;
	char *s;
	int err;

	err = child(ps, item, "rect", true, &rect);
	if (err)
		return err;
	err = leaf_text(ps, rect, &s);
	if (err)
		return err;
	t.p = s;
	err = read_ints(ps, rect, &t, r, 4);
	if (!err && next_ll(ps, rect, &t, &extra) != 0)
		err = bad(ps, rect, -EINVAL, "more than 4 values");
	free(s);
	if (!err)
		err = check_rect(ps, rect, r, 3);
	if (err)
		return err;
	f->x = (int32_t)r[0];
	f->y = (int32_t)r[1];
	f->w = (int32_t)r[2];
	f->h = (int32_t)r[3];
	return 0;
}

static int haar_feature(const struct parse *ps, xmlNode *item,
			struct dmk__haar_feature *f)
{
	xmlNode *rects, *tilted, *it;
	long long r[4], tv;
	struct toks t;
	float w, more;
	char *s;
	int i = 0, err;

	memset(f, 0, sizeof(*f));
	err = child(ps, item, "rects", true, &rects);
	if (!err)
		err = child(ps, item, "tilted", false, &tilted);
	if (err)
		return err;
	if (tilted) {
		err = elem_ll(ps, tilted, &tv);
		if (err)
			return err;
		if (tv != 0 && tv != 1)
			return bad(ps, tilted, -EINVAL, "%lld: 0 or 1", tv);
		if (tv)
			return bad(ps, tilted, -ENOTSUP, "tilted Haar "
				   "features are not supported");
	}
	for_each_elem(it, rects) {
		if (!is_elem(it, "_"))
			return bad(ps, it, -EINVAL, "unexpected in <rects>");
		if (i == DMK_HAAR_RECTS)
			return bad(ps, rects, -EINVAL, "more than %d rects",
				   DMK_HAAR_RECTS);
		err = leaf_text(ps, it, &s);
		if (err)
			return err;
		t.p = s;
		err = read_ints(ps, it, &t, r, 4);
		if (!err) {
			err = next_float(ps, it, &t, &w);
			if (err == 0)
				err = bad(ps, it, -EINVAL, "no weight");
			else if (err == 1)
				err = next_float(ps, it, &t, &more) != 0 ?
				      bad(ps, it, -EINVAL, "more than 5 "
					  "values") : 0;
		}
		free(s);
		if (!err)
			err = check_rect(ps, it, r, 1);
		if (err)
			return err;
		f->rect[i][0] = (int32_t)r[0];
		f->rect[i][1] = (int32_t)r[1];
		f->rect[i][2] = (int32_t)r[2];
		f->rect[i][3] = (int32_t)r[3];
		f->weight[i] = w;
		i++;
	}
	if (!i)
		return bad(ps, rects, -EINVAL, "no rects");
	/* OpenCV reads the third rect only when its weight is positive. */
	if (i == DMK_HAAR_RECTS && !(f->weight[2] > 0))
		memset(f->rect[2], 0, sizeof(f->rect[2]));
	f->nrects = i;
	return 0;
}

static int parse_features(struct parse *ps, xmlNode *features)
{
	struct dmk_cascade *c = ps->c;
	xmlNode *it;
	long n;
	size_t i = 0;
	int err;

	err = count_items(ps, features, &n);
	if (err)
		return err;
	if (n == 0)
		return bad(ps, features, -EINVAL, "no features");
	if (n > DMK_CASCADE_MAX_FEATURES)
		return bad(ps, features, -E2BIG, "%ld features, more than the "
			   "%d allowed", n, DMK_CASCADE_MAX_FEATURES);
	if (c->kind == DMK_CASCADE_LBP)
		c->lbp = calloc((size_t)n, sizeof(*c->lbp));
	else
		c->haar = calloc((size_t)n, sizeof(*c->haar));
	if (!c->lbp && !c->haar)
		return -ENOMEM;
	for_each_elem(it, features) {
		err = c->kind == DMK_CASCADE_LBP ?
		      lbp_feature(ps, it, &c->lbp[i]) :
		      haar_feature(ps, it, &c->haar[i]);
		if (err)
			return err;
		i++;
	}
	c->nfeatures = (uint32_t)n;
	return 0;
}

/* ---- stages ---- */

static int parse_nodes(struct parse *ps, xmlNode *inodes,
		       struct dmk__weak *weak)
{
	struct dmk_cascade *c = ps->c;
	bool lbp = c->kind == DMK_CASCADE_LBP;
	long long v[3 + DMK_LBP_SUBSET_WORDS];
	int nv = lbp ? 3 + DMK_LBP_SUBSET_WORDS : 3;
	struct dmk__node *node;
	uint32_t k = 0, i;
	struct toks t;
	char *s;
	int err;

	err = leaf_text(ps, inodes, &s);
	if (err)
		return err;
	t.p = s;
	for (;;) {
		t.p = skip_space(t.p);
		if (!*t.p)
			break;
		if (k == DMK_CASCADE_MAX_TREE_NODES) {
			err = bad(ps, inodes, -E2BIG, "more than %d nodes in "
				  "a tree", DMK_CASCADE_MAX_TREE_NODES);
			goto out;
		}
		err = read_ints(ps, inodes, &t, v, nv);
		if (err)
			goto out;
		err = GROW(ps, nodes, c->nnodes, 1);
		if (!err && lbp)
			err = GROW(ps, subsets,
				   (size_t)c->nnodes * DMK_LBP_SUBSET_WORDS,
				   DMK_LBP_SUBSET_WORDS);
		if (err)
			goto out;
		node = &c->nodes[c->nnodes];
		node->left = (int32_t)v[0];
		node->right = (int32_t)v[1];
		node->feature = (int32_t)v[2];
		node->threshold = 0;
		if (v[2] < 0 || v[2] >= c->nfeatures) {
			err = bad(ps, inodes, -EINVAL, "node %u: feature %lld "
				  "of %u", k, v[2], c->nfeatures);
			goto out;
		}
		if (lbp) {
			for (i = 0; i < DMK_LBP_SUBSET_WORDS; i++)
				c->subsets[(size_t)c->nnodes *
					   DMK_LBP_SUBSET_WORDS + i] =
					(int32_t)v[3 + i];
		} else {
			err = next_float(ps, inodes, &t, &node->threshold);
			if (err == 0)
				err = bad(ps, inodes, -EINVAL, "node %u: no "
					  "threshold", k);
			if (err < 0)
				goto out;
		}
		c->nnodes++;
		k++;
	}
	if (!k) {
		err = bad(ps, inodes, -EINVAL, "no nodes");
		goto out;
	}
	/* Children come after their parent, so every walk ends in a leaf. */
	for (i = 0; i < k; i++) {
		node = &c->nodes[c->nnodes - k + i];
		if ((node->left > 0 && (node->left <= (int32_t)i ||
					node->left >= (int32_t)k)) ||
		    (node->right > 0 && (node->right <= (int32_t)i ||
					 node->right >= (int32_t)k)) ||
		    node->left < -(int32_t)k || node->right < -(int32_t)k) {
			err = bad(ps, inodes, -EINVAL, "node %u: children %d "
				  "%d out of the %u-node tree", i, node->left,
				  node->right, k);
			goto out;
		}
	}
	weak->first_node = (int32_t)(c->nnodes - k);
	weak->nnodes = (int32_t)k;
	if (k > c->max_tree_nodes)
		c->max_tree_nodes = k;
	err = 0;
out:
	free(s);
	return err;
}

static int parse_leaves(struct parse *ps, xmlNode *leaves,
			struct dmk__weak *weak)
{
	struct dmk_cascade *c = ps->c;
	uint32_t k = 0, want = (uint32_t)weak->nnodes + 1;
	struct toks t;
	float v;
	char *s;
	int err;

	err = leaf_text(ps, leaves, &s);
	if (err)
		return err;
	t.p = s;
	while ((err = next_float(ps, leaves, &t, &v)) == 1) {
		if (k == want) {
			err = bad(ps, leaves, -EINVAL, "more than %u leaves "
				  "for %d nodes", want, weak->nnodes);
			goto out;
		}
		err = GROW(ps, leaves, c->nleaves, 1);
		if (err)
			goto out;
		c->leaves[c->nleaves++] = v;
		k++;
	}
	if (err)
		goto out;
	if (k != want) {
		err = bad(ps, leaves, -EINVAL, "%u leaves for %d nodes", k,
			  weak->nnodes);
		goto out;
	}
	weak->first_leaf = (int32_t)(c->nleaves - k);
out:
	free(s);
	return err;
}

static int parse_stage(struct parse *ps, xmlNode *item, long max_weak)
{
	struct dmk_cascade *c = ps->c;
	xmlNode *nweak, *thr, *weaks, *it, *inodes, *leaves;
	struct dmk__stage *st;
	struct dmk__weak *weak;
	long declared, n;
	int err;

	err = child(ps, item, "maxWeakCount", true, &nweak);
	if (!err)
		err = child(ps, item, "stageThreshold", true, &thr);
	if (!err)
		err = child(ps, item, "weakClassifiers", true, &weaks);
	if (!err)
		err = elem_count(ps, nweak, DMK_CASCADE_MAX_WEAK, &declared);
	if (err)
		return err;
	if (max_weak && declared > max_weak)
		return bad(ps, nweak, -EINVAL, "%ld, more than the cascade's "
			   "maxWeakCount %ld", declared, max_weak);
	err = count_items(ps, weaks, &n);
	if (err)
		return err;
	if (n != declared)
		return bad(ps, weaks, -EINVAL, "%ld weak classifiers, %ld "
			   "declared", n, declared);
	err = GROW(ps, stages, c->nstages, 1);
	if (!err)
		err = GROW(ps, weaks, c->nweaks, n);
	if (err)
		return err;
	st = &c->stages[c->nstages];
	memset(st, 0, sizeof(*st));
	err = elem_float(ps, thr, &st->threshold);
	if (err)
		return err;
	st->threshold -= DMK_STAGE_THRESHOLD_EPS;
	st->first = (int32_t)c->nweaks;
	st->count = (int32_t)n;
	for_each_elem(it, weaks) {
		weak = &c->weaks[c->nweaks];
		memset(weak, 0, sizeof(*weak));
		err = child(ps, it, "internalNodes", true, &inodes);
		if (!err)
			err = child(ps, it, "leafValues", true, &leaves);
		if (!err)
			err = parse_nodes(ps, inodes, weak);
		if (!err)
			err = parse_leaves(ps, leaves, weak);
		if (err)
			return err;
		c->nweaks++;
	}
	c->nstages++;
	return 0;
}

/* One stump a weak classifier, for the fast path and the GPU. */
static int make_stumps(struct dmk_cascade *c)
{
	uint32_t i;

	c->stump_based = c->max_tree_nodes == 1;
	if (!c->stump_based)
		return 0;
	c->stumps = calloc(c->nweaks, sizeof(*c->stumps));
	if (!c->stumps)
		return -ENOMEM;
	for (i = 0; i < c->nweaks; i++) {
		const struct dmk__weak *w = &c->weaks[i];
		const struct dmk__node *node = &c->nodes[w->first_node];
		const float *leaf = &c->leaves[w->first_leaf];

		/* A one-node tree's children can only be leaves 0 and 1. */
		c->stumps[i].feature = node->feature;
		c->stumps[i].threshold = node->threshold;
		c->stumps[i].left = leaf[-node->left];
		c->stumps[i].right = leaf[-node->right];
	}
	return 0;
}

/* ---- the cascade ---- */

static int parse_cascade(struct parse *ps, xmlNode *root)
{
	struct dmk_cascade *c = ps->c;
	xmlNode *e, *params, *features, *stages, *it;
	long long v;
	long n, nstages, max_weak = 0;
	char word[16];
	int err;

	err = child(ps, root, "stageType", true, &e);
	if (!err)
		err = elem_word(ps, e, word, sizeof(word));
	if (err)
		return err;
	if (strcmp(word, "BOOST"))
		return bad(ps, e, -EINVAL, "stage type %s: only BOOST exists",
			   word);

	err = child(ps, root, "featureType", true, &e);
	if (!err)
		err = elem_word(ps, e, word, sizeof(word));
	if (err)
		return err;
	if (!strcmp(word, "LBP"))
		c->kind = DMK_CASCADE_LBP;
	else if (!strcmp(word, "HAAR"))
		c->kind = DMK_CASCADE_HAAR;
	else if (!strcmp(word, "HOG"))
		return bad(ps, e, -ENOTSUP, "HOG cascades are not supported");
	else
		return bad(ps, e, -EINVAL, "unknown feature type %s", word);

	err = child(ps, root, "width", true, &e);
	if (!err)
		err = elem_count(ps, e, DMK_CASCADE_MAX_WIN, &n);
	if (err)
		return err;
	c->win_w = (uint32_t)n;
	err = child(ps, root, "height", true, &e);
	if (!err)
		err = elem_count(ps, e, DMK_CASCADE_MAX_WIN, &n);
	if (err)
		return err;
	c->win_h = (uint32_t)n;
	/* Haar normalises over the window less 1 px each side. */
	if (c->kind == DMK_CASCADE_HAAR && (c->win_w < 3 || c->win_h < 3))
		return bad(ps, root, -EINVAL, "a %ux%u Haar window is too "
			   "small", c->win_w, c->win_h);

	err = child(ps, root, "stageParams", false, &params);
	if (!err && params)
		err = child(ps, params, "maxWeakCount", false, &e);
	if (!err && params && e)
		err = elem_count(ps, e, DMK_CASCADE_MAX_WEAK, &max_weak);
	if (err)
		return err;

	err = child(ps, root, "featureParams", true, &params);
	if (!err)
		err = child(ps, params, "maxCatCount", true, &e);
	if (!err)
		err = elem_ll(ps, e, &v);
	if (err)
		return err;
	if (v != (c->kind == DMK_CASCADE_LBP ? 256 : 0))
		return bad(ps, e, -EINVAL, "%lld categories for %s features "
			   "(%d expected)", v, word,
			   c->kind == DMK_CASCADE_LBP ? 256 : 0);

	err = child(ps, root, "stageNum", true, &e);
	if (!err)
		err = elem_count(ps, e, DMK_CASCADE_MAX_STAGES, &nstages);
	if (!err)
		err = child(ps, root, "stages", true, &stages);
	if (!err)
		err = count_items(ps, stages, &n);
	if (err)
		return err;
	if (n != nstages)
		return bad(ps, stages, -EINVAL, "%ld stages, %ld declared", n,
			   nstages);

	/* Features first, so that nodes can be checked against them. */
	err = child(ps, root, "features", true, &features);
	if (!err)
		err = parse_features(ps, features);
	if (err)
		return err;

	for_each_elem(it, stages) {
		err = parse_stage(ps, it, max_weak);
		if (err)
			return err;
	}
	return make_stumps(c);
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	/* libxml2 wants this once before any use from threads; the library
	 * never calls xmlCleanupParser(), which would pull libxml2 from
	 * under the application's own users of it. */
	xmlInitParser();
}

DMK_API int dmk_cascade_load(const char *path, struct dmk_cascade **out)
{
	struct parse ps = { .path = path };
	xmlNode *root, *top, *stage_type;
	xmlParserCtxtPtr ctxt;
	xmlDoc *doc = NULL;
	size_t len = 0;
	char *buf = NULL;
	int err;

	if (!path || !out)
		return -EINVAL;
	err = read_file(path, &buf, &len);
	if (err)
		return err;
	if (len > INT_MAX) {
		err = -E2BIG;
		goto err_buf;
	}
	pthread_once(&xml_once, xml_init);
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		err = -ENOMEM;
		goto err_buf;
	}
	/* No network, no DTD loading, no entity substitution (none of
	 * NOENT, DTDLOAD, XINCLUDE); no printing: errors are read back. */
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, path, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR |
				XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (!doc) {
		const xmlError *xe = xmlCtxtGetLastError(ctxt);
		const char *msg = xe && xe->message ? xe->message : "";
		int mlen = (int)strcspn(msg, "\n");

		pr_warn("cascade %s:%d: not XML: %.*s", path,
			xe ? xe->line : 0, mlen, msg);
		err = xe && xe->code == XML_ERR_NO_MEMORY ? -ENOMEM : -EINVAL;
		goto err_ctxt;
	}
	if (doc->intSubset || doc->extSubset) {
		err = bad(&ps, NULL, -EINVAL, "a DTD is not allowed");
		goto err_doc;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, "opencv_storage")) {
		err = bad(&ps, root, -EINVAL, "not an OpenCV storage file");
		goto err_doc;
	}
	top = next_elem(root->children);
	if (!top) {
		err = bad(&ps, root, -EINVAL, "empty");
		goto err_doc;
	}
	/* opencv_haartraining's old format: <size> and trees in stages. */
	err = child(&ps, top, "stageType", false, &stage_type);
	if (err)
		goto err_doc;
	if (!stage_type) {
		xmlNode *size = NULL;

		err = child(&ps, top, "size", false, &size);
		if (!err && size)
			err = bad(&ps, top, -ENOTSUP, "old-format "
				  "(haartraining) cascade: convert it with "
				  "OpenCV's "
				  "traincascade format");
		else if (!err)
			err = bad(&ps, top, -EINVAL, "not a cascade "
				  "classifier");
		goto err_doc;
	}
	ps.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!ps.c_locale) {
		err = -errno;
		goto err_doc;
	}
	ps.c = calloc(1, sizeof(*ps.c));
	if (!ps.c) {
		err = -ENOMEM;
		goto err_locale;
	}
	err = parse_cascade(&ps, top);
	if (err)
		goto err_cascade;
	freelocale(ps.c_locale);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	free(buf);
	pr_debug("cascade %s: %s %ux%u, %u stages, %u weak, %u features",
		 path, ps.c->kind == DMK_CASCADE_LBP ? "LBP" : "Haar",
		 ps.c->win_w, ps.c->win_h, ps.c->nstages, ps.c->nweaks,
		 ps.c->nfeatures);
	*out = ps.c;
	return 0;

err_cascade:
	dmk_cascade_free(ps.c);
err_locale:
	freelocale(ps.c_locale);
err_doc:
	xmlFreeDoc(doc);
err_ctxt:
	xmlFreeParserCtxt(ctxt);
err_buf:
	free(buf);
	return err;
}

DMK_API void dmk_cascade_free(struct dmk_cascade *c)
{
	if (!c)
		return;
	free(c->stages);
	free(c->weaks);
	free(c->nodes);
	free(c->leaves);
	free(c->subsets);
	free(c->stumps);
	free(c->lbp);
	free(c->haar);
	free(c);
}

DMK_API enum dmk_cascade_kind dmk_cascade_kind(const struct dmk_cascade *c)
{
	return c->kind;
}

DMK_API void dmk_cascade_window(const struct dmk_cascade *c, uint32_t *w,
				uint32_t *h)
{
	if (w)
		*w = c->win_w;
	if (h)
		*h = c->win_h;
}
