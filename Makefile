# bytelm build. `make` builds bin/bytelm (with the CUDA backend when nvcc is found),
# `make test` runs every CPU test suite, `make test-gpu` the GPU suites (needs a GPU),
# `make bench` the benchmarks, `make demo` a two-minute end-to-end run.
#
#   make SANITIZE=1 test   ASan+UBSan build of the CPU tests (in build-asan/)
#   make CUDA=0            force a CPU-only build

PKGS      := openblas check libcjson libzstd libutf8proc
SANITIZE  ?= 0
BUILD     ?= $(if $(filter 1,$(SANITIZE)),build-asan,build)
BIN       := $(if $(filter 1,$(SANITIZE)),$(BUILD)/bytelm,bin/bytelm)

# Dependencies: install the Debian packages when any is missing.
DEPS_OK := $(shell pkg-config --exists $(PKGS) && echo yes)
ifneq ($(DEPS_OK),yes)
  $(info bytelm: missing build dependencies, running scripts/install-deps.sh)
  $(shell ./scripts/install-deps.sh >&2)
  DEPS_OK := $(shell pkg-config --exists $(PKGS) && echo yes)
  ifneq ($(DEPS_OK),yes)
    $(error bytelm: dependencies still missing after scripts/install-deps.sh: $(PKGS))
  endif
endif

CC      ?= gcc
OPT     ?= -O2
# -fPIC: the same objects make the static archive, the command and libbytelm.so
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -fopenmp -fPIC -Wall -Wextra -Wno-unused-parameter \
           -I. $(shell pkg-config --cflags openblas libcjson libzstd libutf8proc)
LDLIBS  := $(shell pkg-config --libs openblas libcjson libzstd libutf8proc) -lm -lpthread
LDFLAGS := -fopenmp
CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS   := $(shell pkg-config --libs check)

ifeq ($(SANITIZE),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  CUDA    := 0
endif

# CUDA: detected from nvcc on PATH or in /usr/local/cuda.
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
  # nvcc may be a wrapper script outside the toolkit (/usr/local/bin/nvcc), so ask
  # nvcc itself where its toolkit lives rather than trusting the path it was found at
  CUDA_HOME   := $(shell $(NVCC) --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^\#\$$ TOP=//p')
  CUDA_HOME   := $(if $(CUDA_HOME),$(CUDA_HOME),$(patsubst %/bin/nvcc,%,$(NVCC)))
  NVCCFLAGS   := -O3 -std=c++17 -I. -DBYTELM_CUDA -lineinfo -Xcompiler -fPIC \
                 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  CFLAGS      += -DBYTELM_CUDA -I$(CUDA_HOME)/include
  LDLIBS      += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib -L$(CUDA_HOME)/targets/x86_64-linux/lib -lnccl -lcublasLt -lcublas -lcudart -lstdc++ \
                 -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib
  CUDA_SRC    := $(wildcard kernels/*.cu byte_lm/*/*.cu)
  $(info bytelm: nvcc found at $(NVCC): building the CUDA backend (sm_90 + PTX))
else
  CUDA_SRC    :=
  $(info bytelm: no nvcc: building the CPU backend only)
endif

# byte_lm/ is one folder per layer (docs/ARCHITECTURE.md); main.c alone stays out of the library
LIB_SRC  := $(filter-out byte_lm/cli/main.c,$(wildcard byte_lm/*/*.c corpus/*.c eval/*.c api/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CUDA_SRC:%.cu=$(BUILD)/%.o)
LIB      := $(BUILD)/libbytelm.a
# The shared library: include/bytelm.h's version, only bl_* exported (api/bytelm.map)
VERSION  := $(shell sed -n 's/^\#define BYTELM_VERSION_STRING "\(.*\)"/\1/p' include/bytelm.h)
SONAME   := libbytelm.so.$(firstword $(subst ., ,$(VERSION)))
SHLIB    := $(BUILD)/libbytelm.so.$(VERSION)
PREFIX   ?= /usr/local
TEST_SRC := $(wildcard tests/test_*.c)
# valgrind cannot run an ASan binary; the sanitized build covers the same ground. An ASan
# libbytelm.so cannot be loaded by the uninstrumented examples the install test builds.
ifeq ($(SANITIZE),1)
  TEST_SRC := $(filter-out tests/test_valgrind.c tests/test_install.c,$(TEST_SRC))
endif
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
GPU_TEST_SRC := $(wildcard tests/gpu/test_*.c)
GPU_TESTS    := $(GPU_TEST_SRC:tests/gpu/%.c=$(BUILD)/tests/gpu/%)

.PHONY: all test test-gpu bench demo clean fuzz install uninstall
all: $(BIN) $(SHLIB)

# `bytelm --version` names the commit it was built from; the stamp file changes only when
# `git describe` does, so that only version.o is rebuilt then
GIT_DESCRIBE  := $(shell git describe --always --dirty 2>/dev/null)
VERSION_STAMP := $(BUILD)/version-stamp
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(VERSION_STAMP) 2>/dev/null)" = "$(GIT_DESCRIBE)" ] || echo "$(GIT_DESCRIBE)" > $(VERSION_STAMP); })
$(BUILD)/byte_lm/cli/version.o: $(VERSION_STAMP)
$(BUILD)/byte_lm/cli/version.o: CFLAGS += -DBYTELM_BUILD='"$(GIT_DESCRIBE)"'


# Objects depend on the flags they were built with: `make CUDA=0` after `make` (or the reverse)
# in the same build directory rebuilds them instead of linking objects of the other kind
# (DEPFLAGS is part of the stamp so that objects built before it get their .d files)
DEPFLAGS    := -MMD -MP
FLAGS_STAMP := $(BUILD)/flags-stamp
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = "$(CFLAGS) $(NVCCFLAGS) $(DEPFLAGS)" ] || echo "$(CFLAGS) $(NVCCFLAGS) $(DEPFLAGS)" > $(FLAGS_STAMP); })

# Header dependencies per file: the compilers write BUILD/x.d beside each object (-MMD, with an
# empty rule per header, -MP, so a deleted header does not stop the build), and make reads them
# back, so a change to one header rebuilds just what includes it.
$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/byte_lm/cli/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# the command's own files (byte_lm/cli/) stay out of the shared library
SHLIB_OBJ := $(filter-out $(BUILD)/byte_lm/cli/%,$(LIB_OBJ))
$(SHLIB): $(SHLIB_OBJ) api/bytelm.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=api/bytelm.map -Wl,--no-undefined \
	    $(LDFLAGS) $(SHLIB_OBJ) $(LDLIBS) -o $@

# Header, both libraries, bytelm.pc, the command and the README under PREFIX (scripts/install.sh)
install: $(BIN) $(SHLIB) $(LIB)
	./scripts/install.sh install "$(PREFIX)" "$(BUILD)" "$(BIN)" "$(VERSION)" "$(LDLIBS)"

uninstall:
	./scripts/install.sh uninstall "$(PREFIX)" "$(BUILD)" "$(BIN)" "$(VERSION)" ""

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) $(DEPFLAGS) $< $(LIB) $(CHECK_LIBS) $(LDLIBS) -o $@

$(BUILD)/tests/gpu/%: tests/gpu/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) $(DEPFLAGS) $< $(LIB) $(CHECK_LIBS) $(LDLIBS) -o $@

-include $(LIB_OBJ:.o=.d) $(BUILD)/byte_lm/cli/main.d $(TESTS:=.d) $(GPU_TESTS:=.d)

# Every suite runs even when an earlier one fails; the target fails if any did. The last line
# counts checks: "make test: N passed, M failed".
# With CUDA the GPU suites are built too (not run: they need a GPU), so CI compiles them.
test: $(BIN) $(if $(filter 1,$(SANITIZE)),,$(SHLIB)) $(TESTS) $(if $(filter 1,$(CUDA)),$(GPU_TESTS))
	@BYTELM=$(abspath $(BIN)) BYTELM_BUILD=$(abspath $(BUILD)) BYTELM_VERSION=$(VERSION) \
	    BYTELM_LDLIBS="$(LDLIBS)" CK_DEFAULT_TIMEOUT=600 ./scripts/run-tests.sh "make test" $(TESTS)

test-gpu: $(BIN) $(GPU_TESTS)
	@[ "$(CUDA)" = 1 ] || { echo "make test-gpu: needs nvcc (CUDA=1)"; exit 2; }
	@BYTELM=$(abspath $(BIN)) CK_DEFAULT_TIMEOUT=900 ./scripts/run-tests.sh "make test-gpu" $(GPU_TESTS)

bench: $(BIN)
	$(BIN) bench all

demo: $(BIN)
	./scripts/demo.sh

clean:
	rm -rf build build-asan bin

# libFuzzer targets of tests/fuzz/ built with clang (ASan+UBSan) and run FUZZ_SECONDS each
# (default 60), with a table of executions and crashes; scripts/fuzz.sh has the other knobs.
fuzz:
	FUZZ_BUILD=$(BUILD)/fuzz ./scripts/fuzz.sh
