# dmakit: plain Makefile.  make | make check | make SANITIZE=1 check |
# make install PREFIX=/usr/local DESTDIR= | make vmcheck | make V=1 ...
VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CC ?= cc
CXX ?= c++
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
else
Q := @
endif

ifeq ($(SANITIZE),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

# Dependencies, found with pkg-config.
LIB_PKGS := libdrm liburing vulkan libxml-2.0
TOOL_PKGS := libdrm liburing vulkan libpng libjpeg
TEST_PKGS := criterion liburing vulkan
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(1))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(1))

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC $(WARN) $(SANFLAGS) \
	       -Ilib/include -MMD -MP
LDFLAGS ?=

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB_HDRS := $(wildcard lib/include/dmakit/*.h)
SONAME := libdmakit.so.$(VERSION_MAJOR)
SHLIB := $(BUILD)/libdmakit.so.$(VERSION)
STLIB := $(BUILD)/libdmakit.a

TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/%.o)
DMAKIT := $(BUILD)/dmakit
CV_BASELINE := $(if $(shell $(PKG_CONFIG) --exists opencv4 && echo y),\
	$(BUILD)/dmakit-cv-baseline)

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

# Compute shaders, compiled to SPIR-V words as a C initializer list
# (#include "<name>.spv.h" inside an array's braces).
GLSLC ?= glslc
GLSLC_FLAGS := --target-env=vulkan1.1 -O -mfmt=c
LIB_SHADERS := $(wildcard lib/shaders/*.comp)
LIB_SPV := $(LIB_SHADERS:lib/shaders/%.comp=$(BUILD)/shaders/%.spv.h)
TEST_SHADERS := $(wildcard tests/shaders/*.comp)
TEST_SPV := $(TEST_SHADERS:tests/shaders/%.comp=$(BUILD)/tests/shaders/%.spv.h)
TOOL_SHADERS := $(wildcard tools/shaders/*.comp)
TOOL_SPV := $(TOOL_SHADERS:tools/shaders/%.comp=$(BUILD)/tools/shaders/%.spv.h)

TEST_HELPER_SRCS := tests/helpers.c
TEST_SRCS := $(filter-out $(TEST_HELPER_SRCS),$(wildcard tests/test_*.c))
TESTS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all lib tools examples tests check install uninstall clean \
	symbols-check headers-check vmcheck data
.DEFAULT_GOAL := all
.SECONDARY:

# The pipeline's default input (make data), when its photo is installed
# (python-matplotlib-data, which tools/setup installs).
DEFAULT_PHOTO ?= /usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg
all: lib tools examples tests $(if $(wildcard $(DEFAULT_PHOTO)),data)

lib: $(SHLIB) $(STLIB) $(BUILD)/dmakit.pc
tools: $(DMAKIT) $(CV_BASELINE)
examples: $(EXAMPLES)
tests: $(TESTS)

# glslc -MD writes <out>.d, read back with the compilers' depfiles below.
$(BUILD)/shaders/%.spv.h: lib/shaders/%.comp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GLSLC   $<")
	$(Q)$(GLSLC) $(GLSLC_FLAGS) -MD -o $@ $<

$(BUILD)/tests/shaders/%.spv.h: tests/shaders/%.comp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GLSLC   $<")
	$(Q)$(GLSLC) $(GLSLC_FLAGS) -MD -o $@ $<

$(BUILD)/tools/shaders/%.spv.h: tools/shaders/%.comp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GLSLC   $<")
	$(Q)$(GLSLC) $(GLSLC_FLAGS) -MD -o $@ $<

# Every shader header exists before any object compiles (order-only: the
# -MMD depfiles then say which object includes which).
$(BUILD)/lib/%.o: lib/%.c | $(LIB_SPV)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -fvisibility=hidden -Ilib -I$(BUILD)/shaders \
		$(call PKG_CFLAGS,$(LIB_PKGS)) $(CFLAGS) -c -o $@ $<

$(SHLIB): $(LIB_OBJS) lib/libdmakit.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(SANFLAGS) -Wl,-soname,$(SONAME) \
		-Wl,--version-script=lib/libdmakit.map -Wl,--no-undefined \
		$(LDFLAGS) -o $@ $(LIB_OBJS) $(call PKG_LIBS,$(LIB_PKGS))
	$(Q)ln -sf $(notdir $@) $(BUILD)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(BUILD)/libdmakit.so

$(STLIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The .pc file names the prefix: written again by install, whose PREFIX
# may differ from the build's.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	-e 's|@LIBS_PRIVATE@|$(call PKG_LIBS,$(LIB_PKGS))|' lib/dmakit.pc.in

$(BUILD)/dmakit.pc: lib/dmakit.pc.in Makefile
	@mkdir -p $(@D)
	$(Q)$(PC_SED) > $@

$(BUILD)/tools/%.o: tools/%.c | $(TOOL_SPV)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -I$(BUILD)/tools/shaders \
		$(call PKG_CFLAGS,$(TOOL_PKGS)) $(CFLAGS) -c -o $@ $<

$(DMAKIT): $(TOOL_OBJS) $(STLIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(STLIB) \
		$(call PKG_LIBS,$(TOOL_PKGS) $(LIB_PKGS)) -lm

# The OpenCV side of `dmakit bench detect`, built where pkg-config finds
# opencv4 (libopencv-dev).  Never sanitized: it is a timing baseline.
CXXFLAGS ?= -O2 -g
$(BUILD)/dmakit-cv-baseline: tools/cv_baseline.cpp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) -std=c++17 -Wall -Wextra -Werror -MMD -MP \
		$(call PKG_CFLAGS,opencv4) $(CXXFLAGS) $(LDFLAGS) -o $@ $< \
		-Wl,--as-needed $(call PKG_LIBS,opencv4)

# The default input of the detection pipeline and its benchmark: a
# pan-and-zoom clip over a portrait from python-matplotlib-data.
data: $(BUILD)/data/default.y4m
$(BUILD)/data/default.y4m: $(DMAKIT)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CLIP    $@")
	$(Q)$(DMAKIT) clip $(DEFAULT_PHOTO) -o $@ >/dev/null

$(BUILD)/examples/%: examples/%.c $(STLIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STLIB) \
		$(call PKG_LIBS,$(LIB_PKGS))

# Tests see the library's internals (lib/) and link it statically.
$(BUILD)/tests/%.o: tests/%.c | $(TEST_SPV) $(LIB_SPV)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -Ilib -Itests -I$(BUILD)/tests/shaders \
		$(call PKG_CFLAGS,$(TEST_PKGS) $(LIB_PKGS)) $(CFLAGS) \
		-UNDEBUG -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HELPER_OBJS) $(STLIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ \
		$(call PKG_LIBS,$(TEST_PKGS) $(LIB_PKGS)) -lpthread

# test_image tests the tools' image loader: it links tools/image.o too.
$(BUILD)/tests/test_image.o: TEST_PKGS += libpng libjpeg
$(BUILD)/tests/test_image: TEST_PKGS += libpng libjpeg
$(BUILD)/tests/test_image: $(BUILD)/tests/test_image.o $(BUILD)/tools/image.o \
		$(TEST_HELPER_OBJS) $(STLIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ \
		$(call PKG_LIBS,$(TEST_PKGS) $(LIB_PKGS)) -lpthread

# Every test binary runs; the first failure fails the target, after all ran.
ifeq ($(SANITIZE),1)
# No fast_unwind_on_malloc=0: it deadlocks in lavapipe's shader compiler
# (tests/helpers.c, pin_lavapipe()).
CHECK_ENV := LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
endif
check: all symbols-check headers-check
	$(Q)$(CHECK_ENV) BUILD=$(BUILD) tests/run.sh $(TESTS)

# The exported symbols must be exactly the version map's.
symbols-check: $(SHLIB)
	$(Q)nm -D --defined-only $(SHLIB) | awk '$$2 ~ /^[TDBRVW]$$/ {print $$3}' \
		| sed 's/@.*//' | grep -v '^DMAKIT_' | sort > $(BUILD)/symbols.exported
	$(Q)grep -E '^[[:space:]]+dmk_[a-z0-9_]+;' lib/libdmakit.map \
		| tr -d ' \t;' | sort > $(BUILD)/symbols.map
	$(Q)diff -u $(BUILD)/symbols.map $(BUILD)/symbols.exported \
		|| { echo "symbols-check: exports differ from lib/libdmakit.map" >&2; exit 1; }
	$(Q)echo "  CHECK   exported symbols match lib/libdmakit.map"

# Every public header compiles alone, as C and as C++.
headers-check: $(LIB_HDRS)
	$(Q)for h in $(LIB_HDRS:lib/include/%=%); do \
		printf '#include <%s>\n' $$h | $(CC) -std=gnu11 -Wall -Wextra \
			-Werror -Ilib/include -fsyntax-only -x c - || exit 1; \
		printf '#include <%s>\n' $$h | $(CXX) -Wall -Wextra -Werror \
			-Ilib/include -fsyntax-only -x c++ - || exit 1; \
	done
	$(Q)echo "  CHECK   public headers compile alone in C and C++"

install: lib tools
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/dmakit \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 0644 $(LIB_HDRS) $(DESTDIR)$(INCLUDEDIR)/dmakit/
	install -m 0755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libdmakit.so
	install -m 0644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	$(PC_SED) > $(DESTDIR)$(PKGCONFIGDIR)/dmakit.pc
	install -m 0755 $(DMAKIT) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libdmakit.* $(DESTDIR)$(PKGCONFIGDIR)/dmakit.pc \
		$(DESTDIR)$(BINDIR)/dmakit
	rm -rf $(DESTDIR)$(INCLUDEDIR)/dmakit

# The same suites on a real kernel (dma-heaps, udmabuf, vgem) under qemu.
vmcheck: all
	$(Q)tests/vm/vmcheck.sh $(BUILD)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
