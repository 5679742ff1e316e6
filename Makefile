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
LIB_PKGS := libdrm liburing vulkan
TOOL_PKGS := libdrm liburing vulkan
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

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

TEST_HELPER_SRCS := tests/helpers.c
TEST_SRCS := $(filter-out $(TEST_HELPER_SRCS),$(wildcard tests/test_*.c))
TESTS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all lib tools examples tests check install uninstall clean \
	symbols-check headers-check vmcheck
.DEFAULT_GOAL := all
.SECONDARY:

all: lib tools examples tests

lib: $(SHLIB) $(STLIB) $(BUILD)/dmakit.pc
tools: $(DMAKIT)
examples: $(EXAMPLES)
tests: $(TESTS)

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -fvisibility=hidden -Ilib \
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

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(call PKG_CFLAGS,$(TOOL_PKGS)) $(CFLAGS) \
		-c -o $@ $<

$(DMAKIT): $(TOOL_OBJS) $(STLIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(STLIB) \
		$(call PKG_LIBS,$(TOOL_PKGS)) -lm

$(BUILD)/examples/%: examples/%.c $(STLIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STLIB) \
		$(call PKG_LIBS,$(LIB_PKGS))

# Tests see the library's internals (lib/) and link it statically.
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -Ilib -Itests \
		$(call PKG_CFLAGS,$(TEST_PKGS) $(LIB_PKGS)) $(CFLAGS) \
		-UNDEBUG -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HELPER_OBJS) $(STLIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ \
		$(call PKG_LIBS,$(TEST_PKGS) $(LIB_PKGS)) -lpthread

# Every test binary runs; the first failure fails the target, after all ran.
ifeq ($(SANITIZE),1)
CHECK_ENV := ASAN_OPTIONS=fast_unwind_on_malloc=0 \
	     LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
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
