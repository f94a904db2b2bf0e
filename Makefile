# Flywheel build. Make (not CMake): one flat file, globbed sources, two variants side by side.
#   make            release build: build/flywheel, build/libflywheel.a, build/libflywheel.so
#   make san        ASan + UBSan build in build-san/
#   make test       builds both (and compiles all with clang), runs the whole suite on each (CI)
#   make test-fast  release suite only;  make T=data test-fast  runs tests/data only
#   make CC=clang   the same with clang (both compilers are kept clean with -Werror)
CC      ?= gcc
V       ?= release
# BUILD=dir puts a variant in its own folder (parallel work must not share object files).
# MPI=1: the MPI build (docs/SCALING.md) — mpicc, -DFW_MPI, its own folder build-mpi/; `mpirun -np N
# build-mpi/flywheel train ...` trains one model data-parallel. The default build never links MPI.
ifeq ($(MPI),1)
  CC     := mpicc
  BUILD  ?= build-mpi
  CFLAGS += -DFW_MPI
endif
ifeq ($(V),san)
  OUT    := $(if $(BUILD),$(BUILD),build-san)
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDSAN  := -fsanitize=address,undefined
else
  OUT    := $(if $(BUILD),$(BUILD),build)
  OPT    := -O2 -g -march=x86-64-v2
  LDSAN  :=
endif
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
# -fvisibility=hidden: libflywheel.so exports only what include/flywheel.h marks FW_API
CFLAGS  += -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -fvisibility=hidden -Iinclude -Isrc -MMD -MP
# libpq-fe.h (libpq-dev): only its declarations; libpq.so.5 is dlopen'ed by src/store/pg.c
CFLAGS  += -I/usr/include/postgresql
LIBS    := -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# rebuild version.o when HEAD moves (works in worktrees and without git)
GIT_HEAD_FILES := $(wildcard $(shell git rev-parse --git-path HEAD 2>/dev/null) $(shell git rev-parse --git-path refs/heads/main 2>/dev/null))

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(shell find tests -name 'test_*.c'))
TEST_SUPPORT := $(sort $(filter-out tests/support/test_%.c,$(wildcard tests/support/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(OUT)/obj/%.o)
# Test hooks (core/test_hooks.h) exist only with -DFW_TEST: the files that use them are compiled a
# second time into obj-test/ for libflywheel-test.a and flywheel-test (what tests and fuzzers link);
# the shipped library and binary have none of them.
HOOK_SRC := $(shell grep -l 'core/test_hooks.h' $(LIB_SRC))
TLIB_OBJ := $(filter-out $(HOOK_SRC:%.c=$(OUT)/obj/%.o),$(LIB_OBJ)) $(HOOK_SRC:%.c=$(OUT)/obj-test/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(OUT)/obj/%.o)
SUP_OBJ  := $(TEST_SUPPORT:%.c=$(OUT)/obj/%.o)
TEST_BIN := $(TEST_SRC:%.c=$(OUT)/%)

.PHONY: clang-check all san test test-fast tests clean fuzz bench install predict-lib
all: $(OUT)/flywheel $(OUT)/libflywheel.a $(OUT)/libflywheel.so

# The compiler and flags are part of every object's inputs: .cflags changes when they do, so an old
# build tree is recompiled instead of mixing objects built with other flags (e.g. without
# -fvisibility=hidden, which made libflywheel.so export internals in a tree built before it).
FLAGS_STAMP := $(OUT)/.cflags
$(shell mkdir -p $(OUT) && echo '$(CC) $(CFLAGS)' | cmp -s - $(FLAGS_STAMP) || echo '$(CC) $(CFLAGS)' > $(FLAGS_STAMP))

# src/core/hash_avx2.c alone is compiled for AVX2 (XXH3's AVX2 build); core/hash.c calls it only on
# a CPU that has AVX2 (core/hash_simd.h)
ifeq ($(shell uname -m),x86_64)
SIMD_FLAGS = $(if $(filter %/hash_avx2.o,$@),-mavx2)
endif

$(OUT)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS) $(SIMD_FLAGS) -c $< -o $@

$(OUT)/obj-test/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS) $(SIMD_FLAGS) -DFW_TEST -c $< -o $@

# The version string carries the commit; rebuild it whenever HEAD moves.
$(OUT)/obj/src/core/version.o: src/core/version.c $(GIT_HEAD_FILES) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS) -DFW_GIT_COMMIT='"$(GIT_COMMIT)"' -c $< -o $@

$(OUT)/libflywheel.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^

# SONAME libflywheel.so.MAJOR; the version script keeps the exports to the public fw_ API
$(OUT)/libflywheel.so: $(LIB_OBJ) src/api/libflywheel.map
	@echo "  CC $@"; $(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/api/libflywheel.map \
	    -o $@ $(LIB_OBJ) $(LDSAN) $(LIBS)

# --export-dynamic-symbol: libmicrohttpd (dlopen'ed) builds its own error replies through this
# function; flywheel's definition makes them JSON (src/serve/mhd.h)
$(OUT)/flywheel: $(CLI_OBJ) $(OUT)/libflywheel.a
	@echo "  CC $@"; $(CC) -o $@ $(CLI_OBJ) $(OUT)/libflywheel.a $(LDSAN) $(LIBS) \
	    -Wl,--export-dynamic-symbol=MHD_create_response_from_buffer

$(OUT)/libflywheel-test.a: $(TLIB_OBJ)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^

$(OUT)/flywheel-test: $(CLI_OBJ) $(OUT)/libflywheel-test.a
	@echo "  CC $@"; $(CC) -o $@ $(CLI_OBJ) $(OUT)/libflywheel-test.a $(LDSAN) $(LIBS) \
	    -Wl,--export-dynamic-symbol=MHD_create_response_from_buffer

$(OUT)/tests/%: tests/%.c $(SUP_OBJ) $(OUT)/libflywheel-test.a
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS) -DFW_TEST -Itests/support -o $@ $< $(SUP_OBJ) $(OUT)/libflywheel-test.a $(LDSAN) $(LIBS)

# tests/cli/ also link the command line's option parser (src/cli/args.c is not in the library)
CLI_ARGS_OBJ := $(OUT)/obj/src/cli/args.o
$(OUT)/tests/cli/%: tests/cli/%.c $(SUP_OBJ) $(CLI_ARGS_OBJ) $(OUT)/libflywheel-test.a
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) $(CFLAGS) -DFW_TEST -Itests/support -o $@ $< $(SUP_OBJ) $(CLI_ARGS_OBJ) $(OUT)/libflywheel-test.a $(LDSAN) $(LIBS)

# the shared library too: tests/api and tests/core check what it exports
tests: $(TEST_BIN) $(OUT)/flywheel $(OUT)/flywheel-test $(OUT)/libflywheel.so

san:
	$(MAKE) V=san all

# the whole suite, or T=dist, also builds build-mpi/ (tests/dist run it under mpirun)
test-fast: tests $(if $(T),$(if $(filter dist,$(T)),mpi),mpi)
	FLYWHEEL_BIN=$(CURDIR)/$(OUT)/flywheel tests/run.sh $(OUT) $(T)

# clang-check: everything compiled with clang too (-Werror), when clang is installed
clang-check:
	@if command -v clang >/dev/null; then $(MAKE) CC=clang BUILD=build-clang all tests; \
	 else echo "clang-check: clang not installed, skipped"; fi

# mpi: build-mpi/flywheel (tests/dist drive it with mpirun), when mpicc is installed
.PHONY: mpi
mpi:
	@if command -v mpicc >/dev/null; then $(MAKE) MPI=1 all; \
	 else echo "mpi: mpicc not installed (scripts/install-deps.sh), skipped"; fi

test:
	$(MAKE) V=release tests
	$(MAKE) V=san tests
	$(MAKE) clang-check
	$(MAKE) mpi
	tests/run.sh build $(T) && tests/run.sh build-san $(T)

clean:
	rm -rf build build-san build-clang

# ---- install and the prediction-only library (docs/EMBED.md) --------------------------------
#   make install PREFIX=/usr/local DESTDIR=   binary, include/flywheel.h, libflywheel.a,
#                                            libflywheel.so (SONAME), pkgconfig/flywheel.pc
#   make predict-lib   $(OUT)/libflywheel-predict.a: pipeline + families + artifact reader only (no
#                      SQLite, YAML, HTTP or JSON library), and examples/embed/predict.c linked to it
FW_VERSION := $(shell sed -n 's/^\#define FW_VERSION_STRING "\(.*\)"/\1/p' include/flywheel.h)
SONAME  := libflywheel.so.$(firstword $(subst ., ,$(FW_VERSION)))
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 755 $(OUT)/flywheel $(DESTDIR)$(BINDIR)/flywheel
	install -m 644 include/flywheel.h $(DESTDIR)$(INCDIR)/flywheel.h
	install -m 644 $(OUT)/libflywheel.a $(DESTDIR)$(LIBDIR)/libflywheel.a
	install -m 755 $(OUT)/libflywheel.so $(DESTDIR)$(LIBDIR)/libflywheel.so.$(FW_VERSION)
	ln -sf libflywheel.so.$(FW_VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libflywheel.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(FW_VERSION)|' -e 's|@LIBS@|$(LIBS)|' src/api/flywheel.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/flywheel.pc

PREDICT_SRC := $(sort $(filter-out src/core/yaml_read.c,$(wildcard src/api/*.c src/artifact/*.c src/core/*.c \
                 src/features/*.c src/models/*.c)) src/data/dataset.c src/data/scalar.c src/project/project.c \
                 src/project/learn.c)
PREDICT_OBJ := $(PREDICT_SRC:%.c=$(OUT)/obj/%.o)
PREDICT_LIBS := -lpthread -lm

predict-lib: $(OUT)/libflywheel-predict.a $(OUT)/examples/embed/predict-static

$(OUT)/libflywheel-predict.a: $(PREDICT_OBJ)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^

$(OUT)/examples/embed/predict-static: examples/embed/predict.c $(OUT)/libflywheel-predict.a
	@mkdir -p $(dir $@)
	@echo "  CC $@"; $(CC) -std=c17 -O2 -Wall -Wextra -Werror -Iinclude -o $@ $< $(OUT)/libflywheel-predict.a \
	    $(LDSAN) $(PREDICT_LIBS)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SUP_OBJ:.o=.d) $(HOOK_SRC:%.c=$(OUT)/obj-test/%.d)

# ---- fuzz: libFuzzer targets (fuzz/README.md) ------------------------------------------------
#   make fuzz   builds build-fuzz/fuzz_<target> (clang, -fsanitize=fuzzer,address,undefined) and
#               build-fuzz/fuzz_<target>-replay (the same file with -DFW_FUZZ_DRIVER: a plain
#               program that replays files and directories). Needs clang; says so when absent.
FUZZ_CC    ?= clang
FUZZ_OUT   := build-fuzz
FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_FLAGS := -std=c17 -D_GNU_SOURCE -DFW_TEST -g -O1 -fno-omit-frame-pointer $(WARN) -Iinclude -Isrc -Ifuzz -I/usr/include/postgresql \
              -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ   := $(LIB_SRC:%.c=$(FUZZ_OUT)/obj/%.o)

fuzz:
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory fuzz-bins; \
	else echo "make fuzz: $(FUZZ_CC) not found (libFuzzer needs clang); tests/fuzz replays the corpus with $(CC)"; fi

.PHONY: fuzz-bins
fuzz-bins: $(FUZZ_NAMES:%=$(FUZZ_OUT)/%) $(FUZZ_NAMES:%=$(FUZZ_OUT)/%-replay)

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC $@"; $(FUZZ_CC) $(FUZZ_FLAGS) $(SIMD_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_OUT)/libflywheel-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^

$(FUZZ_OUT)/fuzz_%: fuzz/fuzz_%.c fuzz/driver.h $(FUZZ_OUT)/libflywheel-fuzz.a
	@echo "  FUZZLD $@"; $(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OUT)/libflywheel-fuzz.a $(LIBS)

$(FUZZ_OUT)/fuzz_%-replay: fuzz/fuzz_%.c fuzz/driver.h $(FUZZ_OUT)/libflywheel-fuzz.a
	@echo "  FUZZLD $@"; $(FUZZ_CC) $(FUZZ_FLAGS) -DFW_FUZZ_DRIVER -o $@ $< $(FUZZ_OUT)/libflywheel-fuzz.a $(LIBS)

-include $(FUZZ_OBJ:.o=.d)
