// SPDX-License-Identifier: MIT
/*
 * Vulkan compute: the context (instance, device, one compute queue, one
 * timeline semaphore), the import ladder and its cache, stages from
 * SPIR-V, and chains of dispatches recorded once and replayed per frame.
 *
 * Locking.  One context and its chains belong to one thread at a time
 * (vk.h), but a dmakit buffer may be freed from any thread, and its free
 * hook then tears its import down.  vk->lock guards what a hook touches:
 * the queue (every vkQueueSubmit), the timeline's next value, the list of
 * live imports and the cache, each import's state and last_use, and the
 * staging copies (which read and write the buffer's mapping).  Lock order:
 * vk->lock, then a buffer's hook lock (dmk__buf_del_free_hook()); a hook
 * runs with no buffer lock held and takes vk->lock, so there is no cycle.
 *
 * Import lifetime.  Every import (cached or not) registers a free hook on
 * its buffer.  An import is LIVE until either its hook runs (the buffer's
 * last put), the last reference of an uncached import goes, or the
 * context is freed; then it is DYING (off the cache, no new submission
 * may bind it: submit checks the state under the same lock that it
 * submits under, and records last_use there), its Vulkan objects go once
 * the timeline passed last_use, and it is DEAD: path NONE, an empty shell
 * that references still held by callers or chains keep until their put.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sys.h"
#include "vk_internal.h"

#define VK_CACHE_BUCKETS	64	/* a power of two */
/* Storage-buffer offsets: the header promises 16 works on every device. */
#define VK_MIN_OFFSET_ALIGN	16

enum mem_state {
	MEM_LIVE,
	MEM_DYING,	/* off the cache; its objects are being destroyed */
	MEM_DEAD,	/* no Vulkan objects left */
};

struct dmk_vk_mem {
	atomic_int refs;
	_Atomic int state;		/* enum mem_state; set under lock */
	struct dmk_vk *vk;
	struct dmk_buf *buf;		/* not a reference; not when DEAD */
	struct dmk__buf_hook hook;
	struct dmk_vk_mem *prev, *next;	/* vk->mems: all not DEAD */
	struct dmk_vk_mem *hnext;	/* cache bucket chain */
	bool cached;			/* in the cache (holds one ref) */
	bool own;			/* dmk__vk_mem_new()'s: no buf */
	dev_t dev;			/* cache key: identity + flags */
	ino_t ino;
	unsigned int flags;

	enum dmk_vk_path path;
	bool mirrored;
	bool readonly;			/* read-only mapping, or mirrored */
	uint64_t size;
	VkBuffer buffer;
	VkDeviceMemory memory;
	VkBuffer mirror;
	VkDeviceMemory mirror_mem;
	void *map;			/* the buffer's mapping */
	void *staging;			/* the staging memory's mapping */
	bool staging_coherent;
	bool cpu_sync;			/* staging copies do dma-buf sync */
	uint64_t last_use;		/* timeline value; under vk->lock */
	char reason[192];
};

struct dmk_vk_stage {
	struct dmk_vk *vk;
	bool builtin;			/* owned by the context */
	VkShaderModule module;
	VkDescriptorSetLayout dsl;
	VkPipelineLayout layout;
	VkPipeline pipeline;
	uint32_t nbindings;
	uint32_t push_size;
	uint32_t local[3];
};

struct dmk_vk {
	VkInstance inst;
	VkPhysicalDevice phys;
	VkDevice dev;
	VkQueue queue;
	uint32_t qfam;
	VkPhysicalDeviceProperties props;
	VkPhysicalDeviceMemoryProperties mprops;
	VkDeviceSize host_align;	/* minImportedHostPointerAlignment */
	unsigned int feats;
	char driver[VK_MAX_DRIVER_NAME_SIZE + VK_MAX_DRIVER_INFO_SIZE + 2];
	PFN_vkGetMemoryHostPointerPropertiesEXT host_ptr_props;
	PFN_vkGetMemoryFdPropertiesKHR fd_props;
	PFN_vkGetSemaphoreFdKHR sem_fd;
	VkSemaphore timeline;
	VkDebugUtilsMessengerEXT messenger;	/* DMK_VK_VALIDATION */

	pthread_mutex_t lock;
	pthread_cond_t dead;		/* an import became DEAD */
	uint64_t point;			/* the last value submitted */
	_Atomic int failed;		/* -EIO once the device is lost */
	struct dmk_vk_mem *mems;
	struct dmk_vk_mem *cache[VK_CACHE_BUCKETS];
	struct dmk_vk_cache_stats stats;

	struct dmk_vk_stage *builtin[DMK__VK_BUILTIN_MAX];
};

/* One binding of one dispatch; holds a reference on mem. */
struct chain_bind {
	struct dmk_vk_mem *mem;
	uint64_t off, size;
	unsigned int access;
};

struct chain_disp {
	struct dmk_vk_stage *stage;
	uint32_t first, nbinds;		/* into chain->binds */
	size_t push_off;		/* stage->push_size bytes in ->push */
	uint32_t groups[3];
};

/* A merged byte range of one import, for copies. */
struct chain_range {
	struct dmk_vk_mem *mem;
	uint64_t off, size;
};

struct dmk_vk_chain {
	struct dmk_vk *vk;
	struct chain_disp *disp;
	uint32_t ndisp, cdisp;
	struct chain_bind *binds;
	uint32_t nbinds, cbinds;
	uint8_t *push;
	size_t npush, cpush;

	/* Built by dmk_vk_chain_end(). */
	bool ended;
	struct dmk_vk_mem **mems;	/* each bound import once */
	uint32_t nmems;
	struct chain_range *ranges;	/* in, out, mirror: one array */
	uint32_t nin, nout, nmirror;
	VkCommandPool pool;
	VkCommandBuffer cmd;
	VkDescriptorPool dpool;
	VkSemaphore export_sem;		/* binary, SYNC_FD; or null */

	uint64_t last_point;		/* 0: never submitted */
	bool copy_out_pending;		/* staging outputs not copied */
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
		return -ENODEV;
	case VK_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/* A device-lost result fails the context for good (vk.h). */
static int vk_check(struct dmk_vk *vk, VkResult r, const char *what)
{
	if (r == VK_SUCCESS)
		return 0;
	if (r == VK_ERROR_DEVICE_LOST) {
		if (!atomic_exchange(&vk->failed, -EIO))
			pr_warn("vk: %s: device lost; the context is failed\n",
				what);
		return -EIO;
	}
	pr_info("vk: %s: VkResult %d\n", what, (int)r);
	return vk_err(r);
}

/* ---- context ---- */

static bool ext_has(const VkExtensionProperties *ext, uint32_t n,
		    const char *name)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(ext[i].extensionName, name))
			return true;
	return false;
}

static bool validation_present(void)
{
	VkLayerProperties *lp;
	uint32_t i, n = 0;
	bool found = false;

	if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n)
		return false;
	lp = calloc(n, sizeof(*lp));
	if (!lp)
		return false;
	if (vkEnumerateInstanceLayerProperties(&n, lp) == VK_SUCCESS)
		for (i = 0; i < n && !found; i++)
			found = !strcmp(lp[i].layerName,
					"VK_LAYER_KHRONOS_validation");
	free(lp);
	return found;
}

/* Validation messages go to the log callback: the library never prints. */
static VkBool32 VKAPI_PTR vk_debug_cb(
	VkDebugUtilsMessageSeverityFlagBitsEXT sev,
	VkDebugUtilsMessageTypeFlagsEXT type,
	const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
	(void)type;
	(void)user;
	if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)
		pr_warn("vk: validation: %s\n", data->pMessage);
	else
		pr_info("vk: validation: %s\n", data->pMessage);
	return VK_FALSE;
}

static const VkDebugUtilsMessengerCreateInfoEXT vk_debug_info = {
	.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
	.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
			   VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
	.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
		       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
		       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
	.pfnUserCallback = vk_debug_cb,
};

static void vk_messenger(struct dmk_vk *vk)
{
	PFN_vkCreateDebugUtilsMessengerEXT create =
		(PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
			vk->inst, "vkCreateDebugUtilsMessengerEXT");

	if (!create || create(vk->inst, &vk_debug_info, NULL,
			      &vk->messenger) != VK_SUCCESS)
		vk->messenger = VK_NULL_HANDLE;
}

static int vk_instance(struct dmk_vk *vk, unsigned int flags)
{
	const char *layer = "VK_LAYER_KHRONOS_validation";
	const char *dbg_ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
	VkApplicationInfo app = {
		.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
		.pApplicationName = "dmakit",
		.pEngineName = "dmakit",
		.engineVersion = VK_MAKE_API_VERSION(0, DMK_VERSION_MAJOR,
						     DMK_VERSION_MINOR,
						     DMK_VERSION_PATCH),
	};
	VkInstanceCreateInfo ici = {
		.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
		.pApplicationInfo = &app,
	};
	uint32_t ver = VK_API_VERSION_1_0;
	VkResult r;

	/* Ask for what the loader has, up to 1.3; 1.2 is the floor. */
	if (vkEnumerateInstanceVersion(&ver) != VK_SUCCESS)
		ver = VK_API_VERSION_1_0;
	if (ver < VK_API_VERSION_1_2) {
		pr_warn("vk: the Vulkan loader is %u.%u; 1.2 is needed\n",
			VK_API_VERSION_MAJOR(ver), VK_API_VERSION_MINOR(ver));
		return -ENOTSUP;
	}
	app.apiVersion = ver < VK_API_VERSION_1_3 ? ver : VK_API_VERSION_1_3;
	if (flags & DMK_VK_VALIDATION) {
		if (validation_present()) {
			/* The layer implements debug utils itself. */
			ici.enabledLayerCount = 1;
			ici.ppEnabledLayerNames = &layer;
			ici.enabledExtensionCount = 1;
			ici.ppEnabledExtensionNames = &dbg_ext;
			ici.pNext = &vk_debug_info;
		} else {
			pr_info("vk: %s is not installed\n", layer);
		}
	}
	r = vkCreateInstance(&ici, NULL, &vk->inst);
	if (r != VK_SUCCESS) {
		vk->inst = VK_NULL_HANDLE;
		if (r == VK_ERROR_INCOMPATIBLE_DRIVER ||
		    r == VK_ERROR_INITIALIZATION_FAILED) {
			pr_warn("vk: no Vulkan driver (vkCreateInstance: "
				"%d)\n", (int)r);
			return -ENODEV;
		}
		pr_warn("vk: vkCreateInstance: %d\n", (int)r);
		return vk_err(r);
	}
	if (ici.enabledLayerCount)
		vk_messenger(vk);
	return 0;
}

/* Parse a decimal index; false when @s is not all digits or too big. */
static bool parse_index(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

static int vk_pick_device(struct dmk_vk *vk, const char *sel)
{
	VkPhysicalDevice *devs;
	VkPhysicalDeviceProperties p;
	uint32_t i, n = 0, idx;
	int ret = -ENODEV;
	VkResult r;

	r = vkEnumeratePhysicalDevices(vk->inst, &n, NULL);
	if (r != VK_SUCCESS || !n) {
		pr_warn("vk: no Vulkan device (%d devices, VkResult %d)\n", n,
			(int)r);
		return r == VK_SUCCESS || r == VK_ERROR_INITIALIZATION_FAILED ?
		       -ENODEV : vk_err(r);
	}
	devs = calloc(n, sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	r = vkEnumeratePhysicalDevices(vk->inst, &n, devs);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		ret = vk_err(r);
		goto out;
	}
	if (!sel || !*sel) {
		vk->phys = devs[0];
		for (i = 0; i < n; i++) {
			vkGetPhysicalDeviceProperties(devs[i], &p);
			if (p.deviceType ==
			    VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) {
				vk->phys = devs[i];
				break;
			}
		}
		ret = 0;
	} else if (parse_index(sel, &idx)) {
		if (idx < n) {
			vk->phys = devs[idx];
			ret = 0;
		} else {
			pr_warn("vk: device index %u, but there are %u\n",
				idx, n);
		}
	} else {
		for (i = 0; i < n && ret; i++) {
			vkGetPhysicalDeviceProperties(devs[i], &p);
			if (strcasestr(p.deviceName, sel)) {
				vk->phys = devs[i];
				ret = 0;
			}
		}
		if (ret)
			pr_warn("vk: no device name contains '%s' (%u "
				"devices)\n", sel, n);
	}
out:
	free(devs);
	return ret;
}

static int vk_queue_family(struct dmk_vk *vk)
{
	VkQueueFamilyProperties *qf;
	uint32_t i, n = 0;
	int ret = -ENOTSUP;

	vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &n, NULL);
	qf = calloc(n ? n : 1, sizeof(*qf));
	if (!qf)
		return -ENOMEM;
	vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &n, qf);
	for (i = 0; i < n; i++) {
		if (qf[i].queueCount &&
		    (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) {
			vk->qfam = i;
			ret = 0;
			break;
		}
	}
	free(qf);
	if (ret)
		pr_warn("vk: %s has no compute queue\n",
			vk->props.deviceName);
	return ret;
}

/* Whether binary semaphores can be exported as sync_file fds. */
static bool vk_sync_fd_ok(struct dmk_vk *vk)
{
	VkPhysicalDeviceExternalSemaphoreInfo info = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
		.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
	};
	VkExternalSemaphoreProperties props = {
		.sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES,
	};

	vkGetPhysicalDeviceExternalSemaphoreProperties(vk->phys, &info,
						       &props);
	return props.externalSemaphoreFeatures &
	       VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT;
}

static int vk_device(struct dmk_vk *vk)
{
	const char *names[8];
	uint32_t nnames = 0, n = 0;
	VkExtensionProperties *ext;
	VkPhysicalDeviceVulkan12Features f12 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
	};
	VkPhysicalDeviceFeatures2 f2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
		.pNext = &f12,
	};
	VkPhysicalDeviceVulkan12Features en12 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
		.timelineSemaphore = VK_TRUE,
	};
	VkPhysicalDeviceExternalMemoryHostPropertiesEXT hostp = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT,
	};
	VkPhysicalDeviceDriverProperties drv = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
	};
	VkPhysicalDeviceProperties2 p2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
		.pNext = &drv,
	};
	VkPhysicalDeviceFeatures en_feats = { 0 };
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
		.queueCount = 1,
		.pQueuePriorities = &prio,
	};
	VkDeviceCreateInfo dci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
		.pNext = &en12,
		.queueCreateInfoCount = 1,
		.pQueueCreateInfos = &qci,
	};
	VkSemaphoreTypeCreateInfo stci = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
		.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
	};
	VkSemaphoreCreateInfo sci = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
		.pNext = &stci,
	};
	bool host, memfd, dmabuf, semfd;
	VkResult r;
	int ret;

	if (vk->props.apiVersion < VK_API_VERSION_1_2) {
		pr_warn("vk: %s offers Vulkan %u.%u; 1.2 is needed\n",
			vk->props.deviceName,
			VK_API_VERSION_MAJOR(vk->props.apiVersion),
			VK_API_VERSION_MINOR(vk->props.apiVersion));
		return -ENOTSUP;
	}
	ret = vk_queue_family(vk);
	if (ret)
		return ret;
	vkGetPhysicalDeviceFeatures2(vk->phys, &f2);
	if (!f12.timelineSemaphore) {
		pr_warn("vk: %s has no timeline semaphores\n",
			vk->props.deviceName);
		return -ENOTSUP;
	}
	/* Byte access for shaders that read packed pixels, where offered. */
	en12.storageBuffer8BitAccess = f12.storageBuffer8BitAccess;
	en12.shaderInt8 = f12.shaderInt8;

	r = vkEnumerateDeviceExtensionProperties(vk->phys, NULL, &n, NULL);
	if (r != VK_SUCCESS)
		return vk_err(r);
	ext = calloc(n ? n : 1, sizeof(*ext));
	if (!ext)
		return -ENOMEM;
	r = vkEnumerateDeviceExtensionProperties(vk->phys, NULL, &n, ext);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		free(ext);
		return vk_err(r);
	}
	host = ext_has(ext, n, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
	memfd = ext_has(ext, n, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
	dmabuf = memfd &&
		 ext_has(ext, n, VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME);
	semfd = ext_has(ext, n, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
	free(ext);
	if (host)
		names[nnames++] = VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME;
	if (memfd)
		names[nnames++] = VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME;
	if (dmabuf)
		names[nnames++] = VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME;
	if (semfd)
		names[nnames++] = VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME;

	if (host)
		drv.pNext = &hostp;
	vkGetPhysicalDeviceProperties2(vk->phys, &p2);
	vk->host_align = hostp.minImportedHostPointerAlignment;
	if (drv.driverInfo[0])
		snprintf(vk->driver, sizeof(vk->driver), "%s %s",
			 drv.driverName, drv.driverInfo);
	else
		snprintf(vk->driver, sizeof(vk->driver), "%s",
			 drv.driverName);
	vkGetPhysicalDeviceMemoryProperties(vk->phys, &vk->mprops);

	qci.queueFamilyIndex = vk->qfam;
	dci.enabledExtensionCount = nnames;
	dci.ppEnabledExtensionNames = names;
	/*
	 * Doubles in shaders where offered: the cascade detector sums its
	 * stages in double as OpenCV does (detect_vk.c checks the physical
	 * device's feature, so enabled here exactly when offered).
	 */
	en_feats.shaderFloat64 = f2.features.shaderFloat64;
	dci.pEnabledFeatures = &en_feats;
	r = vkCreateDevice(vk->phys, &dci, NULL, &vk->dev);
	if (r != VK_SUCCESS) {
		vk->dev = VK_NULL_HANDLE;
		pr_warn("vk: vkCreateDevice(%s): %d\n", vk->props.deviceName,
			(int)r);
		return vk_err(r);
	}
	vkGetDeviceQueue(vk->dev, vk->qfam, 0, &vk->queue);

	if (host && vk->host_align &&
	    !(vk->host_align & (vk->host_align - 1))) {
		vk->host_ptr_props = (PFN_vkGetMemoryHostPointerPropertiesEXT)
			vkGetDeviceProcAddr(vk->dev,
					    "vkGetMemoryHostPointerPropertiesEXT");
		if (vk->host_ptr_props)
			vk->feats |= DMK_VK_FEAT_HOST_IMPORT;
	}
	if (dmabuf) {
		vk->fd_props = (PFN_vkGetMemoryFdPropertiesKHR)
			vkGetDeviceProcAddr(vk->dev,
					    "vkGetMemoryFdPropertiesKHR");
		if (vk->fd_props)
			vk->feats |= DMK_VK_FEAT_DMABUF_IMPORT;
	}
	if (semfd && vk_sync_fd_ok(vk)) {
		vk->sem_fd = (PFN_vkGetSemaphoreFdKHR)
			vkGetDeviceProcAddr(vk->dev, "vkGetSemaphoreFdKHR");
		if (vk->sem_fd)
			vk->feats |= DMK_VK_FEAT_SYNC_FD;
	}
	if (vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ||
	    vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU)
		vk->feats |= DMK_VK_FEAT_UNIFIED;

	r = vkCreateSemaphore(vk->dev, &sci, NULL, &vk->timeline);
	if (r != VK_SUCCESS) {
		vk->timeline = VK_NULL_HANDLE;
		return vk_check(vk, r, "timeline semaphore");
	}
	return 0;
}

static void vk_destroy(struct dmk_vk *vk)
{
	if (vk->timeline)
		vkDestroySemaphore(vk->dev, vk->timeline, NULL);
	if (vk->dev)
		vkDestroyDevice(vk->dev, NULL);
	if (vk->messenger) {
		PFN_vkDestroyDebugUtilsMessengerEXT destroy =
			(PFN_vkDestroyDebugUtilsMessengerEXT)
			vkGetInstanceProcAddr(vk->inst,
					      "vkDestroyDebugUtilsMessengerEXT");

		if (destroy)
			destroy(vk->inst, vk->messenger, NULL);
	}
	if (vk->inst)
		vkDestroyInstance(vk->inst, NULL);
	pthread_cond_destroy(&vk->dead);
	pthread_mutex_destroy(&vk->lock);
	free(vk);
}

DMK_API int dmk_vk_new(const struct dmk_vk_opts *uopts, struct dmk_vk **out)
{
	struct dmk_vk_opts opts;
	struct dmk_vk *vk;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_vk_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!out || (opts.flags & ~DMK_VK_VALIDATION))
		return -EINVAL;
	vk = calloc(1, sizeof(*vk));
	if (!vk)
		return -ENOMEM;
	pthread_mutex_init(&vk->lock, NULL);
	pthread_cond_init(&vk->dead, NULL);
	vk->stats.sz = sizeof(vk->stats);

	ret = vk_instance(vk, opts.flags);
	if (ret)
		goto err;
	ret = vk_pick_device(vk, opts.device);
	if (ret)
		goto err;
	vkGetPhysicalDeviceProperties(vk->phys, &vk->props);
	ret = vk_device(vk);
	if (ret)
		goto err;
	pr_info("vk: %s (%s): features 0x%x, host import alignment %" PRIu64
		"\n", vk->props.deviceName, vk->driver, vk->feats,
		(uint64_t)vk->host_align);
	*out = vk;
	return 0;

err:
	vk_destroy(vk);
	return ret;
}

DMK_API unsigned int dmk_vk_features(const struct dmk_vk *vk)
{
	return vk->feats;
}

DMK_API const char *dmk_vk_device_name(const struct dmk_vk *vk)
{
	return vk->props.deviceName;
}

DMK_API const char *dmk_vk_driver_name(const struct dmk_vk *vk)
{
	return vk->driver;
}

VkDevice dmk__vk_device(const struct dmk_vk *vk)
{
	return vk->dev;
}

VkPhysicalDevice dmk__vk_physical(const struct dmk_vk *vk)
{
	return vk->phys;
}

/* Wait for the timeline to reach @point; 0, -ETIMEDOUT or -EIO. */
static int vk_wait_point(struct dmk_vk *vk, uint64_t point,
			 uint64_t timeout_ns)
{
	VkSemaphoreWaitInfo wi = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
		.semaphoreCount = 1,
		.pSemaphores = &vk->timeline,
		.pValues = &point,
	};
	VkResult r;

	if (!point)
		return 0;
	r = vkWaitSemaphores(vk->dev, &wi, timeout_ns);
	if (r == VK_TIMEOUT)
		return -ETIMEDOUT;
	return r == VK_SUCCESS ? 0 : vk_check(vk, r, "vkWaitSemaphores");
}

DMK_API int dmk_vk_wait(struct dmk_vk *vk, uint64_t point,
			uint64_t timeout_ns)
{
	uint64_t last;

	pthread_mutex_lock(&vk->lock);
	last = vk->point;
	pthread_mutex_unlock(&vk->lock);
	if (point > last) {
		pr_warn("vk: wait for %" PRIu64 ", but only %" PRIu64
			" was submitted\n", point, last);
		return -EINVAL;
	}
	return vk_wait_point(vk, point, timeout_ns);
}

/* ---- imports ---- */

DMK_API const char *dmk_vk_path_name(enum dmk_vk_path path)
{
	switch (path) {
	case DMK_VK_PATH_DMABUF:
		return "dmabuf";
	case DMK_VK_PATH_HOST:
		return "host";
	case DMK_VK_PATH_STAGING:
		return "staging";
	case DMK_VK_PATH_NONE:
		break;
	}
	return "none";
}

__attribute__((format(printf, 2, 3)))
static void reason_add(struct dmk_vk_mem *mem, const char *fmt, ...)
{
	size_t len = strlen(mem->reason);
	va_list ap;

	if (len && len + 2 < sizeof(mem->reason)) {
		memcpy(mem->reason + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(mem->reason + len, sizeof(mem->reason) - len, fmt, ap);
	va_end(ap);
}

/*
 * A memory type among @bits with @want, preferring @pref on top and
 * avoiding @avoid; -1 when none has @want.
 */
static int mem_type(const struct dmk_vk *vk, uint32_t bits,
		    VkMemoryPropertyFlags want, VkMemoryPropertyFlags pref,
		    VkMemoryPropertyFlags avoid)
{
	int best = -1, best_score = -1;
	uint32_t i;

	for (i = 0; i < vk->mprops.memoryTypeCount; i++) {
		VkMemoryPropertyFlags f =
			vk->mprops.memoryTypes[i].propertyFlags;
		int score;

		if (!(bits & (1u << i)) || (f & want) != want)
			continue;
		score = ((f & pref) == pref ? 2 : 0) + (f & avoid ? 0 : 1);
		if (score > best_score) {
			best = (int)i;
			best_score = score;
		}
	}
	return best;
}

static int mem_buffer(struct dmk_vk *vk, uint64_t size,
		      VkBufferUsageFlags usage,
		      VkExternalMemoryHandleTypeFlags ext, VkBuffer *out)
{
	VkExternalMemoryBufferCreateInfo ebci = {
		.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
		.handleTypes = ext,
	};
	VkBufferCreateInfo bci = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		.pNext = ext ? &ebci : NULL,
		.size = size,
		.usage = usage,
		.sharingMode = VK_SHARING_MODE_EXCLUSIVE,
	};
	VkResult r;

	r = vkCreateBuffer(vk->dev, &bci, NULL, out);
	if (r != VK_SUCCESS) {
		*out = VK_NULL_HANDLE;
		return vk_check(vk, r, "vkCreateBuffer");
	}
	return 0;
}

#define MEM_USAGE (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | \
		   VK_BUFFER_USAGE_TRANSFER_SRC_BIT | \
		   VK_BUFFER_USAGE_TRANSFER_DST_BIT)

/* Free what an import made; the device must be done with it. */
static void mem_release(struct dmk_vk *vk, struct dmk_vk_mem *mem)
{
	if (mem->staging)
		vkUnmapMemory(vk->dev, mem->memory);
	if (mem->mirror)
		vkDestroyBuffer(vk->dev, mem->mirror, NULL);
	if (mem->mirror_mem)
		vkFreeMemory(vk->dev, mem->mirror_mem, NULL);
	if (mem->buffer)
		vkDestroyBuffer(vk->dev, mem->buffer, NULL);
	if (mem->memory)
		vkFreeMemory(vk->dev, mem->memory, NULL);
	mem->staging = NULL;
	mem->mirror = VK_NULL_HANDLE;
	mem->mirror_mem = VK_NULL_HANDLE;
	mem->buffer = VK_NULL_HANDLE;
	mem->memory = VK_NULL_HANDLE;
	mem->map = NULL;
}

/* Allocate memory of a type in @bits for mem->buffer and bind it. */
static int mem_bind(struct dmk_vk *vk, struct dmk_vk_mem *mem,
		    const void *import, uint32_t bits,
		    VkMemoryPropertyFlags want, VkMemoryPropertyFlags pref,
		    const char *what)
{
	VkMemoryAllocateInfo mai = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
		.pNext = import,
		.allocationSize = mem->size,
	};
	VkMemoryRequirements req;
	VkResult r;
	int type;

	vkGetBufferMemoryRequirements(vk->dev, mem->buffer, &req);
	if (req.size > mem->size) {
		reason_add(mem, "%s: the buffer needs %" PRIu64 " bytes", what,
			   (uint64_t)req.size);
		return -ENOTSUP;
	}
	type = mem_type(vk, req.memoryTypeBits & bits, want, pref, 0);
	if (type < 0) {
		reason_add(mem, "%s: no memory type fits (0x%x, 0x%x)", what,
			   req.memoryTypeBits, bits);
		return -ENOTSUP;
	}
	mai.memoryTypeIndex = (uint32_t)type;
	mem->staging_coherent = vk->mprops.memoryTypes[type].propertyFlags &
				VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
	r = vkAllocateMemory(vk->dev, &mai, NULL, &mem->memory);
	if (r != VK_SUCCESS) {
		mem->memory = VK_NULL_HANDLE;
		reason_add(mem, "%s: vkAllocateMemory %d", what, (int)r);
		return r == VK_ERROR_DEVICE_LOST ? vk_check(vk, r, what) :
		       r == VK_ERROR_INVALID_EXTERNAL_HANDLE ? -ENOTSUP :
		       vk_err(r);
	}
	r = vkBindBufferMemory(vk->dev, mem->buffer, mem->memory, 0);
	if (r != VK_SUCCESS) {
		reason_add(mem, "%s: vkBindBufferMemory %d", what, (int)r);
		return vk_check(vk, r, what);
	}
	return 0;
}

/* Rung 1: import a dup() of the dma-buf. */
static int mem_dmabuf(struct dmk_vk *vk, struct dmk_vk_mem *mem,
		      struct dmk_buf *buf)
{
	const VkExternalMemoryHandleTypeFlagBits ht =
		VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT;
	VkMemoryFdPropertiesKHR fdp = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR,
	};
	/* Some drivers require a dedicated allocation for a dma-buf. */
	VkMemoryDedicatedAllocateInfo ded = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO,
	};
	VkImportMemoryFdInfoKHR imp = {
		.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR,
		.pNext = &ded,
		.handleType = ht,
	};
	VkResult r;
	int ret, fd;

	fd = dmk__dup_cloexec(dmk_buf_fd(buf));
	if (fd < 0) {
		reason_add(mem, "dmabuf: dup: %s", strerror(-fd));
		return fd;
	}
	r = vk->fd_props(vk->dev, ht, fd, &fdp);
	if (r != VK_SUCCESS || !fdp.memoryTypeBits) {
		reason_add(mem, "dmabuf: the driver refuses the fd (%d)",
			   (int)r);
		ret = -ENOTSUP;
		goto err;
	}
	ret = mem_buffer(vk, mem->size, MEM_USAGE, ht, &mem->buffer);
	if (ret) {
		reason_add(mem, "dmabuf: vkCreateBuffer failed");
		goto err;
	}
	imp.fd = fd;
	ded.buffer = mem->buffer;
	/* On success Vulkan owns fd; on failure it is still ours. */
	ret = mem_bind(vk, mem, &imp, fdp.memoryTypeBits, 0,
		       VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, "dmabuf");
	if (ret) {
		if (mem->memory)
			fd = -1;	/* imported, bind failed: Vulkan's */
		goto err;
	}
	mem->path = DMK_VK_PATH_DMABUF;
	return 0;

err:
	dmk__close(fd);
	mem_release(vk, mem);
	return ret;
}

/* Rung 2: import the buffer's mapping as a host allocation. */
static int mem_host(struct dmk_vk *vk, struct dmk_vk_mem *mem,
		    struct dmk_buf *buf)
{
	const VkExternalMemoryHandleTypeFlagBits ht =
		VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
	VkMemoryHostPointerPropertiesEXT hp = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT,
	};
	VkImportMemoryHostPointerInfoEXT imp = {
		.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT,
		.handleType = ht,
	};
	VkResult r;
	void *map;
	int ret;

	/*
	 * Decided from the backend, never by trying (DESIGN.md): a pinning
	 * driver offered a PFNMAP dma-buf mapping or CMA pages can fail in
	 * ways that poison the device.  memfd pages pin; a CPU device
	 * pins nothing.
	 */
	if (!(dmk_buf_caps(buf) & DMK_CAP_PINNABLE) &&
	    vk->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU) {
		reason_add(mem, "host: dma-buf mapping on a pinning driver");
		return -ENOTSUP;
	}
	if (mem->size % vk->host_align) {
		reason_add(mem, "host: size %" PRIu64 " is not a multiple of "
			   "%" PRIu64, mem->size, (uint64_t)vk->host_align);
		return -ENOTSUP;
	}
	ret = dmk_buf_map(buf, &map);
	if (ret) {
		reason_add(mem, "host: mmap: %s", strerror(-ret));
		return ret == -ENOMEM ? ret : -ENOTSUP;
	}
	if ((uintptr_t)map % vk->host_align) {
		reason_add(mem, "host: mapping not aligned to %" PRIu64,
			   (uint64_t)vk->host_align);
		return -ENOTSUP;
	}
	r = vk->host_ptr_props(vk->dev, ht, map, &hp);
	if (r != VK_SUCCESS || !hp.memoryTypeBits) {
		reason_add(mem, "host: the driver refuses the pointer (%d)",
			   (int)r);
		return r == VK_ERROR_DEVICE_LOST ? vk_check(vk, r, "host") :
		       -ENOTSUP;
	}
	ret = mem_buffer(vk, mem->size, MEM_USAGE, ht, &mem->buffer);
	if (ret) {
		reason_add(mem, "host: vkCreateBuffer failed");
		return ret;
	}
	imp.pHostPointer = map;
	ret = mem_bind(vk, mem, &imp, hp.memoryTypeBits, 0,
		       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, "host");
	if (ret) {
		mem_release(vk, mem);
		return ret;
	}
	mem->map = map;
	mem->path = DMK_VK_PATH_HOST;
	return 0;
}

/* Rung 3: a host-visible buffer of the same size, copied per submit. */
static int mem_staging(struct dmk_vk *vk, struct dmk_vk_mem *mem,
		       struct dmk_buf *buf)
{
	void *map, *st;
	VkResult r;
	int ret;

	ret = dmk_buf_map(buf, &map);
	if (ret) {
		reason_add(mem, "staging: mmap: %s", strerror(-ret));
		return ret == -ENOMEM ? ret : -ENOTSUP;
	}
	ret = mem_buffer(vk, mem->size, MEM_USAGE, 0, &mem->buffer);
	if (ret) {
		reason_add(mem, "staging: vkCreateBuffer failed");
		return ret;
	}
	/* Coherent and cached: results are read back by the CPU. */
	ret = mem_bind(vk, mem, NULL, UINT32_MAX,
		       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
		       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
		       VK_MEMORY_PROPERTY_HOST_CACHED_BIT, "staging");
	if (ret)
		goto err;
	r = vkMapMemory(vk->dev, mem->memory, 0, VK_WHOLE_SIZE, 0, &st);
	if (r != VK_SUCCESS) {
		reason_add(mem, "staging: vkMapMemory %d", (int)r);
		ret = vk_check(vk, r, "vkMapMemory");
		goto err;
	}
	mem->staging = st;
	mem->map = map;
	/* A memfd mapping is coherent; a dma-buf's wants DMA_BUF_IOCTL_SYNC. */
	mem->cpu_sync = dmk_buf_memfd(buf) < 0;
	mem->path = DMK_VK_PATH_STAGING;
	return 0;

err:
	mem_release(vk, mem);
	return ret;
}

/* The device-local copy that chains fill from the import and bind. */
static int mem_mirror(struct dmk_vk *vk, struct dmk_vk_mem *mem)
{
	VkMemoryAllocateInfo mai = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
	};
	VkMemoryRequirements req;
	VkResult r;
	int ret, type;

	ret = mem_buffer(vk, mem->size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
			 VK_BUFFER_USAGE_TRANSFER_DST_BIT, 0, &mem->mirror);
	if (ret)
		return ret;
	vkGetBufferMemoryRequirements(vk->dev, mem->mirror, &req);
	type = mem_type(vk, req.memoryTypeBits, 0,
			VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
			VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
	if (type < 0)
		return -ENOTSUP;
	mai.allocationSize = req.size;
	mai.memoryTypeIndex = (uint32_t)type;
	r = vkAllocateMemory(vk->dev, &mai, NULL, &mem->mirror_mem);
	if (r != VK_SUCCESS) {
		mem->mirror_mem = VK_NULL_HANDLE;
		return vk_check(vk, r, "mirror vkAllocateMemory");
	}
	r = vkBindBufferMemory(vk->dev, mem->mirror, mem->mirror_mem, 0);
	if (r != VK_SUCCESS)
		return vk_check(vk, r, "mirror vkBindBufferMemory");
	mem->mirrored = true;
	return 0;
}

/* Walk the ladder; on failure nothing is left behind in @mem. */
static int mem_ladder(struct dmk_vk *vk, struct dmk_vk_mem *mem,
		      struct dmk_buf *buf)
{
	unsigned int fl = mem->flags;
	int ret;

	if (fl & DMK_VK_IMPORT_NO_DMABUF) {
		reason_add(mem, "dmabuf: not asked");
	} else if (!(dmk_buf_caps(buf) & DMK_CAP_DMABUF)) {
		reason_add(mem, "dmabuf: not a dma-buf");
	} else if (!(vk->feats & DMK_VK_FEAT_DMABUF_IMPORT)) {
		reason_add(mem, "dmabuf: no VK_EXT_external_memory_dma_buf");
	} else {
		ret = mem_dmabuf(vk, mem, buf);
		if (!ret)
			reason_add(mem, "dmabuf");
		if (ret != -ENOTSUP)
			return ret;
	}
	if (fl & DMK_VK_IMPORT_NO_HOST) {
		reason_add(mem, "host: not asked");
	} else if (!(vk->feats & DMK_VK_FEAT_HOST_IMPORT)) {
		reason_add(mem, "host: no VK_EXT_external_memory_host");
	} else {
		ret = mem_host(vk, mem, buf);
		if (!ret)
			reason_add(mem, "host");
		if (ret != -ENOTSUP)
			return ret;
	}
	ret = mem_staging(vk, mem, buf);
	if (ret)
		return ret;
	reason_add(mem, "staging");
	return 0;
}

static unsigned int cache_bucket(dev_t dev, ino_t ino, unsigned int flags)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^
		     ((uint64_t)dev * 0xc2b2ae3d27d4eb4full) ^ flags;

	return (unsigned int)(h >> 58) & (VK_CACHE_BUCKETS - 1);
}

/* Under vk->lock. */
static void cache_del(struct dmk_vk *vk, struct dmk_vk_mem *mem)
{
	struct dmk_vk_mem **pp;

	pp = &vk->cache[cache_bucket(mem->dev, mem->ino, mem->flags)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == mem) {
			*pp = mem->hnext;
			break;
		}
	}
	mem->hnext = NULL;
	mem->cached = false;
	vk->stats.entries--;
}

/* Under vk->lock: take @mem off every list, LIVE -> DYING. */
static void mem_unlink(struct dmk_vk *vk, struct dmk_vk_mem *mem)
{
	if (mem->cached)
		cache_del(vk, mem);
	atomic_store(&mem->state, MEM_DYING);
}

/* Under vk->lock: DYING -> DEAD, off vk->mems. */
static void mem_bury(struct dmk_vk *vk, struct dmk_vk_mem *mem)
{
	if (mem->prev)
		mem->prev->next = mem->next;
	else
		vk->mems = mem->next;
	if (mem->next)
		mem->next->prev = mem->prev;
	mem->prev = mem->next = NULL;
	mem->buf = NULL;
	mem->path = DMK_VK_PATH_NONE;
	atomic_store(&mem->state, MEM_DEAD);
	pthread_cond_broadcast(&vk->dead);
}

/* Drop a reference; the struct goes with the last one.  No lock held. */
static void mem_unref(struct dmk_vk_mem *mem)
{
	if (atomic_fetch_sub_explicit(&mem->refs, 1, memory_order_acq_rel) == 1)
		free(mem);
}

/*
 * The buffer's last put: no submission may bind the import from here
 * on; once the device is past its last use, free the Vulkan objects
 * (before dmk_buf_put() unmaps what a host import points at).
 */
static void mem_hook(struct dmk_buf *buf, struct dmk__buf_hook *hook)
{
	struct dmk_vk_mem *mem = hook->data;
	struct dmk_vk *vk = mem->vk;
	bool cached;
	uint64_t last;

	(void)buf;
	pthread_mutex_lock(&vk->lock);
	cached = mem->cached;
	if (cached)
		vk->stats.evictions++;
	mem_unlink(vk, mem);
	last = mem->last_use;
	pthread_mutex_unlock(&vk->lock);

	if (vk_wait_point(vk, last, UINT64_MAX))
		pr_warn("vk: freeing an import the device may still use\n");
	mem_release(vk, mem);

	pthread_mutex_lock(&vk->lock);
	mem_bury(vk, mem);
	pthread_mutex_unlock(&vk->lock);
	if (cached)
		mem_unref(mem);	/* the cache's reference */
}

DMK_API int dmk_vk_import(struct dmk_vk *vk, struct dmk_buf *buf,
			  const struct dmk_vk_import_opts *uopts,
			  struct dmk_vk_mem **out)
{
	const unsigned int known = DMK_VK_IMPORT_STAGING |
		DMK_VK_IMPORT_MIRROR | DMK_VK_IMPORT_UNCACHED;
	struct dmk_vk_import_opts opts;
	struct dmk_vk_mem *mem;
	unsigned int key;
	dev_t dev;
	ino_t ino;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_vk_import_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!vk || !buf || !out || (opts.flags & ~known) ||
	    ((opts.flags & DMK_VK_IMPORT_MIRROR) &&
	     (opts.flags & DMK_VK_IMPORT_UNCACHED))) {
		pr_warn("vk: import: bad arguments or flags 0x%x\n",
			opts.flags);
		return -EINVAL;
	}
	ret = atomic_load(&vk->failed);
	if (ret)
		return ret;
	dmk_buf_identity(buf, &dev, &ino);
	key = opts.flags & ~DMK_VK_IMPORT_UNCACHED;

	/* The frame path: a lookup under the lock, no allocation. */
	if (!(opts.flags & DMK_VK_IMPORT_UNCACHED)) {
		pthread_mutex_lock(&vk->lock);
		for (mem = vk->cache[cache_bucket(dev, ino, key)]; mem;
		     mem = mem->hnext) {
			if (mem->ino == ino && mem->dev == dev &&
			    mem->flags == key) {
				atomic_fetch_add_explicit(&mem->refs, 1,
						memory_order_relaxed);
				vk->stats.hits++;
				pthread_mutex_unlock(&vk->lock);
				*out = mem;
				return 0;
			}
		}
		pthread_mutex_unlock(&vk->lock);
	}

	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	atomic_init(&mem->refs, 1);
	atomic_init(&mem->state, MEM_LIVE);
	mem->vk = vk;
	mem->buf = buf;
	mem->dev = dev;
	mem->ino = ino;
	mem->flags = key;
	mem->size = dmk_buf_size(buf);
	mem->readonly = !dmk_buf_writable(buf);
	mem->hook.fn = mem_hook;
	mem->hook.data = mem;
	ret = mem_ladder(vk, mem, buf);
	if (ret) {
		pr_warn("vk: import of '%s' failed (%s): %s\n",
			dmk_buf_name(buf), strerror(-ret), mem->reason);
		goto err;
	}
	if (opts.flags & DMK_VK_IMPORT_MIRROR) {
		ret = mem_mirror(vk, mem);
		if (ret) {
			pr_warn("vk: mirror of '%s': %s\n", dmk_buf_name(buf),
				strerror(-ret));
			mem_release(vk, mem);
			goto err;
		}
		mem->readonly = true;
		reason_add(mem, "mirrored");
	}
	pr_debug("vk: import '%s' (%" PRIu64 " bytes): %s\n",
		 dmk_buf_name(buf), mem->size, mem->reason);

	pthread_mutex_lock(&vk->lock);
	ret = dmk__buf_add_free_hook(buf, &mem->hook);
	if (ret) {
		pthread_mutex_unlock(&vk->lock);
		mem_release(vk, mem);
		goto err;
	}
	mem->next = vk->mems;
	if (vk->mems)
		vk->mems->prev = mem;
	vk->mems = mem;
	vk->stats.misses += !(opts.flags & DMK_VK_IMPORT_UNCACHED);
	if (!(opts.flags & DMK_VK_IMPORT_UNCACHED)) {
		unsigned int b = cache_bucket(dev, ino, key);

		atomic_fetch_add(&mem->refs, 1);	/* the cache's */
		mem->cached = true;
		mem->hnext = vk->cache[b];
		vk->cache[b] = mem;
		vk->stats.entries++;
	}
	pthread_mutex_unlock(&vk->lock);
	*out = mem;
	return 0;

err:
	free(mem);
	return ret;
}

/*
 * A buffer of the context's own (vk_internal.h).  It has no dmk_buf, so
 * no free hook and no place in vk->mems or the cache: its last
 * dmk_vk_mem_put() frees it, which must come before dmk_vk_free() (the
 * modules that make them free them with their own objects).
 */
int dmk__vk_mem_new(struct dmk_vk *vk, uint64_t size, bool host_visible,
		    struct dmk_vk_mem **out)
{
	const VkMemoryPropertyFlags want = host_visible ?
		VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
		VK_MEMORY_PROPERTY_HOST_COHERENT_BIT : 0;
	VkMemoryAllocateInfo mai = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
	};
	struct dmk_vk_mem *mem;
	VkMemoryRequirements req;
	VkResult r;
	int ret, type;

	if (!vk || !out || !size)
		return -EINVAL;
	ret = atomic_load(&vk->failed);
	if (ret)
		return ret;
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	atomic_init(&mem->refs, 1);
	atomic_init(&mem->state, MEM_LIVE);
	mem->vk = vk;
	mem->own = true;
	mem->size = size;
	ret = mem_buffer(vk, size, MEM_USAGE, 0, &mem->buffer);
	if (ret)
		goto err;
	/* The allocation may be larger than the buffer (alignment). */
	vkGetBufferMemoryRequirements(vk->dev, mem->buffer, &req);
	type = mem_type(vk, req.memoryTypeBits, want,
			VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
	if (type < 0) {
		pr_warn("vk: no %s memory type for a %" PRIu64 "-byte "
			"buffer\n", host_visible ? "host-visible" :
			"device", size);
		ret = -ENOTSUP;
		goto err;
	}
	mai.allocationSize = req.size;
	mai.memoryTypeIndex = (uint32_t)type;
	r = vkAllocateMemory(vk->dev, &mai, NULL, &mem->memory);
	if (r != VK_SUCCESS) {
		mem->memory = VK_NULL_HANDLE;
		ret = vk_check(vk, r, "own vkAllocateMemory");
		goto err;
	}
	r = vkBindBufferMemory(vk->dev, mem->buffer, mem->memory, 0);
	if (r == VK_SUCCESS && host_visible)
		r = vkMapMemory(vk->dev, mem->memory, 0, VK_WHOLE_SIZE, 0,
				&mem->map);
	if (r != VK_SUCCESS) {
		ret = vk_check(vk, r, "own buffer bind/map");
		goto err;
	}
	snprintf(mem->reason, sizeof(mem->reason), "own %s buffer",
		 host_visible ? "host-visible" : "device");
	*out = mem;
	return 0;

err:
	/* Freeing mapped memory unmaps it. */
	mem_release(vk, mem);
	free(mem);
	return ret == -ENOMEM || ret == -ENOTSUP ? ret : -EIO;
}

void *dmk__vk_mem_map(struct dmk_vk_mem *mem)
{
	return mem && mem->own ? mem->map : NULL;
}

static void mem_get(struct dmk_vk_mem *mem)
{
	atomic_fetch_add_explicit(&mem->refs, 1, memory_order_relaxed);
}

DMK_API void dmk_vk_mem_put(struct dmk_vk_mem *mem)
{
	struct dmk_vk *vk;
	uint64_t last;

	if (!mem)
		return;
	if (atomic_fetch_sub_explicit(&mem->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* DEAD is final: the context may be gone, do not touch it. */
	if (atomic_load(&mem->state) == MEM_DEAD) {
		free(mem);
		return;
	}
	if (mem->own) {
		/* dmk__vk_mem_new()'s: on no list, no hook to race with. */
		vk = mem->vk;
		pthread_mutex_lock(&vk->lock);
		last = mem->last_use;
		pthread_mutex_unlock(&vk->lock);
		vk_wait_point(vk, last, UINT64_MAX);
		mem_release(vk, mem);
		free(mem);
		return;
	}
	/*
	 * The last reference of a live import: an uncached one (a cached
	 * one keeps the cache's reference while it lives).  Its hook may be
	 * running in another thread; then wait for it to finish.
	 */
	vk = mem->vk;
	pthread_mutex_lock(&vk->lock);
	if (atomic_load(&mem->state) == MEM_LIVE &&
	    dmk__buf_del_free_hook(mem->buf, &mem->hook) == 0) {
		mem_unlink(vk, mem);
		last = mem->last_use;
		pthread_mutex_unlock(&vk->lock);
		vk_wait_point(vk, last, UINT64_MAX);
		mem_release(vk, mem);
		pthread_mutex_lock(&vk->lock);
		mem_bury(vk, mem);
	}
	while (atomic_load(&mem->state) != MEM_DEAD)
		pthread_cond_wait(&vk->dead, &vk->lock);
	pthread_mutex_unlock(&vk->lock);
	free(mem);
}

DMK_API enum dmk_vk_path dmk_vk_mem_path(const struct dmk_vk_mem *mem)
{
	return atomic_load(&((struct dmk_vk_mem *)mem)->state) == MEM_LIVE ?
	       mem->path : DMK_VK_PATH_NONE;
}

DMK_API uint64_t dmk_vk_mem_size(const struct dmk_vk_mem *mem)
{
	return mem->size;
}

DMK_API bool dmk_vk_mem_mirrored(const struct dmk_vk_mem *mem)
{
	return mem->mirrored;
}

DMK_API const char *dmk_vk_mem_reason(const struct dmk_vk_mem *mem)
{
	return mem->reason;
}

DMK_API int dmk_vk_cache_stats(const struct dmk_vk *vk,
			       struct dmk_vk_cache_stats *stats)
{
	struct dmk_vk *v = (struct dmk_vk *)vk;
	struct dmk_vk_cache_stats now;

	if (!vk)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	now = v->stats;
	pthread_mutex_unlock(&v->lock);
	return dmk__struct_out(stats, &now, sizeof(now));
}

/* ---- stages ---- */

static void stage_destroy(struct dmk_vk_stage *stage)
{
	VkDevice dev;

	if (!stage)
		return;
	dev = stage->vk->dev;
	if (stage->pipeline)
		vkDestroyPipeline(dev, stage->pipeline, NULL);
	if (stage->layout)
		vkDestroyPipelineLayout(dev, stage->layout, NULL);
	if (stage->dsl)
		vkDestroyDescriptorSetLayout(dev, stage->dsl, NULL);
	if (stage->module)
		vkDestroyShaderModule(dev, stage->module, NULL);
	free(stage);
}

DMK_API void dmk_vk_stage_free(struct dmk_vk_stage *stage)
{
	if (stage && stage->builtin) {
		pr_warn("vk: a built-in stage belongs to its context\n");
		return;
	}
	stage_destroy(stage);
}

/* The highest SPIR-V version a device of @api accepts. */
static uint32_t spirv_max(uint32_t api)
{
	if (api >= VK_API_VERSION_1_3)
		return 0x00010600;
	if (api >= VK_API_VERSION_1_2)
		return 0x00010500;
	return 0x00010300;
}

static int stage_objects(struct dmk_vk *vk, struct dmk_vk_stage *st,
			 const struct dmk_vk_stage_opts *o, const char *entry)
{
	VkShaderModuleCreateInfo smci = {
		.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
		.codeSize = o->spirv_size,
		.pCode = o->spirv,
	};
	VkDescriptorSetLayoutBinding *b;
	VkDescriptorSetLayoutCreateInfo dlci = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
		.bindingCount = o->nbindings,
	};
	VkPushConstantRange pcr = {
		.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
		.size = o->push_size,
	};
	VkPipelineLayoutCreateInfo plci = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
		.setLayoutCount = 1,
		.pSetLayouts = &st->dsl,
		.pushConstantRangeCount = o->push_size ? 1 : 0,
		.pPushConstantRanges = &pcr,
	};
	VkComputePipelineCreateInfo cpci = {
		.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
		.stage = {
			.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
			.stage = VK_SHADER_STAGE_COMPUTE_BIT,
			.pName = entry,
		},
	};
	uint32_t i;
	VkResult r;

	r = vkCreateShaderModule(vk->dev, &smci, NULL, &st->module);
	if (r != VK_SUCCESS) {
		st->module = VK_NULL_HANDLE;
		return vk_check(vk, r, "vkCreateShaderModule") == -ENOMEM ?
		       -ENOMEM : -EIO;
	}
	b = calloc(o->nbindings ? o->nbindings : 1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (i = 0; i < o->nbindings; i++) {
		b[i].binding = i;
		b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		b[i].descriptorCount = 1;
		b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
	}
	dlci.pBindings = b;
	r = vkCreateDescriptorSetLayout(vk->dev, &dlci, NULL, &st->dsl);
	free(b);
	if (r != VK_SUCCESS) {
		st->dsl = VK_NULL_HANDLE;
		return vk_check(vk, r, "vkCreateDescriptorSetLayout");
	}
	r = vkCreatePipelineLayout(vk->dev, &plci, NULL, &st->layout);
	if (r != VK_SUCCESS) {
		st->layout = VK_NULL_HANDLE;
		return vk_check(vk, r, "vkCreatePipelineLayout");
	}
	cpci.stage.module = st->module;
	cpci.layout = st->layout;
	r = vkCreateComputePipelines(vk->dev, VK_NULL_HANDLE, 1, &cpci, NULL,
				     &st->pipeline);
	if (r != VK_SUCCESS) {
		st->pipeline = VK_NULL_HANDLE;
		pr_warn("vk: the driver refused the compute pipeline: %d\n",
			(int)r);
		return vk_check(vk, r, "vkCreateComputePipelines") ==
		       -ENOMEM ? -ENOMEM : -EIO;
	}
	return 0;
}

DMK_API int dmk_vk_stage_new(struct dmk_vk *vk,
			     const struct dmk_vk_stage_opts *uopts,
			     struct dmk_vk_stage **out)
{
	const VkPhysicalDeviceLimits *lim;
	struct dmk_vk_stage_opts o;
	struct dmk__spirv_info info;
	struct dmk_vk_stage *st;
	const char *entry;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_vk_stage_opts, &o, uopts);
	if (ret)
		return ret;
	if (!vk || !uopts || !out)
		return -EINVAL;
	lim = &vk->props.limits;
	entry = o.entry ? o.entry : "main";
	if (o.push_size % 4 || o.push_size > lim->maxPushConstantsSize) {
		pr_warn("vk: stage: push_size %u (a multiple of 4, at most "
			"%u)\n", o.push_size, lim->maxPushConstantsSize);
		return -EINVAL;
	}
	if (o.nbindings > lim->maxPerStageDescriptorStorageBuffers) {
		pr_warn("vk: stage: %u bindings; the device allows %u\n",
			o.nbindings, lim->maxPerStageDescriptorStorageBuffers);
		return -EINVAL;
	}
	ret = dmk__spirv_check(o.spirv, o.spirv_size, entry, &info);
	if (ret)
		return ret;
	if (info.version > spirv_max(vk->props.apiVersion)) {
		pr_warn("vk: stage: SPIR-V %u.%u is too new for %s\n",
			(info.version >> 16) & 0xff, (info.version >> 8) & 0xff,
			vk->props.deviceName);
		return -EINVAL;
	}
	if (info.nbindings != o.nbindings) {
		pr_warn("vk: stage: the module has %u storage buffers, the "
			"caller says %u\n", info.nbindings, o.nbindings);
		return -EINVAL;
	}
	if (!info.push_known)
		pr_info("vk: stage: push-constant size not checked\n");
	else if (info.push_size > o.push_size) {
		pr_warn("vk: stage: the module pushes %u bytes, the caller "
			"%u\n", info.push_size, o.push_size);
		return -EINVAL;
	}
	if (info.local[0] > lim->maxComputeWorkGroupSize[0] ||
	    info.local[1] > lim->maxComputeWorkGroupSize[1] ||
	    info.local[2] > lim->maxComputeWorkGroupSize[2] ||
	    (uint64_t)info.local[0] * info.local[1] * info.local[2] >
	    lim->maxComputeWorkGroupInvocations) {
		pr_warn("vk: stage: workgroup %ux%ux%u is too big for %s\n",
			info.local[0], info.local[1], info.local[2],
			vk->props.deviceName);
		return -EINVAL;
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->vk = vk;
	st->nbindings = o.nbindings;
	st->push_size = o.push_size;
	memcpy(st->local, info.local, sizeof(st->local));
	ret = stage_objects(vk, st, &o, entry);
	if (ret) {
		stage_destroy(st);
		return ret;
	}
	*out = st;
	return 0;
}

DMK_API void dmk_vk_stage_local_size(const struct dmk_vk_stage *stage,
				     uint32_t size[3])
{
	memcpy(size, stage->local, sizeof(stage->local));
}

int dmk__vk_builtin(struct dmk_vk *vk, enum dmk__vk_builtin id,
		    const uint32_t *spirv, size_t spirv_size,
		    uint32_t nbindings, uint32_t push_size,
		    struct dmk_vk_stage **out)
{
	DMK_OPTS(dmk_vk_stage_opts, o, .spirv = spirv,
		 .spirv_size = spirv_size, .nbindings = nbindings,
		 .push_size = push_size);
	struct dmk_vk_stage *st;
	int ret;

	if ((unsigned int)id >= DMK__VK_BUILTIN_MAX)
		return -EINVAL;
	if (!vk->builtin[id]) {
		ret = dmk_vk_stage_new(vk, &o, &st);
		if (ret)
			return ret;
		st->builtin = true;
		vk->builtin[id] = st;
	}
	*out = vk->builtin[id];
	return 0;
}

/* ---- chains ---- */

DMK_API int dmk_vk_chain_new(struct dmk_vk *vk, struct dmk_vk_chain **out)
{
	struct dmk_vk_chain *c;

	if (!vk || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->vk = vk;
	*out = c;
	return 0;
}

struct dmk_vk *dmk__vk_chain_ctx(const struct dmk_vk_chain *chain)
{
	return chain->vk;
}

/* Grow @*arr (of @elem bytes each) to hold @need; 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 4, bytes;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (__builtin_mul_overflow(n, elem, &bytes))
		return -ENOMEM;
	p = realloc(*arr, bytes);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/* Check one binding against @st and resolve its size and access. */
static int bind_check(struct dmk_vk *vk, const struct dmk_vk_binding *b,
		      uint32_t i, struct chain_bind *out)
{
	uint64_t align = vk->props.limits.minStorageBufferOffsetAlignment;
	const struct dmk_vk_mem *m = b->mem;
	unsigned int access = b->access;
	uint64_t size, end;

	if (align < VK_MIN_OFFSET_ALIGN)
		align = VK_MIN_OFFSET_ALIGN;
	if (!m || m->vk != vk) {
		pr_warn("vk: dispatch: binding %u has no import of this "
			"context\n", i);
		return -EINVAL;
	}
	if (atomic_load(&((struct dmk_vk_mem *)m)->state) != MEM_LIVE) {
		pr_warn("vk: dispatch: binding %u: its buffer was freed\n", i);
		return -ESTALE;
	}
	if (access & ~(unsigned int)(DMK_VK_READ | DMK_VK_WRITE)) {
		pr_warn("vk: dispatch: binding %u: access 0x%x\n", i, access);
		return -EINVAL;
	}
	if (!access)
		access = m->readonly ? DMK_VK_READ : DMK_VK_READ | DMK_VK_WRITE;
	if ((access & DMK_VK_WRITE) && m->readonly) {
		pr_warn("vk: dispatch: binding %u writes a read-only import "
			"(%s)\n", i, m->mirrored ? "mirrored" :
			"read-only mapping");
		return -EINVAL;
	}
	if (b->offset % align) {
		pr_warn("vk: dispatch: binding %u: offset %" PRIu64 " is not "
			"a multiple of %" PRIu64 "\n", i, b->offset, align);
		return -EINVAL;
	}
	if (b->offset >= m->size) {
		pr_warn("vk: dispatch: binding %u: offset %" PRIu64 " past "
			"the end (%" PRIu64 ")\n", i, b->offset, m->size);
		return -ERANGE;
	}
	size = b->size ? b->size : m->size - b->offset;
	if (__builtin_add_overflow(b->offset, size, &end) || end > m->size) {
		pr_warn("vk: dispatch: binding %u: %" PRIu64 " bytes at %"
			PRIu64 " past the end (%" PRIu64 ")\n", i, size,
			b->offset, m->size);
		return -ERANGE;
	}
	if (size > vk->props.limits.maxStorageBufferRange) {
		pr_warn("vk: dispatch: binding %u: %" PRIu64 " bytes, over "
			"maxStorageBufferRange %u\n", i, size,
			vk->props.limits.maxStorageBufferRange);
		return -ERANGE;
	}
	out->mem = (struct dmk_vk_mem *)m;
	out->off = b->offset;
	out->size = size;
	out->access = access;
	return 0;
}

DMK_API int dmk_vk_chain_dispatch(struct dmk_vk_chain *chain,
				  struct dmk_vk_stage *stage,
				  const struct dmk_vk_binding *binds,
				  uint32_t nbinds, const void *push,
				  uint32_t push_size, const uint32_t groups[3])
{
	const VkPhysicalDeviceLimits *lim;
	struct chain_bind *cb;
	struct chain_disp *d;
	size_t cap_d, cap_b, need;
	uint32_t i;
	int ret;

	if (!chain || !stage || !groups || (nbinds && !binds) ||
	    (push_size && !push))
		return -EINVAL;
	lim = &chain->vk->props.limits;
	if (chain->ended) {
		pr_warn("vk: dispatch: the chain has ended\n");
		return -EINVAL;
	}
	if (stage->vk != chain->vk || nbinds != stage->nbindings ||
	    push_size > stage->push_size) {
		pr_warn("vk: dispatch: %u bindings and %u push bytes; the "
			"stage takes %u and at most %u\n", nbinds, push_size,
			stage->nbindings, stage->push_size);
		return -EINVAL;
	}
	for (i = 0; i < 3; i++) {
		if (!groups[i] || groups[i] > lim->maxComputeWorkGroupCount[i]) {
			pr_warn("vk: dispatch: %u groups in dimension %u "
				"(1..%u)\n", groups[i], i,
				lim->maxComputeWorkGroupCount[i]);
			return -EINVAL;
		}
	}
	if (chain->nbinds > UINT32_MAX - nbinds || chain->ndisp == UINT32_MAX)
		return -ENOMEM;

	cap_d = chain->cdisp;
	cap_b = chain->cbinds;
	ret = grow((void **)&chain->disp, &cap_d, chain->ndisp + 1,
		   sizeof(*chain->disp));
	chain->cdisp = (uint32_t)cap_d;
	if (!ret)
		ret = grow((void **)&chain->binds, &cap_b,
			   (size_t)chain->nbinds + nbinds,
			   sizeof(*chain->binds));
	chain->cbinds = (uint32_t)cap_b;
	need = chain->npush + stage->push_size;
	if (!ret)
		ret = grow((void **)&chain->push, &chain->cpush, need, 1);
	if (ret)
		return ret;

	cb = chain->binds + chain->nbinds;
	for (i = 0; i < nbinds; i++) {
		ret = bind_check(chain->vk, &binds[i], i, &cb[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < nbinds; i++)
		mem_get(cb[i].mem);	/* dropped by dmk_vk_chain_free() */
	d = &chain->disp[chain->ndisp++];
	d->stage = stage;
	d->first = chain->nbinds;
	d->nbinds = nbinds;
	d->push_off = chain->npush;
	memcpy(d->groups, groups, sizeof(d->groups));
	/* Pushed whole: bytes the caller did not give are zero. */
	memset(chain->push + chain->npush, 0, stage->push_size);
	if (push_size)
		memcpy(chain->push + chain->npush, push, push_size);
	chain->npush = need;
	chain->nbinds += nbinds;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct chain_range *x = a, *y = b;

	if (x->mem != y->mem)
		return (uintptr_t)x->mem < (uintptr_t)y->mem ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

/* Sort @n ranges by import and offset and merge overlaps; new count. */
static uint32_t ranges_merge(struct chain_range *r, uint32_t n)
{
	uint32_t i, k = 0;

	if (!n)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++) {
		struct chain_range *last = &r[k];

		if (r[i].mem == last->mem &&
		    r[i].off <= last->off + last->size) {
			uint64_t end = r[i].off + r[i].size;

			if (end > last->off + last->size)
				last->size = end - last->off;
		} else {
			r[++k] = r[i];
		}
	}
	return k + 1;
}

/* The unique imports, and the staging and mirror copies, of a chain. */
static int chain_plan(struct dmk_vk_chain *c)
{
	struct chain_range *in, *out, *mir;
	uint32_t i, j, nin = 0, nout = 0, nmir = 0;

	c->mems = calloc(c->nbinds ? c->nbinds : 1, sizeof(*c->mems));
	/* Three lists of at most nbinds each, packed after merging. */
	c->ranges = calloc(c->nbinds ? 3 * (size_t)c->nbinds : 1,
			   sizeof(*c->ranges));
	if (!c->mems || !c->ranges)
		return -ENOMEM;
	in = c->ranges;
	out = in + c->nbinds;
	mir = out + c->nbinds;
	for (i = 0; i < c->nbinds; i++) {
		const struct chain_bind *b = &c->binds[i];
		struct chain_range r = { b->mem, b->off, b->size };

		for (j = 0; j < c->nmems && c->mems[j] != b->mem; j++)
			;
		if (j == c->nmems)
			c->mems[c->nmems++] = b->mem;
		if (b->mem->path == DMK_VK_PATH_STAGING) {
			if (b->access & DMK_VK_READ)
				in[nin++] = r;
			if (b->access & DMK_VK_WRITE)
				out[nout++] = r;
		}
		if (b->mem->mirrored)
			mir[nmir++] = r;
	}
	c->nin = ranges_merge(in, nin);
	c->nout = ranges_merge(out, nout);
	c->nmirror = ranges_merge(mir, nmir);
	memmove(c->ranges + c->nin, out, c->nout * sizeof(*out));
	memmove(c->ranges + c->nin + c->nout, mir, c->nmirror * sizeof(*mir));
	return 0;
}

static int chain_descriptors(struct dmk_vk_chain *c, VkDescriptorSet *sets)
{
	struct dmk_vk *vk = c->vk;
	VkDescriptorPoolSize ps = {
		.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
		.descriptorCount = c->nbinds ? c->nbinds : 1,
	};
	VkDescriptorPoolCreateInfo dpci = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
		.maxSets = c->ndisp,
		.poolSizeCount = 1,
		.pPoolSizes = &ps,
	};
	VkDescriptorSetAllocateInfo dsai = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
		.descriptorSetCount = 1,
	};
	VkDescriptorBufferInfo *bi;
	VkWriteDescriptorSet *wr;
	uint32_t i, j, nw = 0;
	VkResult r;

	r = vkCreateDescriptorPool(vk->dev, &dpci, NULL, &c->dpool);
	if (r != VK_SUCCESS) {
		c->dpool = VK_NULL_HANDLE;
		return vk_check(vk, r, "vkCreateDescriptorPool");
	}
	dsai.descriptorPool = c->dpool;
	for (i = 0; i < c->ndisp; i++) {
		dsai.pSetLayouts = &c->disp[i].stage->dsl;
		r = vkAllocateDescriptorSets(vk->dev, &dsai, &sets[i]);
		if (r != VK_SUCCESS)
			return vk_check(vk, r, "vkAllocateDescriptorSets");
	}
	bi = calloc(c->nbinds ? c->nbinds : 1, sizeof(*bi));
	wr = calloc(c->ndisp, sizeof(*wr));
	if (!bi || !wr) {
		free(bi);
		free(wr);
		return -ENOMEM;
	}
	for (i = 0; i < c->ndisp; i++) {
		const struct chain_disp *d = &c->disp[i];

		for (j = 0; j < d->nbinds; j++) {
			const struct chain_bind *b = &c->binds[d->first + j];

			bi[d->first + j].buffer = b->mem->mirrored ?
				b->mem->mirror : b->mem->buffer;
			bi[d->first + j].offset = b->off;
			bi[d->first + j].range = b->size;
		}
		if (!d->nbinds)
			continue;
		wr[nw].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
		wr[nw].dstSet = sets[i];
		wr[nw].descriptorCount = d->nbinds;
		wr[nw].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		wr[nw].pBufferInfo = &bi[d->first];
		nw++;
	}
	vkUpdateDescriptorSets(vk->dev, nw, wr, 0, NULL);
	free(bi);
	free(wr);
	return 0;
}

static void cmd_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src,
			VkAccessFlags src_access, VkPipelineStageFlags dst,
			VkAccessFlags dst_access)
{
	VkMemoryBarrier mb = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		.srcAccessMask = src_access,
		.dstAccessMask = dst_access,
	};

	vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

static int chain_record(struct dmk_vk_chain *c, const VkDescriptorSet *sets)
{
	const VkPipelineStageFlags work = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
					  VK_PIPELINE_STAGE_TRANSFER_BIT;
	VkCommandBufferBeginInfo cbi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
	};
	const struct chain_range *mir = c->ranges + c->nin + c->nout;
	VkCommandBuffer cmd = c->cmd;
	uint32_t i;
	VkResult r;

	r = vkBeginCommandBuffer(cmd, &cbi);
	if (r != VK_SUCCESS)
		return vk_check(c->vk, r, "vkBeginCommandBuffer");
	/*
	 * Whatever ran before on the queue (another chain on the same
	 * buffers) is finished and visible: submission order alone does
	 * not order memory.
	 */
	cmd_barrier(cmd, work, VK_ACCESS_SHADER_WRITE_BIT |
		    VK_ACCESS_TRANSFER_WRITE_BIT, work,
		    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
		    VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
	for (i = 0; i < c->nmirror; i++) {
		VkBufferCopy bc = {
			.srcOffset = mir[i].off,
			.dstOffset = mir[i].off,
			.size = mir[i].size,
		};

		vkCmdCopyBuffer(cmd, mir[i].mem->buffer, mir[i].mem->mirror, 1,
				&bc);
	}
	if (c->nmirror)
		cmd_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
			    VK_ACCESS_TRANSFER_WRITE_BIT,
			    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
			    VK_ACCESS_SHADER_READ_BIT);
	for (i = 0; i < c->ndisp; i++) {
		const struct chain_disp *d = &c->disp[i];
		const struct dmk_vk_stage *st = d->stage;

		if (i)
			cmd_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
				    VK_ACCESS_SHADER_WRITE_BIT,
				    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
				    VK_ACCESS_SHADER_READ_BIT |
				    VK_ACCESS_SHADER_WRITE_BIT);
		vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
				  st->pipeline);
		vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
					st->layout, 0, 1, &sets[i], 0, NULL);
		if (st->push_size)
			vkCmdPushConstants(cmd, st->layout,
					   VK_SHADER_STAGE_COMPUTE_BIT, 0,
					   st->push_size,
					   c->push + d->push_off);
		vkCmdDispatch(cmd, d->groups[0], d->groups[1], d->groups[2]);
	}
	/* Results visible to the CPU once the timeline signals. */
	cmd_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
		    VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
		    VK_ACCESS_HOST_READ_BIT);
	r = vkEndCommandBuffer(cmd);
	return r == VK_SUCCESS ? 0 : vk_check(c->vk, r, "vkEndCommandBuffer");
}

static int chain_sync_sem(struct dmk_vk_chain *c)
{
	VkExportSemaphoreCreateInfo esci = {
		.sType = VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO,
		.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
	};
	VkSemaphoreCreateInfo sci = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
		.pNext = &esci,
	};
	VkResult r;

	r = vkCreateSemaphore(c->vk->dev, &sci, NULL, &c->export_sem);
	if (r != VK_SUCCESS) {
		c->export_sem = VK_NULL_HANDLE;
		return vk_check(c->vk, r, "vkCreateSemaphore(SYNC_FD)");
	}
	return 0;
}

/* Undo what dmk_vk_chain_end() built, so that it can be tried again. */
static void chain_unend(struct dmk_vk_chain *c)
{
	VkDevice dev = c->vk->dev;

	if (c->export_sem)
		vkDestroySemaphore(dev, c->export_sem, NULL);
	if (c->dpool)
		vkDestroyDescriptorPool(dev, c->dpool, NULL);
	if (c->pool)
		vkDestroyCommandPool(dev, c->pool, NULL);
	c->export_sem = VK_NULL_HANDLE;
	c->dpool = VK_NULL_HANDLE;
	c->pool = VK_NULL_HANDLE;
	c->cmd = VK_NULL_HANDLE;
	free(c->mems);
	free(c->ranges);
	c->mems = NULL;
	c->ranges = NULL;
	c->nmems = c->nin = c->nout = c->nmirror = 0;
}

DMK_API int dmk_vk_chain_end(struct dmk_vk_chain *chain)
{
	struct dmk_vk *vk;
	VkCommandPoolCreateInfo pci = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
	};
	VkCommandBufferAllocateInfo cai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	VkDescriptorSet *sets;
	VkResult r;
	int ret;

	if (!chain)
		return -EINVAL;
	if (chain->ended || !chain->ndisp) {
		pr_warn("vk: chain_end: %s\n", chain->ended ?
			"already ended" : "no dispatch");
		return -EINVAL;
	}
	vk = chain->vk;
	ret = atomic_load(&vk->failed);
	if (ret)
		return ret;
	ret = chain_plan(chain);
	if (ret)
		goto err;
	pci.queueFamilyIndex = vk->qfam;
	r = vkCreateCommandPool(vk->dev, &pci, NULL, &chain->pool);
	if (r != VK_SUCCESS) {
		chain->pool = VK_NULL_HANDLE;
		ret = vk_check(vk, r, "vkCreateCommandPool");
		goto err;
	}
	cai.commandPool = chain->pool;
	r = vkAllocateCommandBuffers(vk->dev, &cai, &chain->cmd);
	if (r != VK_SUCCESS) {
		ret = vk_check(vk, r, "vkAllocateCommandBuffers");
		goto err;
	}
	sets = calloc(chain->ndisp, sizeof(*sets));
	if (!sets) {
		ret = -ENOMEM;
		goto err;
	}
	ret = chain_descriptors(chain, sets);
	if (!ret)
		ret = chain_record(chain, sets);
	free(sets);
	if (ret)
		goto err;
	if (vk->feats & DMK_VK_FEAT_SYNC_FD) {
		ret = chain_sync_sem(chain);
		if (ret)
			goto err;
	}
	chain->ended = true;
	return 0;

err:
	chain_unend(chain);
	return ret == -ENOMEM ? ret : -EIO;
}

/* Staging in: the bound ranges, buffer -> staging.  Under vk->lock. */
static void chain_copy_in(struct dmk_vk_chain *c)
{
	uint32_t i;

	for (i = 0; i < c->nin; i++) {
		const struct chain_range *r = &c->ranges[i];
		struct dmk_vk_mem *m = r->mem;
		VkMappedMemoryRange mr = {
			.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
			.memory = m->memory,
			.size = VK_WHOLE_SIZE,
		};

		if (m->cpu_sync)
			dmk_buf_begin_cpu(m->buf, DMK_SYNC_READ);
		memcpy((char *)m->staging + r->off, (char *)m->map + r->off,
		       r->size);
		if (m->cpu_sync)
			dmk_buf_end_cpu(m->buf, DMK_SYNC_READ);
		if (!m->staging_coherent)
			vkFlushMappedMemoryRanges(c->vk->dev, 1, &mr);
	}
}

/* Staging out: staging -> buffer.  Under vk->lock; skips dead imports. */
static void chain_copy_out(struct dmk_vk_chain *c)
{
	const struct chain_range *out = c->ranges + c->nin;
	uint32_t i;

	for (i = 0; i < c->nout; i++) {
		struct dmk_vk_mem *m = out[i].mem;
		VkMappedMemoryRange mr = {
			.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
			.memory = m->memory,
			.size = VK_WHOLE_SIZE,
		};

		if (atomic_load(&m->state) != MEM_LIVE)
			continue;
		if (!m->staging_coherent)
			vkInvalidateMappedMemoryRanges(c->vk->dev, 1, &mr);
		if (m->cpu_sync)
			dmk_buf_begin_cpu(m->buf, DMK_SYNC_WRITE);
		memcpy((char *)m->map + out[i].off,
		       (char *)m->staging + out[i].off, out[i].size);
		if (m->cpu_sync)
			dmk_buf_end_cpu(m->buf, DMK_SYNC_WRITE);
	}
}

DMK_API int dmk_vk_chain_wait(struct dmk_vk_chain *chain, uint64_t timeout_ns)
{
	struct dmk_vk *vk;
	int ret;

	if (!chain)
		return -EINVAL;
	vk = chain->vk;
	ret = vk_wait_point(vk, chain->last_point, timeout_ns);
	if (ret)
		return ret;
	if (chain->copy_out_pending) {
		pthread_mutex_lock(&vk->lock);
		chain_copy_out(chain);
		pthread_mutex_unlock(&vk->lock);
		chain->copy_out_pending = false;
	}
	return 0;
}

DMK_API int dmk_vk_chain_submit(struct dmk_vk_chain *chain, uint64_t *point,
				int *sync_fd)
{
	VkSemaphore sig[2];
	uint64_t vals[2] = { 0, 0 };
	VkTimelineSemaphoreSubmitInfo tsi = {
		.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
		.pSignalSemaphoreValues = vals,
	};
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.pNext = &tsi,
		.commandBufferCount = 1,
		.pSignalSemaphores = sig,
	};
	VkSemaphoreGetFdInfoKHR gfi = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR,
		.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
	};
	struct dmk_vk *vk;
	uint32_t i;
	VkResult r;
	int ret, fd;

	if (!chain)
		return -EINVAL;
	vk = chain->vk;
	if (!chain->ended) {
		pr_warn("vk: submit: the chain has not ended\n");
		return -EINVAL;
	}
	if (sync_fd && !(vk->feats & DMK_VK_FEAT_SYNC_FD)) {
		pr_info("vk: submit: %s cannot export sync_file fds\n",
			vk->props.deviceName);
		return -ENOTSUP;
	}
	ret = atomic_load(&vk->failed);
	if (ret)
		return ret;
	/* One run at a time: the command buffer is not simultaneous-use. */
	ret = dmk_vk_chain_wait(chain, UINT64_MAX);
	if (ret)
		return ret;

	si.pCommandBuffers = &chain->cmd;
	sig[0] = vk->timeline;
	si.signalSemaphoreCount = 1;
	if (sync_fd) {
		sig[1] = chain->export_sem;
		si.signalSemaphoreCount = 2;
	}
	tsi.signalSemaphoreValueCount = si.signalSemaphoreCount;

	pthread_mutex_lock(&vk->lock);
	for (i = 0; i < chain->nmems; i++) {
		if (atomic_load(&chain->mems[i]->state) != MEM_LIVE) {
			pthread_mutex_unlock(&vk->lock);
			pr_warn("vk: submit: a bound buffer was freed\n");
			return -ESTALE;
		}
	}
	chain_copy_in(chain);
	vals[0] = vk->point + 1;
	r = vkQueueSubmit(vk->queue, 1, &si, VK_NULL_HANDLE);
	if (r != VK_SUCCESS) {
		pthread_mutex_unlock(&vk->lock);
		ret = vk_check(vk, r, "vkQueueSubmit");
		return ret == -ENOMEM ? ret : -EIO;
	}
	vk->point = vals[0];
	for (i = 0; i < chain->nmems; i++)
		chain->mems[i]->last_use = vals[0];
	pthread_mutex_unlock(&vk->lock);
	chain->last_point = vals[0];
	chain->copy_out_pending = chain->nout > 0;

	if (sync_fd) {
		gfi.semaphore = chain->export_sem;
		r = vk->sem_fd(vk->dev, &gfi, &fd);
		if (r != VK_SUCCESS) {
			/* Submitted all the same: dmk_vk_chain_wait() works. */
			pr_warn("vk: submit: vkGetSemaphoreFdKHR: %d\n",
				(int)r);
			return vk_check(vk, r, "vkGetSemaphoreFdKHR") ==
			       -ENOMEM ? -ENOMEM : -EIO;
		}
		*sync_fd = fd;
	}
	if (point)
		*point = vals[0];
	return 0;
}

DMK_API int dmk_vk_chain_run(struct dmk_vk_chain *chain)
{
	int ret = dmk_vk_chain_submit(chain, NULL, NULL);

	return ret ? ret : dmk_vk_chain_wait(chain, UINT64_MAX);
}

DMK_API void dmk_vk_chain_free(struct dmk_vk_chain *chain)
{
	uint32_t i;

	if (!chain)
		return;
	/* The device must be done with the command buffer and sets. */
	if (chain->last_point)
		vk_wait_point(chain->vk, chain->last_point, UINT64_MAX);
	chain_unend(chain);
	for (i = 0; i < chain->nbinds; i++)
		dmk_vk_mem_put(chain->binds[i].mem);
	free(chain->disp);
	free(chain->binds);
	free(chain->push);
	free(chain);
}

/* ---- teardown ---- */

DMK_API void dmk_vk_free(struct dmk_vk *vk)
{
	struct dmk_vk_mem *mem, *next;
	uint32_t i;

	if (!vk)
		return;
	pthread_mutex_lock(&vk->lock);
	vkDeviceWaitIdle(vk->dev);	/* the queue is ours under the lock */
	/*
	 * Take every live import off its buffer.  A hook that a last put
	 * already took (-ENOENT) will run: wait for it to bury its import.
	 */
	for (mem = vk->mems; mem; mem = next) {
		bool cached = mem->cached;

		next = mem->next;
		if (atomic_load(&mem->state) != MEM_LIVE ||
		    dmk__buf_del_free_hook(mem->buf, &mem->hook))
			continue;
		mem_unlink(vk, mem);
		mem_release(vk, mem);
		mem_bury(vk, mem);
		/* The cache's reference; callers' ones hold a DEAD shell. */
		if (cached && atomic_fetch_sub(&mem->refs, 1) == 1)
			free(mem);
	}
	while (vk->mems)
		pthread_cond_wait(&vk->dead, &vk->lock);
	pthread_mutex_unlock(&vk->lock);
	for (i = 0; i < DMK__VK_BUILTIN_MAX; i++)
		stage_destroy(vk->builtin[i]);
	vk_destroy(vk);
}
