// SPDX-License-Identifier: MIT
/*
 * dmakit: the command-line tool.  main() picks a command from the table
 * below and hands it the rest of the command line; each command parses its
 * own options and returns 0 (ok), 1 (runtime failure) or 2 (usage).
 */
#include <stdio.h>
#include <string.h>

#include <dmakit/dmakit.h>

#include "util.h"

static const struct tool_cmd cmds[] = {
	{ "info", "what this machine offers: heaps, backends, the auto choice",
	  cmd_info, cmd_info_usage },
	{ "alloc", "allocate one buffer, check it and show what it is",
	  cmd_alloc, cmd_alloc_usage },
	{ "stream", "copy a file into buffers through io_uring (and back out)",
	  cmd_stream, cmd_stream_usage },
	{ "serve", "serve a moving test pattern to consumers, zero-copy",
	  cmd_serve, cmd_serve_usage },
	{ "attach", "take frames from 'dmakit serve', check and time them",
	  cmd_attach, cmd_attach_usage },
	{ "top", "who holds which dma-buf and memfd, live",
	  cmd_top, cmd_top_usage },
	{ "bench", "benchmarks, each side by side with its baseline",
	  cmd_bench, cmd_bench_usage },
	{ "clip", "a pan-and-zoom Y4M video from a photograph",
	  cmd_clip, cmd_clip_usage },
	{ "detect", "find faces in photographs (OpenCV cascades)",
	  cmd_detect, cmd_detect_usage },
	{ "pipeline", "reader -> face detector -> sink, three processes, "
	  "zero-copy", cmd_pipeline, cmd_pipeline_usage },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: dmakit <command> [options]\n"
		"       dmakit help <command>\n"
		"       dmakit --version\n"
		"\n"
		"Zero-copy dma-buf and memfd buffers: inspect, allocate,\n"
		"measure.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f,
		"\n"
		"Every command takes --help.  Exit status: 0 ok, 1 runtime "
		"failure, 2 usage error.\n");
}

static const struct tool_cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static char name[64];
	const struct tool_cmd *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("dmakit %s\n", dmk_version());
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return EXIT_OK;
		}
		cmd = find_cmd(argv[2]);
		if (!cmd)
			return tool_usage_err("no such command '%s'", argv[2]);
		cmd->usage(stdout);
		return EXIT_OK;
	}
	if (argv[1][0] == '-')
		return tool_usage_err("unknown option '%s'", argv[1]);
	cmd = find_cmd(argv[1]);
	if (!cmd)
		return tool_usage_err("no such command '%s'", argv[1]);

	snprintf(name, sizeof(name), "dmakit %s", cmd->name);
	tool_set_name(name);
	return cmd->run(argc - 1, argv + 1);
}
