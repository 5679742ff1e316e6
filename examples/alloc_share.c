// SPDX-License-Identifier: MIT
/*
 * alloc_share: allocate a buffer with libdmakit and share it with another
 * process, with no copy: only the fd travels, over a unix socket.
 *
 *   cc -o alloc_share alloc_share.c $(pkg-config --cflags --libs dmakit)
 *
 * Exit status 0 when the child saw exactly what the parent wrote.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* kill(), MSG_CMSG_CLOEXEC even with -std=c11 */
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#define SIZE (1u << 20)

/* The byte at @i: what the parent writes and the child expects. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 31 + 7);
}

/* Send one fd with SCM_RIGHTS; the kernel installs a copy in the peer. */
static int send_fd(int sock, int fd)
{
	char byte = 'F', ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl, .msg_controllen = sizeof(ctl),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* Receive one fd, close-on-exec; -1 on error or a truncated message. */
static int recv_fd(int sock)
{
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl, .msg_controllen = sizeof(ctl),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	/* More fds than we asked for would set MSG_CTRUNC: refuse them. */
	if (msg.msg_flags & MSG_CTRUNC) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The child: import the fd it was sent and check every byte. */
static int child(int sock, dev_t dev, ino_t ino)
{
	/*
	 * Refuse anything smaller than we expect: the size comes from the
	 * fd itself, never from what a peer says.
	 */
	DMK_OPTS(dmk_buf_import_opts, opts, .min_size = SIZE);
	struct dmk_buf *buf;
	unsigned char *p;
	dev_t d;
	ino_t i;
	size_t n;
	int fd = recv_fd(sock), ret;

	if (fd < 0)
		return 1;
	ret = dmk_buf_import(fd, 0, &opts, &buf);
	close(fd);		/* import keeps its own duplicate */
	if (ret < 0) {
		fprintf(stderr, "child: import: %s\n", dmk_strerror(ret));
		return 1;
	}
	dmk_buf_identity(buf, &d, &i);
	ret = dmk_buf_map(buf, (void **)&p);
	if (ret == 0)
		ret = dmk_buf_begin_cpu(buf, DMK_SYNC_READ);
	for (n = 0; ret == 0 && n < SIZE; n++)
		if (p[n] != pattern(n))
			ret = -1;
	dmk_buf_end_cpu(buf, DMK_SYNC_READ);
	printf("child: %s %s, same buffer: %s, contents: %s\n",
	       dmk_backend_name(dmk_buf_backend(buf)), dmk_buf_name(buf),
	       d == dev && i == ino ? "yes" : "NO", ret ? "WRONG" : "ok");
	dmk_buf_put(buf);
	return ret || d != dev || i != ino;
}

int main(void)
{
	/* Pages a device or O_DIRECT can pin: memfd, or udmabuf's memfd. */
	DMK_OPTS(dmk_heap_opts, hopts, .needs = DMK_CAP_PINNABLE);
	DMK_OPTS(dmk_alloc_opts, aopts, .name = "alloc_share");
	struct dmk_heap *heap;
	struct dmk_buf *buf;
	unsigned char *p;
	int sv[2], status, ret = 1;
	dev_t dev;
	ino_t ino;
	pid_t pid;
	size_t n;

	if (dmk_heap_open(DMK_HEAP_AUTO, &hopts, &heap) < 0 ||
	    dmk_heap_alloc(heap, SIZE, &aopts, &buf) < 0) {
		fprintf(stderr, "no pinnable buffer on this machine\n");
		return 1;
	}
	dmk_heap_close(heap);	/* the buffer lives on without it */
	if (dmk_buf_map(buf, (void **)&p) < 0)
		goto err_buf;
	dmk_buf_begin_cpu(buf, DMK_SYNC_WRITE);
	for (n = 0; n < SIZE; n++)
		p[n] = pattern(n);
	dmk_buf_end_cpu(buf, DMK_SYNC_WRITE);
	dmk_buf_identity(buf, &dev, &ino);
	printf("parent: %s buffer \"%s\", %llu bytes, fd %d, inode %llu\n",
	       dmk_backend_name(dmk_buf_backend(buf)), dmk_buf_name(buf),
	       (unsigned long long)dmk_buf_size(buf), dmk_buf_fd(buf),
	       (unsigned long long)ino);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto err_buf;
	fflush(stdout);		/* or the child would print it again */
	pid = fork();
	if (pid < 0)
		goto err_sock;
	if (pid == 0) {
		/*
		 * Act as an unrelated process: drop the copy fork() gave
		 * us, so all we have is the fd from the socket (and the
		 * identity to compare it with).
		 */
		dmk_buf_put(buf);
		close(sv[0]);
		ret = child(sv[1], dev, ino);
		close(sv[1]);
		fflush(stdout);
		_exit(ret);
	}
	if (send_fd(sv[0], dmk_buf_fd(buf)) < 0)
		kill(pid, SIGKILL);	/* it would wait for the fd forever */
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		ret = WEXITSTATUS(status);
err_sock:
	close(sv[0]);
	close(sv[1]);
err_buf:
	dmk_buf_put(buf);
	printf("%s\n", ret ? "FAILED" : "ok: shared without a copy");
	return ret;
}
