// SPDX-License-Identifier: MIT
/*
 * Accounting of dma-bufs and memfds from the kernel's own views: procfs
 * (/proc/<pid>/fd, fdinfo, maps, map_files), the dma-buf sysfs stats or
 * debugfs list, /proc/meminfo and PSI; and, on request, Vulkan's view of
 * device memory.
 *
 * Identity.  A buffer is its file's (st_dev, st_ino), from stat() through
 * the /proc/<pid>/fd/<n> magic link (which reaches the open file itself)
 * or from the dev and inode columns of maps.  Every dma-buf lives on one
 * pseudo filesystem (fstatfs magic DMA_BUF_MAGIC); memfds live on the
 * kernel's internal tmpfs (or hugetlbfs) and their link reads
 * "/memfd:NAME (deleted)".
 *
 * References.  Each fd table entry and each mapping (VMA) holds one
 * reference to the file; fork() copies both.  So per process and buffer we
 * count fds and mapping lines, and for a dma-buf their sum over processes
 * is fdinfo's "count" (which leaves out the reference procfs itself takes
 * while printing it) when no one unseen holds the buffer.
 *
 * Processes are scanned one after the other, in pid order, so all of one
 * process's references arrive together: its holder entry is always the
 * last one of a buffer's list.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <vulkan/vulkan.h>

#include "internal.h"
#include "stats_internal.h"
#include "sys.h"

#ifndef DMA_BUF_MAGIC
#define DMA_BUF_MAGIC 0x444d4142
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define STATS_KNOWN_FLAGS (DMK_STATS_NO_MAPS | DMK_STATS_NO_MEMFD)
#define STATS_COMM_MAX 64
/* A maps file larger than this is not a process we can account (and not
 * one that exists: 64 Ki mappings of ~100 bytes each is 6.4 MB). */
#define STATS_MAPS_MAX (256u << 20)

struct stats_holder {
	uint32_t proc;
	uint32_t fd_refs;
	uint32_t map_refs;
};

struct stats_buf {
	dev_t dev;
	ino_t ino;
	enum dmk_stats_kind kind;
	uint64_t size;
	bool size_known;	/* from an fd, map_files or the kernel list */
	int64_t kcount;
	uint32_t fd_refs, map_refs;
	char exporter[DMK_STATS_EXP_MAX];
	char name[DMK_STATS_NAME_MAX];
	struct stats_holder *holders;
	uint32_t nholders, capholders;
};

struct stats_proc {
	pid_t pid;
	uid_t uid;
	int err;
	uint32_t nbufs, fd_refs, map_refs;
	uint64_t referenced, proportional;
	char comm[STATS_COMM_MAX];
};

struct stats_exp {
	char name[DMK_STATS_EXP_MAX];
	uint32_t nbufs;
	uint64_t bytes;
};

struct dmk_stats_snapshot {
	struct stats_buf *bufs;
	size_t nbufs, capbufs;
	struct stats_proc *procs;
	size_t nprocs, capprocs;
	struct stats_exp *exps;
	size_t nexps, capexps;
	struct dmk_stats_heaps heaps;
	struct dmk_stats_memory mem;
	struct dmk_stats_totals totals;

	/* Only while scanning. */
	const char *proc_root, *sys_root;
	unsigned int flags;
	uint32_t *hash;		/* index + 1 into bufs, 0: empty */
	size_t hashcap;		/* a power of two */
	bool have_dmabuf_dev;	/* the dma-buf filesystem's dev is known */
	dev_t dmabuf_dev;
	bool no_map_files;	/* map_files refused us once: stop asking */
};

/* ---- small helpers ---- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

__attribute__((format(printf, 3, 4)))
static int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * Read a whole file of any length (maps can be megabytes) into a
 * NUL-terminated malloc'd buffer.
 */
static int read_all(const char *path, char **out)
{
	size_t cap = 16384, len = 0;
	char *buf, *tmp;
	ssize_t n;
	int fd, err = 0;

	fd = dmk__open(path, O_RDONLY);
	if (fd < 0)
		return fd;
	buf = malloc(cap);
	if (!buf) {
		dmk__close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= STATS_MAPS_MAX) {
				err = -EFBIG;
				break;
			}
			tmp = realloc(buf, cap * 2);
			if (!tmp) {
				err = -ENOMEM;
				break;
			}
			buf = tmp;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = dmk__neg_errno();
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	dmk__close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Strip one trailing newline (sysfs and comm values end with one). */
static void chomp(char *s)
{
	size_t n = strlen(s);

	if (n && s[n - 1] == '\n')
		s[n - 1] = '\0';
}

/* Parse hex digits at *@s, advancing it past them; -EINVAL or -ERANGE. */
static int parse_hex(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	unsigned int d;

	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			break;
		if (v >> 60)
			return -ERANGE;
		v = v << 4 | d;
	}
	if (p == *s)
		return -EINVAL;
	*s = p;
	*out = v;
	return 0;
}

static int parse_dec(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -ERANGE;
	if (p == *s)
		return -EINVAL;
	*s = p;
	*out = v;
	return 0;
}

/*
 * A percentage as PSI prints it, "12.34", without strtod (whose decimal
 * point follows the caller's locale).
 */
static int parse_decimal(const char *s, double *out)
{
	uint64_t ip, fp = 0;
	double scale = 1;
	const char *p = s;

	if (parse_dec(&p, &ip))
		return -EINVAL;
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9' && scale < 1e15; p++) {
			fp = fp * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return -EINVAL;
	*out = (double)ip + (double)fp / scale;
	return 0;
}

/* ---- parsers (stats_internal.h) ---- */

/* The value of "key:<ws>value" when @line has key @key, else NULL. */
static const char *field(const char *line, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(line, key, n) || line[n] != ':')
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

void dmk__stats_parse_fdinfo(const char *text, struct dmk__fdinfo *fi)
{
	const char *line = text, *next, *v;
	char val[DMK_STATS_NAME_MAX];
	uint64_t u;
	size_t n;

	memset(fi, 0, sizeof(*fi));
	for (; *line; line = next) {
		next = strchr(line, '\n');
		n = next ? (size_t)(next - line) : strlen(line);
		next = next ? next + 1 : line + n;
		/* Longer than any field we want: a name is cut to fit. */
		if (n >= sizeof(val))
			n = sizeof(val) - 1;
		memcpy(val, line, n);
		val[n] = '\0';

		if ((v = field(val, "size"))) {
			if (!dmk__parse_u64(v, &u)) {
				fi->size = u;
				fi->have_size = true;
			}
		} else if ((v = field(val, "count"))) {
			if (!dmk__parse_u64(v, &u) && u <= INT64_MAX) {
				fi->count = (int64_t)u;
				fi->have_count = true;
			}
		} else if ((v = field(val, "ino"))) {
			if (!dmk__parse_u64(v, &u)) {
				fi->ino = u;
				fi->have_ino = true;
			}
		} else if ((v = field(val, "exp_name"))) {
			dmk__strscpy(fi->exp_name, v, sizeof(fi->exp_name));
			fi->have_exp_name = true;
		} else if ((v = field(val, "name"))) {
			dmk__strscpy(fi->name, v, sizeof(fi->name));
			fi->have_name = true;
		}
	}
}

int dmk__stats_parse_maps_line(const char *line, struct dmk__maps_line *ml)
{
	const char *p = line;
	uint64_t start, end, off, maj, min, ino;

	/* start-end perms offset major:minor inode [path] */
	if (parse_hex(&p, &start) || *p++ != '-' || parse_hex(&p, &end) ||
	    *p++ != ' ')
		return -EINVAL;
	if (strspn(p, "rwxsp-") != 4 || p[4] != ' ')
		return -EINVAL;
	p += 5;
	if (parse_hex(&p, &off) || *p++ != ' ' || parse_hex(&p, &maj) ||
	    *p++ != ':' || parse_hex(&p, &min) || *p++ != ' ' ||
	    parse_dec(&p, &ino))
		return -EINVAL;
	if (*p && *p != ' ')
		return -EINVAL;
	if (end < start || maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	ml->start = start;
	ml->end = end;
	ml->offset = off;
	ml->major = (unsigned int)maj;
	ml->minor = (unsigned int)min;
	ml->ino = ino;
	ml->path = p;
	return 0;
}

void dmk__stats_parse_meminfo(const char *text, struct dmk_stats_memory *m)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "MemTotal", offsetof(struct dmk_stats_memory, total) },
		{ "MemFree", offsetof(struct dmk_stats_memory, free) },
		{ "MemAvailable",
		  offsetof(struct dmk_stats_memory, available) },
		{ "Shmem", offsetof(struct dmk_stats_memory, shmem) },
		{ "CmaTotal", offsetof(struct dmk_stats_memory, cma_total) },
		{ "CmaFree", offsetof(struct dmk_stats_memory, cma_free) },
	};
	const uint64_t unknown = DMK_STATS_UNKNOWN;
	const char *line = text, *next, *v;
	char buf[128];
	uint64_t val;
	size_t n, i;

	for (i = 0; i < DMK_ARRAY_SIZE(keys); i++)
		memcpy((char *)m + keys[i].off, &unknown, sizeof(unknown));
	for (; *line; line = next) {
		next = strchr(line, '\n');
		n = next ? (size_t)(next - line) : strlen(line);
		next = next ? next + 1 : line + n;
		if (n >= sizeof(buf))
			continue;	/* no line we want is this long */
		memcpy(buf, line, n);
		buf[n] = '\0';
		for (i = 0; i < DMK_ARRAY_SIZE(keys); i++)
			if ((v = field(buf, keys[i].key)))
				break;
		if (i == DMK_ARRAY_SIZE(keys))
			continue;
		if (parse_dec(&v, &val))
			continue;
		/* Every field we read is in kB; anything else is garbage. */
		if (strcmp(v, " kB") || __builtin_mul_overflow(val, 1024, &val))
			continue;
		memcpy((char *)m + keys[i].off, &val, sizeof(val));
	}
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=123": all four or none. */
static bool parse_psi_line(char *line, struct dmk_stats_psi *psi)
{
	struct dmk_stats_psi r;
	unsigned int have = 0;
	char *tok, *save = NULL, *eq;
	const char *v;

	memset(&r, 0, sizeof(r));
	strtok_r(line, " ", &save);
	while ((tok = strtok_r(NULL, " ", &save))) {
		eq = strchr(tok, '=');
		if (!eq)
			return false;
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(tok, "avg10") && !parse_decimal(v, &r.avg10))
			have |= 1;
		else if (!strcmp(tok, "avg60") && !parse_decimal(v, &r.avg60))
			have |= 2;
		else if (!strcmp(tok, "avg300") &&
			 !parse_decimal(v, &r.avg300))
			have |= 4;
		else if (!strcmp(tok, "total") &&
			 !dmk__parse_u64(v, &r.total_us))
			have |= 8;
		else
			return false;
	}
	if (have != 15)
		return false;
	*psi = r;
	return true;
}

void dmk__stats_parse_psi(const char *text, struct dmk_stats_memory *m)
{
	const char *line = text, *next;
	char buf[256];
	size_t n;

	m->psi_some_valid = false;
	m->psi_full_valid = false;
	for (; *line; line = next) {
		next = strchr(line, '\n');
		n = next ? (size_t)(next - line) : strlen(line);
		next = next ? next + 1 : line + n;
		if (n >= sizeof(buf))
			continue;
		memcpy(buf, line, n);
		buf[n] = '\0';
		if (!strncmp(buf, "some ", 5))
			m->psi_some_valid = parse_psi_line(buf, &m->psi_some);
		else if (!strncmp(buf, "full ", 5))
			m->psi_full_valid = parse_psi_line(buf, &m->psi_full);
	}
}

/* ---- buffer table ---- */

static size_t hash_key(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^
		     (uint64_t)dev * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h ^ h >> 29);
}

static struct stats_buf *buf_find(struct dmk_stats_snapshot *s, dev_t dev,
				  ino_t ino)
{
	size_t mask = s->hashcap - 1, i;
	struct stats_buf *b;

	if (!s->hashcap)
		return NULL;
	for (i = hash_key(dev, ino) & mask; s->hash[i]; i = (i + 1) & mask) {
		b = &s->bufs[s->hash[i] - 1];
		if (b->dev == dev && b->ino == ino)
			return b;
	}
	return NULL;
}

static int hash_grow(struct dmk_stats_snapshot *s)
{
	size_t cap = s->hashcap ? s->hashcap * 2 : 256, mask = cap - 1, i, k;
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (k = 0; k < s->nbufs; k++) {
		i = hash_key(s->bufs[k].dev, s->bufs[k].ino) & mask;
		while (h[i])
			i = (i + 1) & mask;
		h[i] = (uint32_t)(k + 1);
	}
	free(s->hash);
	s->hash = h;
	s->hashcap = cap;
	return 0;
}

static int buf_add(struct dmk_stats_snapshot *s, dev_t dev, ino_t ino,
		   enum dmk_stats_kind kind, struct stats_buf **out)
{
	struct stats_buf *b;
	size_t mask, i;

	if (s->nbufs >= UINT32_MAX - 1)
		return -ENOMEM;
	if ((s->nbufs + 1) * 2 > s->hashcap && hash_grow(s))
		return -ENOMEM;
	if (s->nbufs == s->capbufs) {
		size_t cap = s->capbufs ? s->capbufs * 2 : 64;

		b = realloc(s->bufs, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		s->bufs = b;
		s->capbufs = cap;
	}
	b = &s->bufs[s->nbufs];
	memset(b, 0, sizeof(*b));
	b->dev = dev;
	b->ino = ino;
	b->kind = kind;
	b->kcount = -1;
	if (kind == DMK_STATS_MEMFD)
		dmk__strscpy(b->exporter, "memfd", sizeof(b->exporter));
	mask = s->hashcap - 1;
	for (i = hash_key(dev, ino) & mask; s->hash[i]; i = (i + 1) & mask)
		;
	s->hash[i] = (uint32_t)(++s->nbufs);
	*out = b;
	return 0;
}

/* The holder entry of process @proc, appended when it is not the last. */
static struct stats_holder *holder_of(struct stats_buf *b, uint32_t proc)
{
	struct stats_holder *h;

	if (b->nholders && b->holders[b->nholders - 1].proc == proc)
		return &b->holders[b->nholders - 1];
	if (b->nholders == b->capholders) {
		uint32_t cap = b->capholders ? b->capholders * 2 : 2;

		h = realloc(b->holders, cap * sizeof(*h));
		if (!h)
			return NULL;
		b->holders = h;
		b->capholders = cap;
	}
	h = &b->holders[b->nholders++];
	memset(h, 0, sizeof(*h));
	h->proc = proc;
	return h;
}

/* ---- classification ---- */

static enum dmk_stats_kind link_kind(const char *link)
{
	if (!strncmp(link, "/memfd:", 7))
		return DMK_STATS_MEMFD;
	/* "/dmabuf:NAME" since 5.x (d_dname), "anon_inode:dmabuf" before. */
	if (!strncmp(link, "/dmabuf:", 8) || !strncmp(link, "dmabuf:", 7) ||
	    !strcmp(link, "anon_inode:dmabuf"))
		return DMK_STATS_DMABUF;
	return 0;
}

/* The name in a link or maps path: "/memfd:NAME (deleted)", "/dmabuf:NAME". */
static void name_from_path(const char *path, enum dmk_stats_kind kind,
			   char *name, size_t len)
{
	static const char deleted[] = " (deleted)";
	const char *colon = strchr(path, ':');
	size_t n, dl = sizeof(deleted) - 1;

	name[0] = '\0';
	if (!colon || !strcmp(path, "anon_inode:dmabuf"))
		return;
	path = colon + 1;
	n = strlen(path);
	if (kind == DMK_STATS_MEMFD && n >= dl &&
	    !strcmp(path + n - dl, deleted))
		n -= dl;
	if (n >= len)
		n = len - 1;
	memcpy(name, path, n);
	name[n] = '\0';
}

/* ---- the scan of one process ---- */

static void proc_error(struct stats_proc *p, int err)
{
	if (!p->err)
		p->err = err;
}

static int scan_fd(struct dmk_stats_snapshot *s, uint32_t idx,
		   const char *fdname)
{
	struct stats_proc *p = &s->procs[idx];
	char path[PATH_MAX], link[PATH_MAX], text[4096];
	enum dmk_stats_kind kind;
	struct dmk__fdinfo fi;
	struct stats_holder *h;
	struct stats_buf *b;
	struct statfs sfs;
	struct stat st;
	ssize_t n;
	int ret;

	ret = pathf(path, sizeof(path), "%s/%d/fd/%s", s->proc_root,
		    (int)p->pid, fdname);
	if (ret)
		return ret;
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		/* ENOENT: closed since the directory was read. */
		if (errno != ENOENT)
			proc_error(p, dmk__neg_errno());
		return 0;
	}
	link[n] = '\0';
	kind = link_kind(link);
	if (!kind || (kind == DMK_STATS_MEMFD &&
		      (s->flags & DMK_STATS_NO_MEMFD)))
		return 0;
	/* Both follow the magic link to the open file itself. */
	if (stat(path, &st) || statfs(path, &sfs)) {
		if (errno != ENOENT)
			proc_error(p, dmk__neg_errno());
		return 0;
	}
	if (kind == DMK_STATS_DMABUF && sfs.f_type != DMA_BUF_MAGIC)
		return 0;
	if (kind == DMK_STATS_MEMFD && sfs.f_type != TMPFS_MAGIC &&
	    sfs.f_type != (typeof(sfs.f_type))HUGETLBFS_MAGIC)
		return 0;

	b = buf_find(s, st.st_dev, st.st_ino);
	if (!b) {
		ret = buf_add(s, st.st_dev, st.st_ino, kind, &b);
		if (ret)
			return ret;
		name_from_path(link, kind, b->name, sizeof(b->name));
	}
	b->size = (uint64_t)st.st_size;	/* i_size: a dma-buf's too */
	b->size_known = true;
	if (kind == DMK_STATS_DMABUF) {
		s->have_dmabuf_dev = true;
		s->dmabuf_dev = st.st_dev;
		ret = pathf(path, sizeof(path), "%s/%d/fdinfo/%s",
			    s->proc_root, (int)p->pid, fdname);
		if (!ret && dmk__read_text(AT_FDCWD, path, text,
					   sizeof(text)) > 0) {
			dmk__stats_parse_fdinfo(text, &fi);
			if (fi.have_size)
				b->size = fi.size;
			if (fi.have_count)
				b->kcount = fi.count;
			if (fi.have_exp_name)
				dmk__strscpy(b->exporter, fi.exp_name,
					     sizeof(b->exporter));
			if (fi.have_name)
				dmk__strscpy(b->name, fi.name,
					     sizeof(b->name));
		}
	}
	h = holder_of(b, idx);
	if (!h)
		return -ENOMEM;
	h->fd_refs++;
	return 0;
}

static int scan_fds(struct dmk_stats_snapshot *s, uint32_t idx)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int ret;

	ret = pathf(path, sizeof(path), "%s/%d/fd", s->proc_root,
		    (int)s->procs[idx].pid);
	if (ret)
		return ret;
	dir = opendir(path);	/* O_CLOEXEC in glibc */
	if (!dir)
		return dmk__neg_errno();
	while ((errno = 0, de = readdir(dir))) {
		if (!all_digits(de->d_name))
			continue;
		ret = scan_fd(s, idx, de->d_name);
		if (ret) {
			closedir(dir);
			return ret == -ENOMEM ? ret : 0;
		}
	}
	if (errno)
		proc_error(&s->procs[idx], dmk__neg_errno());
	closedir(dir);
	return 0;
}

/* The size of a mapped-only buffer, from the file map_files reaches. */
static bool map_files_size(struct dmk_stats_snapshot *s, pid_t pid,
			   const struct dmk__maps_line *ml, dev_t dev,
			   uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;

	if (s->no_map_files)
		return false;
	if (pathf(path, sizeof(path), "%s/%d/map_files/%" PRIx64 "-%" PRIx64,
		  s->proc_root, (int)pid, ml->start, ml->end))
		return false;
	if (stat(path, &st)) {
		/* Needs CAP_SYS_ADMIN (CAP_CHECKPOINT_RESTORE). */
		if (errno == EPERM || errno == EACCES)
			s->no_map_files = true;
		return false;
	}
	if (st.st_dev != dev || st.st_ino != (ino_t)ml->ino)
		return false;
	*size = (uint64_t)st.st_size;
	return true;
}

static int scan_map(struct dmk_stats_snapshot *s, uint32_t idx,
		    const struct dmk__maps_line *ml)
{
	pid_t pid = s->procs[idx].pid;
	dev_t dev = makedev(ml->major, ml->minor);
	enum dmk_stats_kind kind;
	struct stats_holder *h;
	struct stats_buf *b;
	uint64_t size, end;
	int ret;

	if (!ml->ino)
		return 0;
	b = buf_find(s, dev, (ino_t)ml->ino);
	if (!b) {
		kind = link_kind(ml->path);
		if (!kind || (kind == DMK_STATS_MEMFD &&
			      (s->flags & DMK_STATS_NO_MEMFD)))
			return 0;
		/* A dma-buf is on the dma-buf filesystem, if we know it. */
		if (kind == DMK_STATS_DMABUF && s->have_dmabuf_dev &&
		    dev != s->dmabuf_dev)
			return 0;
		ret = buf_add(s, dev, (ino_t)ml->ino, kind, &b);
		if (ret)
			return ret;
		name_from_path(ml->path, kind, b->name, sizeof(b->name));
	}
	if (!b->size_known) {
		if (map_files_size(s, pid, ml, dev, &size)) {
			b->size = size;
			b->size_known = true;
		} else {
			/* The mapping shows the buffer reaches this far. */
			if (__builtin_add_overflow(ml->offset,
						   ml->end - ml->start, &end))
				end = UINT64_MAX;
			if (end > b->size)
				b->size = end;
		}
	}
	h = holder_of(b, idx);
	if (!h)
		return -ENOMEM;
	h->map_refs++;
	return 0;
}

static int scan_maps(struct dmk_stats_snapshot *s, uint32_t idx)
{
	struct dmk__maps_line ml;
	char path[PATH_MAX], *text, *line, *next;
	int ret;

	ret = pathf(path, sizeof(path), "%s/%d/maps", s->proc_root,
		    (int)s->procs[idx].pid);
	if (ret)
		return ret;
	ret = read_all(path, &text);
	if (ret)
		return ret;
	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (dmk__stats_parse_maps_line(line, &ml))
			continue;	/* not a mapping line: skip it */
		ret = scan_map(s, idx, &ml);
		if (ret)
			break;
	}
	free(text);
	return ret;
}

/* Forget process @idx (it exited while we read it): it is the last one. */
static void proc_rollback(struct dmk_stats_snapshot *s, uint32_t idx)
{
	struct stats_buf *b;
	size_t i;

	for (i = 0; i < s->nbufs; i++) {
		b = &s->bufs[i];
		if (b->nholders && b->holders[b->nholders - 1].proc == idx)
			b->nholders--;
	}
	s->nprocs--;
}

static int scan_proc(struct dmk_stats_snapshot *s, pid_t pid)
{
	char path[PATH_MAX];
	struct stats_proc *p;
	struct stat st;
	uint32_t idx;
	int ret;

	ret = pathf(path, sizeof(path), "%s/%d", s->proc_root, (int)pid);
	if (ret)
		return ret;
	if (stat(path, &st)) {
		if (errno == ENOENT)
			return -ESRCH;
		/* Listed, not dropped: say what stopped us. */
		memset(&st, 0, sizeof(st));
		st.st_uid = (uid_t)-1;
		ret = dmk__neg_errno();
	}
	if (s->nprocs == s->capprocs) {
		size_t cap = s->capprocs ? s->capprocs * 2 : 256;

		p = realloc(s->procs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->procs = p;
		s->capprocs = cap;
	}
	idx = (uint32_t)s->nprocs++;
	p = &s->procs[idx];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->uid = st.st_uid;
	p->err = ret;

	if (!pathf(path, sizeof(path), "%s/%d/comm", s->proc_root, (int)pid) &&
	    dmk__read_text(AT_FDCWD, path, p->comm, sizeof(p->comm)) >= 0)
		chomp(p->comm);
	else
		p->comm[0] = '\0';

	ret = scan_fds(s, idx);
	if (ret == -ENOMEM)
		return ret;
	if (ret == -ENOENT || ret == -ESRCH)
		goto gone;
	if (ret)
		proc_error(&s->procs[idx], ret);
	if (s->flags & DMK_STATS_NO_MAPS)
		return 0;
	ret = scan_maps(s, idx);
	if (ret == -ENOMEM)
		return ret;
	if (ret == -ENOENT || ret == -ESRCH)
		goto gone;
	if (ret)
		proc_error(&s->procs[idx], ret);
	return 0;
gone:
	proc_rollback(s, idx);
	return -ESRCH;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

static int scan_all(struct dmk_stats_snapshot *s)
{
	size_t n = 0, cap = 0;
	pid_t *pids = NULL, *tmp;
	struct dirent *de;
	uint64_t v;
	DIR *dir;
	size_t i;
	int ret = 0;

	dir = opendir(s->proc_root);
	if (!dir)
		return dmk__neg_errno();
	while ((errno = 0, de = readdir(dir))) {
		if (!all_digits(de->d_name) || dmk__parse_u64(de->d_name, &v) ||
		    v == 0 || v > INT32_MAX)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 512;
			tmp = realloc(pids, cap * sizeof(*pids));
			if (!tmp) {
				ret = -ENOMEM;
				break;
			}
			pids = tmp;
		}
		pids[n++] = (pid_t)v;
	}
	if (!ret && errno)
		ret = dmk__neg_errno();
	closedir(dir);
	if (ret)
		goto out;
	if (n)
		qsort(pids, n, sizeof(*pids), cmp_pid);
	for (i = 0; i < n; i++) {
		ret = scan_proc(s, pids[i]);
		if (ret == -ESRCH)	/* exited meanwhile */
			ret = 0;
		if (ret)
			break;
	}
out:
	free(pids);
	return ret;
}

/* ---- the kernel's list of dma-bufs ---- */

/* One dma-buf as sysfs or debugfs lists it. */
struct kbuf {
	uint64_t ino;
	uint64_t size;
	int64_t count;			/* -1: not listed (sysfs) */
	char exporter[DMK_STATS_EXP_MAX];
	char name[DMK_STATS_NAME_MAX];
};

struct klist {
	struct kbuf *v;
	size_t n, cap;
};

static int klist_add(struct klist *l, uint64_t ino, uint64_t size,
		     const char *exporter, const char *name, int64_t count)
{
	struct kbuf *k;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		k = realloc(l->v, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		l->v = k;
		l->cap = cap;
	}
	k = &l->v[l->n++];
	k->ino = ino;
	k->size = size;
	k->count = count;
	dmk__strscpy(k->exporter, exporter, sizeof(k->exporter));
	/* debugfs says "<none>" for an unnamed buffer. */
	dmk__strscpy(k->name, name && strcmp(name, "<none>") ? name : "",
		     sizeof(k->name));
	return 0;
}

/* /sys/kernel/dmabuf/buffers/<ino>/{exporter_name,size} */
static int read_sysfs_bufs(struct dmk_stats_snapshot *s, struct klist *l)
{
	char dirpath[PATH_MAX], path[PATH_MAX], exp[DMK_STATS_EXP_MAX];
	char text[64];
	struct dirent *de;
	uint64_t ino, size;
	DIR *dir;
	int ret;

	ret = pathf(dirpath, sizeof(dirpath), "%s/kernel/dmabuf/buffers",
		    s->sys_root);
	if (ret)
		return ret;
	dir = opendir(dirpath);
	if (!dir)
		return dmk__neg_errno();
	while ((errno = 0, de = readdir(dir))) {
		if (!all_digits(de->d_name) || dmk__parse_u64(de->d_name, &ino))
			continue;
		/* A buffer freed meanwhile, or garbage: leave it out. */
		if (pathf(path, sizeof(path), "%s/%s/size", dirpath,
			  de->d_name) ||
		    dmk__read_text(AT_FDCWD, path, text, sizeof(text)) < 0 ||
		    dmk__parse_u64(text, &size))
			continue;
		if (pathf(path, sizeof(path), "%s/%s/exporter_name", dirpath,
			  de->d_name) ||
		    dmk__read_text(AT_FDCWD, path, exp, sizeof(exp)) < 0)
			continue;
		chomp(exp);
		ret = klist_add(l, ino, size, exp, NULL, -1);
		if (ret)
			break;
	}
	closedir(dir);
	return ret;
}

/* Split a tab-separated line in place; the last field takes the rest. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		f[n++] = line;
		if (n == max)
			break;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ')
		s++;
	n = strlen(s);
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

/*
 * debugfs dma_buf/bufinfo: a header naming the columns (6.1: size, flags,
 * mode, count, exp_name, ino, name), then one line per buffer starting
 * with its size, each followed by lines about fences and attachments.
 * Columns are found by name, so a kernel that adds one does not break us.
 * Its count is the file's reference count as is (nothing of ours holds
 * one while it prints).
 */
static int read_debugfs_bufs(struct dmk_stats_snapshot *s, struct klist *l)
{
	enum { C_SIZE, C_COUNT, C_EXP, C_INO, C_NAME, C_N };
	static const char *const cols[C_N] = { "size", "count", "exp_name",
					       "ino", "name" };
	char path[PATH_MAX], *text, *line, *next, *f[16];
	int col[C_N], ncols = 0, i, k, ret;
	uint64_t size, ino, count;
	size_t n;

	ret = pathf(path, sizeof(path), "%s/kernel/debug/dma_buf/bufinfo",
		    s->sys_root);
	if (ret)
		return ret;
	ret = read_all(path, &text);
	if (ret)
		return ret;
	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (!ncols) {
			/* Everything up to the header is a title. */
			line = trim(line);
			if (strncmp(line, "size", 4))
				continue;
			n = split_tabs(line, f, DMK_ARRAY_SIZE(f));
			for (k = 0; k < C_N; k++)
				col[k] = -1;
			for (i = 0; i < (int)n; i++)
				for (k = 0; k < C_N; k++)
					if (!strcmp(trim(f[i]), cols[k]))
						col[k] = i;
			if (col[C_SIZE] < 0 || col[C_EXP] < 0 ||
			    col[C_INO] < 0) {
				ret = -EPROTO;
				break;
			}
			ncols = (int)n;
			continue;
		}
		if (*line < '0' || *line > '9')
			continue;	/* fences, attachments, totals */
		n = split_tabs(line, f, (size_t)ncols);
		if ((int)n != ncols)
			continue;
		if (dmk__parse_u64(f[col[C_SIZE]], &size) ||
		    dmk__parse_u64(f[col[C_INO]], &ino))
			continue;
		if (col[C_COUNT] < 0 ||
		    dmk__parse_u64(f[col[C_COUNT]], &count) ||
		    count > INT64_MAX)
			count = UINT64_MAX;
		ret = klist_add(l, ino, size, trim(f[col[C_EXP]]),
				col[C_NAME] >= 0 ? f[col[C_NAME]] : NULL,
				count == UINT64_MAX ? -1 : (int64_t)count);
		if (ret)
			break;
	}
	free(text);
	if (!ret && !ncols)
		ret = -EPROTO;
	return ret;
}

static int cmp_kbuf(const void *a, const void *b)
{
	uint64_t x = ((const struct kbuf *)a)->ino;
	uint64_t y = ((const struct kbuf *)b)->ino;

	return x < y ? -1 : x > y;
}

static struct stats_exp *exp_of(struct dmk_stats_snapshot *s,
				const char *name)
{
	struct stats_exp *e;
	size_t i;

	for (i = 0; i < s->nexps; i++)
		if (!strcmp(s->exps[i].name, name))
			return &s->exps[i];
	if (s->nexps == s->capexps) {
		size_t cap = s->capexps ? s->capexps * 2 : 8;

		e = realloc(s->exps, cap * sizeof(*e));
		if (!e)
			return NULL;
		s->exps = e;
		s->capexps = cap;
	}
	e = &s->exps[s->nexps++];
	memset(e, 0, sizeof(*e));
	dmk__strscpy(e->name, name, sizeof(e->name));
	return e;
}

/* Totals per exporter and overall, from the main list. */
static int kernel_totals(struct dmk_stats_snapshot *s, const struct klist *l)
{
	struct stats_exp *e;
	size_t i;

	for (i = 0; i < l->n; i++) {
		e = exp_of(s, l->v[i].exporter);
		if (!e)
			return -ENOMEM;
		e->nbufs++;
		e->bytes = add_sat(e->bytes, l->v[i].size);
		s->heaps.nbufs++;
		s->heaps.bytes = add_sat(s->heaps.bytes, l->v[i].size);
	}
	return 0;
}

/*
 * Tell the dma-bufs that no fd of a process showed (mapped only) what
 * they are: size, exporter, name and reference count.  The kernel's lists
 * name a buffer by inode alone, which is enough on the one dma-buf
 * filesystem.
 */
static void kernel_fill(struct dmk_stats_snapshot *s, struct klist *l)
{
	struct stats_buf *b;
	struct kbuf *k;
	size_t i;

	if (!l->n)
		return;
	qsort(l->v, l->n, sizeof(*l->v), cmp_kbuf);
	for (i = 0; i < s->nbufs; i++) {
		b = &s->bufs[i];
		if (b->kind != DMK_STATS_DMABUF ||
		    (s->have_dmabuf_dev && b->dev != s->dmabuf_dev))
			continue;
		k = bsearch(&(struct kbuf){ .ino = (uint64_t)b->ino }, l->v,
			    l->n, sizeof(*l->v), cmp_kbuf);
		if (!k)
			continue;
		if (!b->size_known) {
			b->size = k->size;
			b->size_known = true;
		}
		if (!b->exporter[0])
			dmk__strscpy(b->exporter, k->exporter,
				     sizeof(b->exporter));
		if (!b->name[0])
			dmk__strscpy(b->name, k->name, sizeof(b->name));
		if (b->kcount < 0 && k->count >= 0)
			b->kcount = k->count;
	}
}

/* Whether a dma-buf of the snapshot still lacks what only debugfs has. */
static bool need_debugfs(const struct dmk_stats_snapshot *s)
{
	size_t i;

	for (i = 0; i < s->nbufs; i++)
		if (s->bufs[i].kind == DMK_STATS_DMABUF &&
		    s->bufs[i].nholders && s->bufs[i].kcount < 0)
			return true;
	return false;
}

/*
 * sysfs first (readable by anyone, no global lock), debugfs when sysfs
 * is not there (it needs root and debugfs mounted), and debugfs also for
 * the counts of mapped-only dma-bufs when it is readable.
 */
static int read_kernel_list(struct dmk_stats_snapshot *s)
{
	struct klist main = { 0 }, extra = { 0 };
	int ret, dret;

	ret = read_sysfs_bufs(s, &main);
	if (!ret) {
		s->heaps.source = DMK_STATS_SRC_SYSFS;
		if (need_debugfs(s) && read_debugfs_bufs(s, &extra) == -ENOMEM)
			ret = -ENOMEM;
	} else if (ret != -ENOMEM) {
		main.n = 0;
		dret = read_debugfs_bufs(s, &main);
		if (!dret) {
			s->heaps.source = DMK_STATS_SRC_DEBUGFS;
			ret = 0;
		} else if (dret == -ENOMEM) {
			ret = dret;
		} else {
			main.n = 0;
			/* When sysfs simply is not there, say why debugfs
			 * failed (-EACCES without root). */
			s->heaps.err = ret == -ENOENT ? dret : ret;
			ret = 0;
		}
	}
	if (!ret)
		ret = kernel_totals(s, &main);
	if (!ret) {
		kernel_fill(s, &main);
		kernel_fill(s, &extra);
	}
	free(main.v);
	free(extra.v);
	return ret;
}

/* ---- memory ---- */

static void read_memory(struct dmk_stats_snapshot *s)
{
	struct dmk_stats_memory *m = &s->mem;
	char path[PATH_MAX], text[8192];
	int ret;

	m->sz = sizeof(*m);
	ret = pathf(path, sizeof(path), "%s/meminfo", s->proc_root);
	if (!ret)
		ret = dmk__read_text(AT_FDCWD, path, text, sizeof(text));
	dmk__stats_parse_meminfo(ret < 0 ? "" : text, m);
	m->meminfo_err = ret < 0 ? ret : 0;

	ret = pathf(path, sizeof(path), "%s/pressure/memory", s->proc_root);
	if (!ret)
		ret = dmk__read_text(AT_FDCWD, path, text, sizeof(text));
	dmk__stats_parse_psi(ret < 0 ? "" : text, m);
	if (ret >= 0 && !m->psi_some_valid)
		ret = -EPROTO;
	m->psi_err = ret < 0 ? ret : 0;
}

/* ---- putting it together ---- */

static int cmp_buf(const void *a, const void *b)
{
	const struct stats_buf *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_exp(const void *a, const void *b)
{
	return strcmp(((const struct stats_exp *)a)->name,
		      ((const struct stats_exp *)b)->name);
}

static void finish(struct dmk_stats_snapshot *s)
{
	struct dmk_stats_totals *t = &s->totals;
	struct stats_holder *h;
	struct stats_proc *p;
	struct stats_buf *b;
	size_t i, k, out = 0;
	uint32_t j;

	/* Buffers whose every holder exited during the scan go. */
	for (i = 0; i < s->nbufs; i++) {
		if (!s->bufs[i].nholders) {
			free(s->bufs[i].holders);
			continue;
		}
		s->bufs[out++] = s->bufs[i];
	}
	s->nbufs = out;
	free(s->hash);
	s->hash = NULL;
	s->hashcap = 0;
	if (s->nbufs)
		qsort(s->bufs, s->nbufs, sizeof(*s->bufs), cmp_buf);
	if (s->nexps)
		qsort(s->exps, s->nexps, sizeof(*s->exps), cmp_exp);
	s->heaps.sz = sizeof(s->heaps);
	s->heaps.nexporters = (uint32_t)s->nexps;

	memset(t, 0, sizeof(*t));
	t->sz = sizeof(*t);
	for (i = 0; i < s->nbufs; i++) {
		b = &s->bufs[i];
		for (j = 0; j < b->nholders; j++) {
			h = &b->holders[j];
			p = &s->procs[h->proc];
			b->fd_refs += h->fd_refs;
			b->map_refs += h->map_refs;
			p->fd_refs += h->fd_refs;
			p->map_refs += h->map_refs;
			p->nbufs++;
			p->referenced = add_sat(p->referenced, b->size);
			p->proportional = add_sat(p->proportional,
						  b->size / b->nholders);
		}
		t->nbufs++;
		t->bytes = add_sat(t->bytes, b->size);
		if (b->kind == DMK_STATS_DMABUF) {
			t->ndmabufs++;
			t->dmabuf_bytes = add_sat(t->dmabuf_bytes, b->size);
			if (!strcmp(b->exporter, "udmabuf"))
				t->udmabuf_bytes = add_sat(t->udmabuf_bytes,
							   b->size);
		} else {
			t->nmemfds++;
			t->memfd_bytes = add_sat(t->memfd_bytes, b->size);
		}
	}
	t->nprocs = (uint32_t)s->nprocs;
	for (k = 0; k < s->nprocs; k++) {
		if (s->procs[k].nbufs)
			t->nholding++;
		if (s->procs[k].err)
			t->nunreadable++;
	}
}

static int opts_root(const char *root, const char *def, const char **out)
{
	if (!root)
		root = def;
	if (!*root || strlen(root) > PATH_MAX / 2)
		return -EINVAL;
	*out = root;
	return 0;
}

DMK_API int dmk_stats_snapshot_new(const struct dmk_stats_opts *opts,
				   struct dmk_stats_snapshot **out)
{
	struct dmk_stats_opts o;
	struct dmk_stats_snapshot *s;
	int ret;

	if (!out)
		return -EINVAL;
	ret = DMK_OPTS_LOAD(dmk_stats_opts, &o, opts);
	if (ret)
		return ret;
	if (o.flags & ~STATS_KNOWN_FLAGS || o.pid < 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->flags = o.flags;
	if (opts_root(o.proc_root, "/proc", &s->proc_root) ||
	    opts_root(o.sys_root, "/sys", &s->sys_root)) {
		ret = -EINVAL;
		goto err;
	}
	if (o.pid)
		ret = scan_proc(s, o.pid);
	else
		ret = scan_all(s);
	if (ret)
		goto err;
	ret = read_kernel_list(s);
	if (ret)
		goto err;
	read_memory(s);
	finish(s);
	s->proc_root = NULL;
	s->sys_root = NULL;
	*out = s;
	return 0;
err:
	dmk_stats_snapshot_free(s);
	return ret;
}

DMK_API void dmk_stats_snapshot_free(struct dmk_stats_snapshot *snap)
{
	size_t i;

	if (!snap)
		return;
	for (i = 0; i < snap->nbufs; i++)
		free(snap->bufs[i].holders);
	free(snap->bufs);
	free(snap->procs);
	free(snap->exps);
	free(snap->hash);
	free(snap);
}

/* ---- accessors ---- */


DMK_API size_t dmk_stats_nbufs(const struct dmk_stats_snapshot *snap)
{
	return snap ? snap->nbufs : 0;
}

DMK_API int dmk_stats_buf(const struct dmk_stats_snapshot *snap, size_t i,
			  struct dmk_stats_buf_info *info)
{
	struct dmk_stats_buf_info r;
	const struct stats_buf *b;

	if (!snap || i >= snap->nbufs)
		return -EINVAL;
	b = &snap->bufs[i];
	memset(&r, 0, sizeof(r));
	r.sz = sizeof(r);
	r.kind = b->kind;
	r.dev = b->dev;
	r.ino = b->ino;
	r.size = b->size;
	r.flags = b->size_known ? 0 : DMK_STATS_BUF_SIZE_ESTIMATED;
	r.exporter = b->exporter;
	r.name = b->name;
	r.nholders = b->nholders;
	r.fd_refs = b->fd_refs;
	r.map_refs = b->map_refs;
	r.kcount = b->kcount;
	return dmk__struct_out(info, &r, sizeof(r));
}

DMK_API int dmk_stats_holder(const struct dmk_stats_snapshot *snap,
			     size_t buf, size_t j,
			     struct dmk_stats_holder_info *info)
{
	struct dmk_stats_holder_info r;
	const struct stats_holder *h;

	if (!snap || buf >= snap->nbufs || j >= snap->bufs[buf].nholders)
		return -EINVAL;
	h = &snap->bufs[buf].holders[j];
	memset(&r, 0, sizeof(r));
	r.sz = sizeof(r);
	r.pid = snap->procs[h->proc].pid;
	r.proc = h->proc;
	r.fd_refs = h->fd_refs;
	r.map_refs = h->map_refs;
	return dmk__struct_out(info, &r, sizeof(r));
}

DMK_API int dmk_stats_find_buf(const struct dmk_stats_snapshot *snap,
			       dev_t dev, ino_t ino)
{
	struct stats_buf key;
	const struct stats_buf *b;

	if (!snap)
		return -EINVAL;
	if (!snap->nbufs)
		return -ENOENT;
	key.dev = dev;
	key.ino = ino;
	b = bsearch(&key, snap->bufs, snap->nbufs, sizeof(*snap->bufs),
		    cmp_buf);
	if (!b || snap->nbufs > INT_MAX)
		return -ENOENT;
	return (int)(b - snap->bufs);
}

DMK_API size_t dmk_stats_nprocs(const struct dmk_stats_snapshot *snap)
{
	return snap ? snap->nprocs : 0;
}

DMK_API int dmk_stats_proc(const struct dmk_stats_snapshot *snap, size_t i,
			   struct dmk_stats_proc_info *info)
{
	struct dmk_stats_proc_info r;
	const struct stats_proc *p;

	if (!snap || i >= snap->nprocs)
		return -EINVAL;
	p = &snap->procs[i];
	memset(&r, 0, sizeof(r));
	r.sz = sizeof(r);
	r.pid = p->pid;
	r.uid = p->uid;
	r.comm = p->comm;
	r.readable = !p->err;
	r.err = p->err;
	r.nbufs = p->nbufs;
	r.fd_refs = p->fd_refs;
	r.map_refs = p->map_refs;
	r.referenced = p->referenced;
	r.proportional = p->proportional;
	return dmk__struct_out(info, &r, sizeof(r));
}

DMK_API int dmk_stats_find_proc(const struct dmk_stats_snapshot *snap,
				pid_t pid)
{
	const struct stats_proc *p;

	if (!snap)
		return -EINVAL;
	if (!snap->nprocs)
		return -ENOENT;
	p = bsearch(&pid, snap->procs, snap->nprocs, sizeof(*snap->procs),
		    cmp_pid);	/* pid is the first member */
	if (!p || snap->nprocs > INT_MAX)
		return -ENOENT;
	return (int)(p - snap->procs);
}

DMK_API int dmk_stats_totals(const struct dmk_stats_snapshot *snap,
			     struct dmk_stats_totals *t)
{
	if (!snap)
		return -EINVAL;
	return dmk__struct_out(t, &snap->totals, sizeof(snap->totals));
}

DMK_API int dmk_stats_heaps(const struct dmk_stats_snapshot *snap,
			    struct dmk_stats_heaps *h)
{
	if (!snap)
		return -EINVAL;
	return dmk__struct_out(h, &snap->heaps, sizeof(snap->heaps));
}

DMK_API int dmk_stats_heap(const struct dmk_stats_snapshot *snap, size_t i,
			   struct dmk_stats_heap_info *info)
{
	struct dmk_stats_heap_info r;

	if (!snap || i >= snap->nexps)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.sz = sizeof(r);
	r.exporter = snap->exps[i].name;
	r.nbufs = snap->exps[i].nbufs;
	r.bytes = snap->exps[i].bytes;
	return dmk__struct_out(info, &r, sizeof(r));
}

DMK_API int dmk_stats_memory(const struct dmk_stats_snapshot *snap,
			     struct dmk_stats_memory *m)
{
	if (!snap)
		return -EINVAL;
	return dmk__struct_out(m, &snap->mem, sizeof(snap->mem));
}

/* ---- GPU memory through Vulkan ---- */

struct gpu_heap {
	uint64_t size;
	bool device_local, host_visible;
};

struct gpu_dev {
	char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
	enum dmk_stats_gpu_type type;
	uint32_t vendor_id, device_id;
	bool unified;
	const char *reason;
	uint32_t nheaps;
	struct gpu_heap heaps[VK_MAX_MEMORY_HEAPS];
	uint64_t system_bytes, device_bytes;
};

struct dmk_stats_gpu {
	size_t ndevs;
	struct gpu_dev devs[];
};

static int vk_err(VkResult r)
{
	switch (r) {
	case VK_SUCCESS:
	case VK_INCOMPLETE:
		return 0;
	case VK_ERROR_OUT_OF_HOST_MEMORY:
	case VK_ERROR_OUT_OF_DEVICE_MEMORY:
		return -ENOMEM;
	case VK_ERROR_INCOMPATIBLE_DRIVER:
	case VK_ERROR_INITIALIZATION_FAILED:
	case VK_ERROR_LAYER_NOT_PRESENT:
	case VK_ERROR_EXTENSION_NOT_PRESENT:
		return -ENODEV;
	default:
		return -EIO;
	}
}

static enum dmk_stats_gpu_type gpu_type(VkPhysicalDeviceType t)
{
	switch (t) {
	case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
		return DMK_STATS_GPU_INTEGRATED;
	case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
		return DMK_STATS_GPU_DISCRETE;
	case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
		return DMK_STATS_GPU_VIRTUAL;
	case VK_PHYSICAL_DEVICE_TYPE_CPU:
		return DMK_STATS_GPU_CPU;
	default:
		return DMK_STATS_GPU_OTHER;
	}
}

/*
 * Unified or discrete.  The driver's device type decides when it can:
 * a CPU or integrated device uses system memory; a discrete one has its
 * own, even when a host-visible type reaches its device-local heap (the
 * PCI BAR; with resizable BAR that is all of it, as on the H100).  For
 * a virtual or other device the heaps decide: a device-local heap the CPU
 * can map is memory the two share.
 */
static void gpu_classify(struct gpu_dev *d)
{
	bool shared_heap = false;
	uint32_t i;

	for (i = 0; i < d->nheaps; i++)
		if (d->heaps[i].device_local && d->heaps[i].host_visible)
			shared_heap = true;
	switch (d->type) {
	case DMK_STATS_GPU_CPU:
		d->unified = true;
		d->reason = "a CPU device: its memory is system memory";
		break;
	case DMK_STATS_GPU_INTEGRATED:
		d->unified = true;
		d->reason = "an integrated GPU: it shares system memory";
		break;
	case DMK_STATS_GPU_DISCRETE:
		d->unified = false;
		d->reason = shared_heap ?
			"a discrete GPU: device-local memory of its own "
			"(host-visible through the PCI BAR)" :
			"a discrete GPU: device-local memory of its own";
		break;
	default:
		d->unified = shared_heap;
		d->reason = shared_heap ?
			"a device-local heap is host-visible: memory shared "
			"with the CPU" :
			"device-local heaps the CPU cannot map: memory of "
			"its own";
		break;
	}
	for (i = 0; i < d->nheaps; i++) {
		if (d->unified || !d->heaps[i].device_local)
			d->system_bytes = add_sat(d->system_bytes,
						  d->heaps[i].size);
		else
			d->device_bytes = add_sat(d->device_bytes,
						  d->heaps[i].size);
	}
}

static void gpu_read(VkPhysicalDevice pd, struct gpu_dev *d)
{
	VkPhysicalDeviceMemoryProperties mp;
	VkPhysicalDeviceProperties props;
	uint32_t i;

	vkGetPhysicalDeviceProperties(pd, &props);
	vkGetPhysicalDeviceMemoryProperties(pd, &mp);
	dmk__strscpy(d->name, props.deviceName, sizeof(d->name));
	d->type = gpu_type(props.deviceType);
	d->vendor_id = props.vendorID;
	d->device_id = props.deviceID;
	d->nheaps = mp.memoryHeapCount < VK_MAX_MEMORY_HEAPS ?
		    mp.memoryHeapCount : VK_MAX_MEMORY_HEAPS;
	for (i = 0; i < d->nheaps; i++) {
		d->heaps[i].size = mp.memoryHeaps[i].size;
		d->heaps[i].device_local = mp.memoryHeaps[i].flags &
					   VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
	}
	for (i = 0; i < mp.memoryTypeCount && i < VK_MAX_MEMORY_TYPES; i++) {
		uint32_t h = mp.memoryTypes[i].heapIndex;

		if (h < d->nheaps && (mp.memoryTypes[i].propertyFlags &
				      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
			d->heaps[h].host_visible = true;
	}
	gpu_classify(d);
}

DMK_API int dmk_stats_gpu_new(unsigned int flags, struct dmk_stats_gpu **out)
{
	VkApplicationInfo app = {
		.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
		.pApplicationName = "dmakit-stats",
		.pEngineName = "dmakit",
		.apiVersion = VK_API_VERSION_1_0,
	};
	VkInstanceCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
		.pApplicationInfo = &app,
	};
	VkPhysicalDevice *pds = NULL;
	struct dmk_stats_gpu *g = NULL;
	VkInstance inst;
	uint32_t n = 0, i;
	VkResult r;
	int ret;

	if (flags || !out)
		return -EINVAL;
	r = vkCreateInstance(&ci, NULL, &inst);
	if (r != VK_SUCCESS) {
		ret = vk_err(r);
		pr_debug("stats: vkCreateInstance: %d\n", (int)r);
		return ret ? ret : -EIO;
	}
	r = vkEnumeratePhysicalDevices(inst, &n, NULL);
	ret = vk_err(r);
	if (ret)
		goto out;
	if (!n) {
		ret = -ENODEV;
		goto out;
	}
	pds = calloc(n, sizeof(*pds));
	g = calloc(1, sizeof(*g) + n * sizeof(g->devs[0]));
	if (!pds || !g) {
		ret = -ENOMEM;
		goto out;
	}
	r = vkEnumeratePhysicalDevices(inst, &n, pds);
	ret = vk_err(r);
	if (ret)
		goto out;
	for (i = 0; i < n; i++)
		gpu_read(pds[i], &g->devs[i]);
	g->ndevs = n;
	if (!n)
		ret = -ENODEV;
out:
	free(pds);
	/* Nothing of the instance outlives the call: no fd stays open. */
	vkDestroyInstance(inst, NULL);
	if (ret) {
		free(g);
		return ret;
	}
	*out = g;
	return 0;
}

DMK_API void dmk_stats_gpu_free(struct dmk_stats_gpu *gpu)
{
	free(gpu);
}

DMK_API size_t dmk_stats_gpu_ndevs(const struct dmk_stats_gpu *gpu)
{
	return gpu ? gpu->ndevs : 0;
}

DMK_API int dmk_stats_gpu_dev(const struct dmk_stats_gpu *gpu, size_t i,
			      struct dmk_stats_gpu_info *info)
{
	struct dmk_stats_gpu_info r;
	const struct gpu_dev *d;

	if (!gpu || i >= gpu->ndevs)
		return -EINVAL;
	d = &gpu->devs[i];
	memset(&r, 0, sizeof(r));
	r.sz = sizeof(r);
	r.name = d->name;
	r.type = d->type;
	r.vendor_id = d->vendor_id;
	r.device_id = d->device_id;
	r.unified = d->unified;
	r.reason = d->reason;
	r.nheaps = d->nheaps;
	r.system_bytes = d->system_bytes;
	r.device_bytes = d->device_bytes;
	return dmk__struct_out(info, &r, sizeof(r));
}

DMK_API int dmk_stats_gpu_heap(const struct dmk_stats_gpu *gpu, size_t i,
			       size_t j, struct dmk_stats_gpu_heap_info *info)
{
	struct dmk_stats_gpu_heap_info r;
	const struct gpu_dev *d;

	if (!gpu || i >= gpu->ndevs || j >= gpu->devs[i].nheaps)
		return -EINVAL;
	d = &gpu->devs[i];
	memset(&r, 0, sizeof(r));
	r.sz = sizeof(r);
	r.size = d->heaps[j].size;
	r.device_local = d->heaps[j].device_local;
	r.host_visible = d->heaps[j].host_visible;
	return dmk__struct_out(info, &r, sizeof(r));
}
