/* SPDX-License-Identifier: MIT */
/*
 * UAPI definitions dmakit needs, for system headers older than the
 * kernels it runs on.  Each one is a copy of the kernel's, behind #ifndef,
 * so the system's definition wins where it exists.
 */
#ifndef DMK_COMPAT_UAPI_H
#define DMK_COMPAT_UAPI_H

#include <fcntl.h>
#include <linux/types.h>
#include <linux/ioctl.h>

/* include/uapi/linux/dma-heap.h (5.6+) */
#ifndef DMA_HEAP_IOCTL_ALLOC
struct dma_heap_allocation_data {
	__u64 len;
	__u32 fd;
	__u32 fd_flags;
	__u64 heap_flags;
};
#define DMA_HEAP_IOC_MAGIC 'H'
#define DMA_HEAP_IOCTL_ALLOC _IOWR(DMA_HEAP_IOC_MAGIC, 0x0, \
				   struct dma_heap_allocation_data)
#endif

/* include/uapi/linux/udmabuf.h (4.20+) */
#ifndef UDMABUF_CREATE
#define UDMABUF_FLAGS_CLOEXEC 0x01
struct udmabuf_create {
	__u32 memfd;
	__u32 flags;
	__u64 offset;
	__u64 size;
};
#define UDMABUF_CREATE _IOW('u', 0x42, struct udmabuf_create)
#endif

/* include/uapi/linux/dma-buf.h */
#ifndef DMA_BUF_IOCTL_SYNC
struct dma_buf_sync {
	__u64 flags;
};
#define DMA_BUF_SYNC_READ (1 << 0)
#define DMA_BUF_SYNC_WRITE (2 << 0)
#define DMA_BUF_SYNC_RW (DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE)
#define DMA_BUF_SYNC_START (0 << 2)
#define DMA_BUF_SYNC_END (1 << 2)
#define DMA_BUF_BASE 'b'
#define DMA_BUF_IOCTL_SYNC _IOW(DMA_BUF_BASE, 0, struct dma_buf_sync)
#endif
#ifndef DMA_BUF_SET_NAME_B
#define DMA_BUF_SET_NAME_B _IOW('b', 1, __u64)
#endif
#ifndef DMA_BUF_NAME_LEN
#define DMA_BUF_NAME_LEN 32
#endif

/* include/uapi/linux/magic.h */
#ifndef DMA_BUF_MAGIC
#define DMA_BUF_MAGIC 0x444d4142	/* "DMAB" */
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

/* include/uapi/linux/memfd.h */
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U	/* 6.3+ */
#endif

/* include/uapi/linux/fcntl.h */
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010	/* 5.1+ */
#endif

#endif /* DMK_COMPAT_UAPI_H */
