// SPDX-License-Identifier: MIT
/*
 * A SPIR-V checker for compute stages: what dmk_vk_stage_new() must know
 * before a driver sees the module (its entry point, workgroup size,
 * descriptor bindings and push-constant size), read from the instruction
 * stream itself.  The module is untrusted input: every word count, id and
 * string is bounds-checked before use.
 *
 * Only what Vulkan compute stages use is interpreted; everything else is
 * walked over by its word count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vk_internal.h"

#define SPV_MAGIC		0x07230203u
#define SPV_HEADER_WORDS	5
/* The universal limit on a module's id bound (SPIR-V spec, 2.17). */
#define SPV_MAX_BOUND		4194304u
/* Array-of-array nesting followed when sizing push constants. */
#define SPV_MAX_DEPTH		8

enum {
	OP_ENTRY_POINT = 15,
	OP_EXECUTION_MODE = 16,
	OP_TYPE_INT = 21,
	OP_TYPE_FLOAT = 22,
	OP_TYPE_VECTOR = 23,
	OP_TYPE_ARRAY = 28,
	OP_TYPE_RUNTIME_ARRAY = 29,
	OP_TYPE_STRUCT = 30,
	OP_TYPE_POINTER = 32,
	OP_CONSTANT = 43,
	OP_CONSTANT_COMPOSITE = 44,
	OP_SPEC_CONSTANT = 50,
	OP_SPEC_CONSTANT_COMPOSITE = 51,
	OP_VARIABLE = 59,
	OP_DECORATE = 71,
	OP_MEMBER_DECORATE = 72,
	OP_EXECUTION_MODE_ID = 331,
};

enum {
	MODEL_GLCOMPUTE = 5,
	MODE_LOCAL_SIZE = 17,
	MODE_LOCAL_SIZE_ID = 38,
	SC_UNIFORM_CONSTANT = 0,
	SC_UNIFORM = 2,
	SC_PUSH_CONSTANT = 9,
	SC_STORAGE_BUFFER = 12,
	DEC_BLOCK = 2,
	DEC_BUFFER_BLOCK = 3,
	DEC_ARRAY_STRIDE = 6,
	DEC_BUILTIN = 11,
	DEC_BINDING = 33,
	DEC_DESCRIPTOR_SET = 34,
	DEC_OFFSET = 35,
	BUILTIN_WORKGROUP_SIZE = 25,
};

/* What one result id is, for the ids this checker interprets. */
struct spv_id {
	uint32_t inst;		/* word index of its definition */
	uint16_t op;		/* its opcode; 0: not defined (yet) */
	bool has_set, has_binding, block, buffer_block, wgsize;
	uint32_t set, binding, array_stride;
};

struct spv {
	const uint32_t *w;
	size_t n;		/* words */
	struct spv_id *ids;
	uint32_t nids;		/* ids[] covers 0..nids-1 */
	/* OpMemberDecorate ... Offset instructions, by word index. */
	uint32_t *offsets;
	size_t noffsets;
};

static uint32_t spv_wc(const struct spv *s, size_t i)
{
	return s->w[i] >> 16;
}

static uint32_t spv_op(const struct spv *s, size_t i)
{
	return s->w[i] & 0xffff;
}

/* The defining instruction of @id when it has opcode @op, else 0. */
static uint32_t spv_def(const struct spv *s, uint32_t id, uint16_t op)
{
	if (id >= s->nids || s->ids[id].op != op)
		return 0;
	return s->ids[id].inst;
}

/* Where the result id of a defining instruction sits, 0 for none. */
static int spv_result_pos(uint32_t op)
{
	switch (op) {
	case OP_TYPE_INT:
	case OP_TYPE_FLOAT:
	case OP_TYPE_VECTOR:
	case OP_TYPE_ARRAY:
	case OP_TYPE_RUNTIME_ARRAY:
	case OP_TYPE_STRUCT:
	case OP_TYPE_POINTER:
		return 1;
	case OP_CONSTANT:
	case OP_SPEC_CONSTANT:
	case OP_CONSTANT_COMPOSITE:
	case OP_SPEC_CONSTANT_COMPOSITE:
	case OP_VARIABLE:
		return 2;
	}
	return 0;
}

/* Minimum word count of the instructions this checker reads. */
static uint32_t spv_min_wc(uint32_t op)
{
	switch (op) {
	case OP_TYPE_STRUCT:
		return 2;
	case OP_EXECUTION_MODE:
	case OP_EXECUTION_MODE_ID:
	case OP_DECORATE:
	case OP_TYPE_FLOAT:
	case OP_TYPE_RUNTIME_ARRAY:
	case OP_CONSTANT_COMPOSITE:
	case OP_SPEC_CONSTANT_COMPOSITE:
		return 3;
	case OP_ENTRY_POINT:
	case OP_MEMBER_DECORATE:
	case OP_TYPE_INT:
	case OP_TYPE_VECTOR:
	case OP_TYPE_ARRAY:
	case OP_TYPE_POINTER:
	case OP_CONSTANT:
	case OP_SPEC_CONSTANT:
	case OP_VARIABLE:
		return 4;
	}
	return 1;
}

/*
 * A 32-bit unsigned value of a scalar constant, or -1 (wider than 32 bits
 * with a non-zero high word, or not a constant).
 */
static int64_t spv_const(const struct spv *s, uint32_t id)
{
	uint32_t i = spv_def(s, id, OP_CONSTANT);

	if (!i)
		i = spv_def(s, id, OP_SPEC_CONSTANT);
	if (!i)
		return -1;
	if (spv_wc(s, i) > 4 && s->w[i + 4])
		return -1;
	return s->w[i + 3];
}

/*
 * Bytes an OpTypeInt/Float/Vector/Array of those occupies in a block with
 * explicit layout; 0 when it cannot be computed here.
 */
static uint64_t spv_size(const struct spv *s, uint32_t type, int depth)
{
	uint32_t i, width;
	uint64_t elem;
	int64_t len;

	if (type >= s->nids || depth > SPV_MAX_DEPTH)
		return 0;
	i = s->ids[type].inst;
	switch (s->ids[type].op) {
	case OP_TYPE_INT:
	case OP_TYPE_FLOAT:
		width = s->w[i + 2];
		if (width != 8 && width != 16 && width != 32 && width != 64)
			return 0;
		return width / 8;
	case OP_TYPE_VECTOR:
		elem = spv_size(s, s->w[i + 2], depth + 1);
		if (s->w[i + 3] < 2 || s->w[i + 3] > 16)
			return 0;
		return elem * s->w[i + 3];
	case OP_TYPE_ARRAY:
		elem = spv_size(s, s->w[i + 2], depth + 1);
		len = spv_const(s, s->w[i + 3]);
		if (!elem || len <= 0 || !s->ids[type].array_stride)
			return 0;
		return (uint64_t)(len - 1) * s->ids[type].array_stride + elem;
	}
	return 0;
}

/*
 * Size of a push-constant block: the furthest end of any member, from its
 * Offset decoration and its size.  0 with *known false when a member is of
 * a type sized nowhere here (a matrix, a nested struct) or has no Offset.
 */
static uint64_t spv_push_size(const struct spv *s, uint32_t st, bool *known)
{
	uint32_t i = spv_def(s, st, OP_TYPE_STRUCT), m, nm, k;
	uint64_t end = 0, sz;

	*known = false;
	if (!i)
		return 0;
	nm = spv_wc(s, i) - 2;
	for (m = 0; m < nm; m++) {
		int64_t off = -1;

		for (k = 0; k < s->noffsets; k++) {
			uint32_t d = s->offsets[k];

			if (s->w[d + 1] == st && s->w[d + 2] == m) {
				off = s->w[d + 4];
				break;
			}
		}
		sz = spv_size(s, s->w[i + 2 + m], 0);
		if (off < 0 || !sz) {
			pr_info("vk: spirv: push-constant member %u of %%%u "
				"cannot be sized here\n", m, st);
			return 0;
		}
		if ((uint64_t)off + sz > end)
			end = (uint64_t)off + sz;
	}
	*known = true;
	return end;
}

/* Validate the header and every word count; find the highest result id. */
static int spv_walk(struct spv *s, uint32_t *max_id, size_t *noffsets)
{
	uint32_t bound = s->w[3], wc, op, ver = s->w[1];
	size_t i;
	int pos;

	if (s->w[0] != SPV_MAGIC) {
		pr_warn("vk: spirv: bad magic 0x%08x%s\n", s->w[0],
			s->w[0] == __builtin_bswap32(SPV_MAGIC) ?
			" (other byte order)" : "");
		return -EINVAL;
	}
	if ((ver & 0xff0000ffu) || ((ver >> 16) & 0xff) != 1 ||
	    ((ver >> 8) & 0xff) > 6) {
		pr_warn("vk: spirv: unknown version 0x%08x\n", ver);
		return -EINVAL;
	}
	if (!bound || bound > SPV_MAX_BOUND || s->w[4]) {
		pr_warn("vk: spirv: bad id bound %u or schema %u\n", bound,
			s->w[4]);
		return -EINVAL;
	}
	*max_id = 0;
	*noffsets = 0;
	for (i = SPV_HEADER_WORDS; i < s->n; i += wc) {
		wc = spv_wc(s, i);
		op = spv_op(s, i);
		if (!wc || wc > s->n - i) {
			pr_warn("vk: spirv: instruction at word %zu (op %u) "
				"has word count %u, %zu words left\n", i, op,
				wc, s->n - i);
			return -EINVAL;
		}
		if (wc < spv_min_wc(op)) {
			pr_warn("vk: spirv: op %u at word %zu is too short "
				"(%u words)\n", op, i, wc);
			return -EINVAL;
		}
		pos = spv_result_pos(op);
		if (pos && wc > (uint32_t)pos) {
			if (s->w[i + pos] >= bound) {
				pr_warn("vk: spirv: id %u at word %zu is past "
					"the bound %u\n", s->w[i + pos], i,
					bound);
				return -EINVAL;
			}
			if (s->w[i + pos] > *max_id)
				*max_id = s->w[i + pos];
		}
		if (op == OP_MEMBER_DECORATE && s->w[i + 3] == DEC_OFFSET)
			(*noffsets)++;
	}
	return 0;
}

/* Whether the literal string at word @i of an instruction ending before
 * word @end is NUL-terminated inside it and equals @name. */
static bool spv_name_is(const struct spv *s, size_t i, size_t end,
			const char *name)
{
	const char *p = (const char *)&s->w[i];
	size_t max = (end - i) * 4, len = strnlen(p, max);

	return len < max && !strcmp(p, name);
}

/* Record the decorations and definitions the checks below need. */
static int spv_index(struct spv *s)
{
	size_t i, k = 0;
	uint32_t wc, op, id;
	int pos;

	for (i = SPV_HEADER_WORDS; i < s->n; i += wc) {
		wc = spv_wc(s, i);
		op = spv_op(s, i);
		pos = spv_result_pos(op);
		if (pos && wc > (uint32_t)pos) {
			id = s->w[i + pos];
			if (s->ids[id].op) {
				pr_warn("vk: spirv: id %u defined twice\n", id);
				return -EINVAL;
			}
			s->ids[id].op = (uint16_t)op;
			s->ids[id].inst = (uint32_t)i;
		}
		if (op == OP_MEMBER_DECORATE && s->w[i + 3] == DEC_OFFSET) {
			if (wc < 5) {
				pr_warn("vk: spirv: Offset without a value\n");
				return -EINVAL;
			}
			s->offsets[k++] = (uint32_t)i;
		}
		if (op != OP_DECORATE)
			continue;
		id = s->w[i + 1];
		if (id >= s->nids)
			continue;	/* nothing this checker interprets */
		switch (s->w[i + 2]) {
		case DEC_BLOCK:
			s->ids[id].block = true;
			break;
		case DEC_BUFFER_BLOCK:
			s->ids[id].buffer_block = true;
			break;
		case DEC_DESCRIPTOR_SET:
		case DEC_BINDING:
		case DEC_ARRAY_STRIDE:
		case DEC_BUILTIN:
			if (wc < 4) {
				pr_warn("vk: spirv: decoration %u of %%%u "
					"has no value\n", s->w[i + 2], id);
				return -EINVAL;
			}
			if (s->w[i + 2] == DEC_DESCRIPTOR_SET) {
				s->ids[id].has_set = true;
				s->ids[id].set = s->w[i + 3];
			} else if (s->w[i + 2] == DEC_BINDING) {
				s->ids[id].has_binding = true;
				s->ids[id].binding = s->w[i + 3];
			} else if (s->w[i + 2] == DEC_ARRAY_STRIDE) {
				s->ids[id].array_stride = s->w[i + 3];
			} else if (s->w[i + 3] == BUILTIN_WORKGROUP_SIZE) {
				s->ids[id].wgsize = true;
			}
			break;
		}
	}
	return 0;
}

/* The entry point's id, or -EINVAL when there is no GLCompute @entry. */
static int64_t spv_entry(const struct spv *s, const char *entry)
{
	size_t i;
	uint32_t wc;
	bool other = false;

	for (i = SPV_HEADER_WORDS; i < s->n; i += wc) {
		wc = spv_wc(s, i);
		if (spv_op(s, i) != OP_ENTRY_POINT)
			continue;
		if (!spv_name_is(s, i + 3, i + wc, entry)) {
			other = true;
			continue;
		}
		if (s->w[i + 1] != MODEL_GLCOMPUTE) {
			pr_warn("vk: spirv: entry point '%s' is not a compute "
				"shader (execution model %u)\n", entry,
				s->w[i + 1]);
			return -EINVAL;
		}
		return s->w[i + 2];
	}
	pr_warn("vk: spirv: no entry point '%s'%s\n", entry,
		other ? " (the module has others)" : "");
	return -EINVAL;
}

/* The workgroup size: LocalSize(Id) of @fn, or a WorkgroupSize builtin. */
static int spv_local_size(const struct spv *s, uint32_t fn, uint32_t sz[3])
{
	bool found = false;
	uint32_t wc, op, k, id;
	size_t i;
	int64_t v;

	for (i = SPV_HEADER_WORDS; i < s->n; i += wc) {
		wc = spv_wc(s, i);
		op = spv_op(s, i);
		if ((op != OP_EXECUTION_MODE && op != OP_EXECUTION_MODE_ID) ||
		    s->w[i + 1] != fn)
			continue;
		if (s->w[i + 2] != MODE_LOCAL_SIZE &&
		    s->w[i + 2] != MODE_LOCAL_SIZE_ID)
			continue;
		if (wc != 6) {
			pr_warn("vk: spirv: LocalSize with %u words\n", wc);
			return -EINVAL;
		}
		for (k = 0; k < 3; k++) {
			v = s->w[i + 3 + k];
			if (s->w[i + 2] == MODE_LOCAL_SIZE_ID)
				v = spv_const(s, (uint32_t)v);
			if (v <= 0) {
				pr_warn("vk: spirv: LocalSize[%u] is not a "
					"positive constant\n", k);
				return -EINVAL;
			}
			sz[k] = (uint32_t)v;
		}
		found = true;
	}
	/* A WorkgroupSize constant overrides LocalSize (SPIR-V 2.16.x). */
	for (id = 0; id < s->nids; id++) {
		uint32_t d = s->ids[id].inst;

		if (!s->ids[id].wgsize ||
		    (s->ids[id].op != OP_CONSTANT_COMPOSITE &&
		     s->ids[id].op != OP_SPEC_CONSTANT_COMPOSITE))
			continue;
		if (spv_wc(s, d) != 6) {
			pr_warn("vk: spirv: WorkgroupSize is not 3 values\n");
			return -EINVAL;
		}
		for (k = 0; k < 3; k++) {
			v = spv_const(s, s->w[d + 3 + k]);
			if (v <= 0) {
				pr_warn("vk: spirv: WorkgroupSize[%u] is not "
					"a positive constant\n", k);
				return -EINVAL;
			}
			sz[k] = (uint32_t)v;
		}
		found = true;
	}
	if (!found) {
		pr_warn("vk: spirv: no LocalSize for the entry point\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * Descriptor variables: only storage buffers, all in set 0, bindings
 * exactly 0..n-1.  Also the push-constant block's size.
 */
static int spv_resources(const struct spv *s, struct dmk__spirv_info *info)
{
	uint64_t seen = 0;	/* bindings below 64, as a bit set */
	uint32_t id, n = 0, max = 0;

	info->push_known = true;
	info->push_size = 0;
	for (id = 0; id < s->nids; id++) {
		const struct spv_id *v = &s->ids[id];
		uint32_t d = v->inst, ptr, pointee, sc;
		bool ssbo;

		if (v->op != OP_VARIABLE)
			continue;
		sc = s->w[d + 3];
		ptr = spv_def(s, s->w[d + 1], OP_TYPE_POINTER);
		pointee = ptr ? s->w[ptr + 3] : 0;
		if (sc == SC_PUSH_CONSTANT) {
			bool known;
			uint64_t sz = spv_push_size(s, pointee, &known);

			if (!known)
				info->push_known = false;
			else if (sz > info->push_size)
				info->push_size = sz > UINT32_MAX ?
						  UINT32_MAX : (uint32_t)sz;
			continue;
		}
		if (sc != SC_STORAGE_BUFFER && sc != SC_UNIFORM &&
		    sc != SC_UNIFORM_CONSTANT && !v->has_set &&
		    !v->has_binding)
			continue;	/* not a descriptor */
		if (sc != SC_STORAGE_BUFFER && sc != SC_UNIFORM &&
		    sc != SC_UNIFORM_CONSTANT) {
			pr_warn("vk: spirv: %%%u in storage class %u has a "
				"descriptor binding\n", id, sc);
			return -EINVAL;
		}
		if (!ptr || !pointee || pointee >= s->nids) {
			pr_warn("vk: spirv: variable %%%u has no pointer "
				"type\n", id);
			return -EINVAL;
		}
		ssbo = sc == SC_STORAGE_BUFFER ||
		       (sc == SC_UNIFORM && s->ids[pointee].buffer_block);
		if (!ssbo) {
			pr_warn("vk: spirv: binding %u is not a storage "
				"buffer (%s)\n", v->binding,
				sc == SC_UNIFORM ? "a uniform buffer" :
				"an image, sampler or other descriptor");
			return -EINVAL;
		}
		if (s->ids[pointee].op != OP_TYPE_STRUCT) {
			pr_warn("vk: spirv: storage buffer %%%u is an array "
				"of buffers\n", id);
			return -EINVAL;
		}
		if (!v->has_set || !v->has_binding) {
			pr_warn("vk: spirv: storage buffer %%%u has no "
				"descriptor set or binding\n", id);
			return -EINVAL;
		}
		if (v->set != 0) {
			pr_warn("vk: spirv: storage buffer in set %u binding "
				"%u (set 0 only)\n", v->set, v->binding);
			return -EINVAL;
		}
		if (v->binding >= 64 || (seen & (1ull << v->binding))) {
			pr_warn("vk: spirv: binding %u %s\n", v->binding,
				v->binding >= 64 ? "is too high" :
				"is declared twice");
			return -EINVAL;
		}
		seen |= 1ull << v->binding;
		n++;
		if (v->binding + 1 > max)
			max = v->binding + 1;
	}
	if (n != max) {
		pr_warn("vk: spirv: storage-buffer bindings are not 0..%u "
			"(%u of them, highest %u)\n", n ? n - 1 : 0, n,
			max ? max - 1 : 0);
		return -EINVAL;
	}
	info->nbindings = n;
	return 0;
}

int dmk__spirv_check(const uint32_t *words, size_t size, const char *entry,
		     struct dmk__spirv_info *info)
{
	struct spv s = { .w = words };
	uint32_t max_id;
	int64_t fn;
	int ret;

	memset(info, 0, sizeof(*info));
	if (!words || size % 4 || size / 4 <= SPV_HEADER_WORDS) {
		pr_warn("vk: spirv: %zu bytes is no SPIR-V module\n", size);
		return -EINVAL;
	}
	s.n = size / 4;
	ret = spv_walk(&s, &max_id, &s.noffsets);
	if (ret)
		return ret;
	s.nids = max_id + 1;
	s.ids = calloc(s.nids, sizeof(*s.ids));
	s.offsets = calloc(s.noffsets ? s.noffsets : 1, sizeof(*s.offsets));
	if (!s.ids || !s.offsets) {
		ret = -ENOMEM;
		goto out;
	}
	ret = spv_index(&s);
	if (ret)
		goto out;
	fn = spv_entry(&s, entry);
	if (fn < 0) {
		ret = (int)fn;
		goto out;
	}
	ret = spv_local_size(&s, (uint32_t)fn, info->local);
	if (ret)
		goto out;
	ret = spv_resources(&s, info);
	if (ret)
		goto out;
	info->version = words[1];
out:
	free(s.offsets);
	free(s.ids);
	return ret;
}
