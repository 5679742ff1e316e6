/* SPDX-License-Identifier: MIT */
/*
 * dmakit stats: who holds which dma-buf and memfd, and how much memory that
 * is, read from the kernel's own accounting.
 *
 * A snapshot scans /proc/<pid>/fd, fdinfo and maps of every process (or one)
 * and identifies each buffer by its file's identity (st_dev, st_ino), so a
 * buffer shared by several processes, or held twice by one, counts once.
 * A process holds a buffer through file descriptors (each fd is one
 * reference, dup()s and inherited fds included) and through mappings (each
 * mapping is one reference: a mapping keeps the buffer alive after its fd
 * is closed).  For a dma-buf, the sum of those references over all holders
 * is what the kernel reports as "count" in fdinfo, unless something the
 * scan cannot see holds it (a process it may not read, an fd in flight in
 * a unix socket, a kernel driver).
 *
 * Alongside: system-wide dma-buf totals per exporter from
 * /sys/kernel/dmabuf (CONFIG_DMABUF_SYSFS_STATS) or debugfs dma_buf/bufinfo,
 * memory and pressure from /proc/meminfo and /proc/pressure/memory, and
 * (separately, on request) whether each Vulkan device's memory is system
 * memory (unified) or memory of its own (discrete).
 *
 * A snapshot is immutable and owns every string it hands out: they stay
 * valid until dmk_stats_snapshot_free().
 */
#ifndef DMAKIT_STATS_H
#define DMAKIT_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <dmakit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_stats_snapshot;

/* A value the kernel did not report (meminfo fields). */
#define DMK_STATS_UNKNOWN UINT64_MAX

/* dmk_stats_opts.flags */
enum dmk_stats_flags {
	/* Skip /proc/<pid>/maps: fd references only (faster). */
	DMK_STATS_NO_MAPS = 1u << 0,
	/* Only dma-bufs: leave memfds out. */
	DMK_STATS_NO_MEMFD = 1u << 1,
};

struct dmk_stats_opts {
	size_t sz;
	/*
	 * Where procfs and sysfs are mounted; NULL: "/proc" and "/sys".
	 * Debugfs is looked for at <sys_root>/kernel/debug.  Only meant for
	 * pointing the parser at a prepared tree.
	 */
	const char *proc_root;
	const char *sys_root;
	/*
	 * Scan only this process; 0 scans all.  Holder counts and shares then
	 * see only this process.
	 */
	pid_t pid;
	/* DMK_STATS_* flags. */
	unsigned int flags;
};
#define dmk_stats_opts__last_field flags

/**
 * dmk_stats_snapshot_new() - scan the system once.
 * @opts: may be NULL (all processes, /proc and /sys).
 * @out:  the snapshot.
 *
 * A process the caller may not read (another user's, without privilege)
 * is listed with readable == false and its errno, never dropped; a process
 * that exits during the scan is dropped.  Reading is racy by nature: the
 * snapshot is a consistent count only of processes that stood still.
 *
 * Return: 0, -EINVAL (bad opts or flags), -ESRCH (@opts->pid does not
 * exist), -ENOMEM, or the -errno of opening the procfs root.
 */
DMK_API int dmk_stats_snapshot_new(const struct dmk_stats_opts *opts,
				   struct dmk_stats_snapshot **out);

/** dmk_stats_snapshot_free() - free a snapshot; NULL is a no-op. */
DMK_API void dmk_stats_snapshot_free(struct dmk_stats_snapshot *snap);

/* ---- buffers ---- */

enum dmk_stats_kind {
	DMK_STATS_DMABUF = 1,
	DMK_STATS_MEMFD = 2,
};

/* dmk_stats_buf_info.flags */
enum dmk_stats_buf_flags {
	/*
	 * Nobody seen holds an fd to it and the kernel gave no size for it
	 * (no sysfs or debugfs entry, no access to /proc/<pid>/map_files):
	 * the size is the largest end of a mapping seen, a lower bound.
	 */
	DMK_STATS_BUF_SIZE_ESTIMATED = 1u << 0,
};

struct dmk_stats_buf_info {
	size_t sz;			/* set by the caller: sizeof(struct) */
	enum dmk_stats_kind kind;
	dev_t dev;			/* identity: (dev, ino) */
	ino_t ino;
	uint64_t size;			/* bytes */
	unsigned int flags;		/* DMK_STATS_BUF_* */
	/* dma-buf exporter (exp_name: "system", "udmabuf", ...), "memfd"
	 * for a memfd, "" when unknown. */
	const char *exporter;
	const char *name;		/* dma-buf or memfd name; "" if none */
	uint32_t nholders;		/* processes holding it */
	uint32_t fd_refs;		/* fds, summed over holders */
	uint32_t map_refs;		/* mappings, summed over holders */
	/*
	 * The kernel's reference count of a dma-buf's file (fdinfo "count"
	 * as last read, or debugfs): equals fd_refs + map_refs when the scan
	 * saw every holder.  -1 for memfds (the kernel does not show it).
	 */
	int64_t kcount;
};
#define dmk_stats_buf_info__last_field kcount

struct dmk_stats_holder_info {
	size_t sz;			/* set by the caller: sizeof(struct) */
	pid_t pid;
	uint32_t proc;			/* index for dmk_stats_proc() */
	uint32_t fd_refs;
	uint32_t map_refs;
};
#define dmk_stats_holder_info__last_field map_refs

/** dmk_stats_nbufs() - number of distinct buffers found. */
DMK_API size_t dmk_stats_nbufs(const struct dmk_stats_snapshot *snap);

/**
 * dmk_stats_buf() - buffer @i (0 .. nbufs-1), ordered by (dev, ino).
 * @info: written up to @info->sz bytes; its strings live as long as @snap.
 *
 * Return: 0, -EINVAL (bad index, or @info->sz too small for the size
 * field).
 */
DMK_API int dmk_stats_buf(const struct dmk_stats_snapshot *snap, size_t i,
			  struct dmk_stats_buf_info *info);

/**
 * dmk_stats_holder() - holder @j (0 .. nholders-1, by pid) of buffer @buf.
 *
 * Return: 0, -EINVAL (bad index or size field).
 */
DMK_API int dmk_stats_holder(const struct dmk_stats_snapshot *snap,
			     size_t buf, size_t j,
			     struct dmk_stats_holder_info *info);

/**
 * dmk_stats_find_buf() - the index of the buffer with identity (@dev, @ino),
 * as dmk_buf_identity() or fstat() gives it.
 *
 * Return: the index, or -ENOENT (no process seen holds it).
 */
DMK_API int dmk_stats_find_buf(const struct dmk_stats_snapshot *snap,
			       dev_t dev, ino_t ino);

/* ---- processes ---- */

struct dmk_stats_proc_info {
	size_t sz;			/* set by the caller: sizeof(struct) */
	pid_t pid;
	uid_t uid;			/* owner of /proc/<pid> */
	const char *comm;		/* "" when unreadable */
	/*
	 * false: its fds or maps could not be read (err says why, -EACCES
	 * for another user's process); what could be read is still counted.
	 */
	bool readable;
	int err;			/* 0 or -errno */
	uint32_t nbufs;			/* distinct buffers it holds */
	uint32_t fd_refs;
	uint32_t map_refs;
	uint64_t referenced;		/* bytes of the buffers it holds */
	/*
	 * Its proportional share: each buffer's size divided by the number
	 * of processes holding it (rounded down), summed.
	 */
	uint64_t proportional;
};
#define dmk_stats_proc_info__last_field proportional

/** dmk_stats_nprocs() - number of processes scanned (by pid). */
DMK_API size_t dmk_stats_nprocs(const struct dmk_stats_snapshot *snap);

/**
 * dmk_stats_proc() - process @i (0 .. nprocs-1), in pid order.
 *
 * Return: 0, -EINVAL (bad index or size field).
 */
DMK_API int dmk_stats_proc(const struct dmk_stats_snapshot *snap, size_t i,
			   struct dmk_stats_proc_info *info);

/**
 * dmk_stats_find_proc() - the index of process @pid.
 *
 * Return: the index, or -ENOENT.
 */
DMK_API int dmk_stats_find_proc(const struct dmk_stats_snapshot *snap,
				pid_t pid);

/* ---- totals ---- */

struct dmk_stats_totals {
	size_t sz;			/* set by the caller: sizeof(struct) */
	uint32_t nbufs;
	uint32_t ndmabufs;
	uint32_t nmemfds;
	uint32_t nprocs;		/* scanned */
	uint32_t nholding;		/* of which hold a buffer */
	uint32_t nunreadable;		/* of which could not be read */
	uint64_t bytes;			/* every buffer once */
	uint64_t dmabuf_bytes;
	uint64_t memfd_bytes;
	/*
	 * dma-bufs exported by udmabuf: their pages belong to a memfd, which
	 * is in memfd_bytes too when a process still holds it.
	 */
	uint64_t udmabuf_bytes;
};
#define dmk_stats_totals__last_field udmabuf_bytes

/**
 * dmk_stats_totals() - totals over the buffers found, each counted once.
 *
 * Return: 0, -EINVAL (size field).
 */
DMK_API int dmk_stats_totals(const struct dmk_stats_snapshot *snap,
			     struct dmk_stats_totals *t);

/* ---- the kernel's dma-buf list ---- */

enum dmk_stats_source {
	DMK_STATS_SRC_NONE = 0,
	DMK_STATS_SRC_SYSFS = 1,	/* /sys/kernel/dmabuf/buffers */
	DMK_STATS_SRC_DEBUGFS = 2,	/* /sys/kernel/debug/dma_buf/bufinfo */
};

struct dmk_stats_heaps {
	size_t sz;			/* set by the caller: sizeof(struct) */
	/*
	 * Where the system-wide list came from; NONE when neither is there
	 * or readable (err says why: -ENOENT without CONFIG_DMABUF_SYSFS_STATS
	 * and debugfs, -EACCES for debugfs without root).
	 */
	enum dmk_stats_source source;
	int err;
	uint32_t nbufs;			/* every dma-buf in the system */
	uint64_t bytes;
	uint32_t nexporters;		/* for dmk_stats_heap() */
};
#define dmk_stats_heaps__last_field nexporters

struct dmk_stats_heap_info {
	size_t sz;			/* set by the caller: sizeof(struct) */
	const char *exporter;		/* "system", "udmabuf", ... */
	uint32_t nbufs;
	uint64_t bytes;
};
#define dmk_stats_heap_info__last_field bytes

/**
 * dmk_stats_heaps() - system-wide dma-buf totals, buffers that no process
 * holds (a driver's) included.
 *
 * Return: 0 (also when unavailable: see @h->source), -EINVAL (size field).
 */
DMK_API int dmk_stats_heaps(const struct dmk_stats_snapshot *snap,
			    struct dmk_stats_heaps *h);

/**
 * dmk_stats_heap() - totals of exporter @i (0 .. nexporters-1, by name).
 *
 * Return: 0, -EINVAL (bad index or size field).
 */
DMK_API int dmk_stats_heap(const struct dmk_stats_snapshot *snap, size_t i,
			   struct dmk_stats_heap_info *info);

/* ---- memory and pressure ---- */

struct dmk_stats_psi {
	double avg10, avg60, avg300;	/* percent of time stalled */
	uint64_t total_us;		/* stalled time since boot */
};

struct dmk_stats_memory {
	size_t sz;			/* set by the caller: sizeof(struct) */
	int meminfo_err;		/* 0, or why meminfo was not read */
	/* Bytes; DMK_STATS_UNKNOWN where meminfo lacks the field. */
	uint64_t total;
	uint64_t free;
	uint64_t available;
	uint64_t shmem;			/* tmpfs and memfd pages */
	uint64_t cma_total;
	uint64_t cma_free;
	/* 0, or why /proc/pressure/memory was not read (-ENOENT without
	 * CONFIG_PSI). */
	int psi_err;
	bool psi_some_valid, psi_full_valid;
	struct dmk_stats_psi psi_some;	/* some task stalled on memory */
	struct dmk_stats_psi psi_full;	/* all non-idle tasks stalled */
};
#define dmk_stats_memory__last_field psi_full

/**
 * dmk_stats_memory() - /proc/meminfo and memory pressure, as read with
 * the snapshot.
 *
 * Return: 0 (fields the kernel lacks say so), -EINVAL (size field).
 */
DMK_API int dmk_stats_memory(const struct dmk_stats_snapshot *snap,
			     struct dmk_stats_memory *m);

/* ---- GPU memory: unified or discrete ---- */

struct dmk_stats_gpu;

enum dmk_stats_gpu_type {
	DMK_STATS_GPU_OTHER = 0,
	DMK_STATS_GPU_INTEGRATED = 1,
	DMK_STATS_GPU_DISCRETE = 2,
	DMK_STATS_GPU_VIRTUAL = 3,
	DMK_STATS_GPU_CPU = 4,
};

struct dmk_stats_gpu_info {
	size_t sz;			/* set by the caller: sizeof(struct) */
	const char *name;		/* the driver's device name */
	enum dmk_stats_gpu_type type;
	uint32_t vendor_id;
	uint32_t device_id;
	/*
	 * true: the device's memory is system memory, so what it uses is
	 * already in the system's numbers: a CPU or integrated device, or a
	 * virtual/other one with a device-local heap the CPU can map.  false:
	 * a discrete device, with memory of its own, even when the CPU can
	 * map some of it through a BAR.
	 */
	bool unified;
	const char *reason;		/* why, in words */
	uint32_t nheaps;
	/* Heap bytes that are system memory: every heap when unified, the
	 * heaps not device-local otherwise. */
	uint64_t system_bytes;
	/* Device-local heap bytes of a discrete device (0 when unified). */
	uint64_t device_bytes;
};
#define dmk_stats_gpu_info__last_field device_bytes

struct dmk_stats_gpu_heap_info {
	size_t sz;			/* set by the caller: sizeof(struct) */
	uint64_t size;
	bool device_local;		/* VK_MEMORY_HEAP_DEVICE_LOCAL_BIT */
	bool host_visible;		/* has a host-visible memory type */
};
#define dmk_stats_gpu_heap_info__last_field host_visible

/**
 * dmk_stats_gpu_new() - list the Vulkan devices and classify their memory.
 * @flags: none defined yet; must be 0.
 * @out:   the list.
 *
 * Creates a Vulkan instance, reads every physical device's properties and
 * memory heaps, and destroys the instance before returning: nothing stays
 * open.  Costs what loading the drivers costs (tens of milliseconds):
 * call it once, not per refresh.
 *
 * Return: 0, -ENODEV (no Vulkan loader driver or no device), -EINVAL
 * (flags), -ENOMEM, -EIO (another Vulkan failure).
 */
DMK_API int dmk_stats_gpu_new(unsigned int flags, struct dmk_stats_gpu **out);

/** dmk_stats_gpu_free() - free the list; NULL is a no-op. */
DMK_API void dmk_stats_gpu_free(struct dmk_stats_gpu *gpu);

/** dmk_stats_gpu_ndevs() - number of devices (at least 1). */
DMK_API size_t dmk_stats_gpu_ndevs(const struct dmk_stats_gpu *gpu);

/**
 * dmk_stats_gpu_dev() - device @i, in the driver's order.
 *
 * Return: 0, -EINVAL (bad index or size field).
 */
DMK_API int dmk_stats_gpu_dev(const struct dmk_stats_gpu *gpu, size_t i,
			      struct dmk_stats_gpu_info *info);

/**
 * dmk_stats_gpu_heap() - memory heap @j of device @i.
 *
 * Return: 0, -EINVAL (bad index or size field).
 */
DMK_API int dmk_stats_gpu_heap(const struct dmk_stats_gpu *gpu, size_t i,
			       size_t j, struct dmk_stats_gpu_heap_info *info);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_STATS_H */
