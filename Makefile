# libnn: GNU make only. `make` builds build/libnn.a and build/libnn.so;
# `make test` runs the cmocka suite; `make SANITIZE=1 test` runs it under
# ASan + UBSan; `make TSAN=1 test-threads` runs the tests that use threads
# under ThreadSanitizer. Cross builds: CC=s390x-linux-gnu-gcc
# BUILD=build/s390x, and RUN='qemu-s390x' to run the tests (and the
# examples they start) through an emulator.
CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=
VERSION := 0.1.0
SOVERSION := 0
RUN     ?=

# Parallel by default: -j<cores> unless the command line (or a parent make)
# chose, or the goals include clean, which must not race the build.
ifeq ($(filter -j% j% --jobserver%,$(MAKEFLAGS))$(filter clean uninstall,$(MAKECMDGOALS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
endif

WARN    := -Wall -Wextra -Wpedantic
CFLAGS  ?= -O2 -g
CPPFLAGS += -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(EXCESS_PRECISION) $(EXTRA_CFLAGS) -MMD -MP
LDLIBS  := -lm -lpthread

# Every float operation rounded to float, as PyTorch's CPU kernels do:
# where the compiler evaluates float expressions in double in ISO C mode
# (gcc for s390x: FLT_EVAL_METHOD 1), ask for the hardware's float
# arithmetic instead, or results differ from every other platform's.
FLT_EVAL_METHOD := $(shell echo __FLT_EVAL_METHOD__ | $(CC) -std=c11 -E -P - 2>/dev/null | tail -n 1)
EXCESS_PRECISION := $(if $(filter 1,$(FLT_EVAL_METHOD)),-fexcess-precision=fast)

ifeq ($(SANITIZE),1)
BUILD   ?= build/sanitize
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(TSAN),1)
BUILD   ?= build/tsan
ALL_CFLAGS += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
else
BUILD   ?= build
endif

LIB_SRC  := $(shell find src -name '*.c' -not -path 'src/mpi/*' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
LIB      := $(BUILD)/libnn.a
SONAME   := libnn.so.$(SOVERSION)
SHLIB    := $(BUILD)/libnn.so.$(VERSION)
SHLINKS  := $(BUILD)/$(SONAME) $(BUILD)/libnn.so
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EX_SRC   := $(wildcard examples/*.c)
EXAMPLES := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
# the tests that run the thread pool: they set the thread count
THREAD_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(shell grep -l nn_set_num_threads $(TEST_SRC)))

.PHONY: all lib shared test test-threads examples demo bench install uninstall clean check-test-deps
all: $(LIB) $(SHLINKS)
lib: $(LIB)
shared: $(SHLINKS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# the shared library: the same sources compiled position-independent
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(SHLIB): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/$(SONAME): $(SHLIB)
	ln -sf $(notdir $<) $@

$(BUILD)/libnn.so: $(BUILD)/$(SONAME)
	ln -sf $(notdir $<) $@

# --- tests: one cmocka program per tests/test_*.c
check-test-deps:
	@sh tests/ensure-deps.sh "$(CC)"

$(BUILD)/tests/%: tests/%.c $(LIB) | check-test-deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) $(LDFLAGS) $< $(filter %.o,$^) -o $@ $(LIB) -lcmocka $(LDLIBS)

# code only the tests use (tests/support/), linked into the tests that call it
GEMM_REF := $(BUILD)/obj/tests/support/gemm_ref.o
$(BUILD)/tests/test_gemm $(BUILD)/tests/test_conv_gemm: $(GEMM_REF)

# the tests' comma-decimal locale (tests/testutil.h), compiled once per
# build; under an emulator ($(RUN): a cross build) each test compiles its
# own, in its own byte order
TEST_LOCALE := $(if $(RUN),,$(BUILD)/locale/de_DE.UTF-8)
$(BUILD)/locale/de_DE.UTF-8: | check-test-deps
	@mkdir -p $(dir $@)
	@localedef -i de_DE -f UTF-8 $@ >/dev/null 2>&1 || { rm -rf $@; echo "localedef -i de_DE failed" >&2; exit 1; }

# One program at a time, whatever -j builds them with. $(1): the programs,
# $(2): a command to run each under. NN_TEST_RUN tells the tests that start
# the examples to start them the same way.
run-tests = @failed=0; for t in $(1); do \
	  echo "== $$t"; NN_TEST_RUN='$(2)' NN_TEST_LOCPATH=$(if $(TEST_LOCALE),$(abspath $(dir $(TEST_LOCALE)))) \
	    $(2) $$t || failed=$$((failed + 1)); \
	done; \
	if [ $$failed -ne 0 ]; then echo "$$failed test program(s) failed"; exit 1; fi; \
	echo "all $(words $(1)) test programs passed"

test: $(TESTS) $(EXAMPLES) $(TEST_LOCALE) # tests/test_examples runs the examples
	$(call run-tests,$(TESTS),$(RUN))

# ThreadSanitizer (make TSAN=1 test-threads): some TSan runtimes cannot map
# their shadow memory under a kernel's widest address randomization, so
# the programs run with it off (setarch -R) where this system allows that.
TSAN_RUN = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
test-threads: $(THREAD_TESTS) $(EXAMPLES) $(TEST_LOCALE)
	$(call run-tests,$(THREAD_TESTS),$(strip $(RUN) $(if $(filter 1,$(TSAN)),$(TSAN_RUN))))

# tests/cross-endian.sh's writer and reader (no cmocka)
$(BUILD)/cross_endian: tests/cross_endian.c $(LIB)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

# --- examples
$(BUILD)/examples/%: examples/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

examples: $(EXAMPLES)

demo: examples
	@sh examples/demo.sh $(BUILD)

# --- benchmark: build/bench (tests/bench/compare.py runs PyTorch and OpenBLAS beside it)
$(BUILD)/bench: tests/bench/bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/csv_bench: tests/bench/csv_bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

bench: $(BUILD)/bench $(BUILD)/csv_bench

# --- install: headers, libnn.a, libnn.so.$(VERSION) with its links, and two
# pkg-config files: nn (links libnn.so; `pkg-config --static` adds what a
# fully static link needs) and nn-static (names libnn.a itself, so the
# program carries the library and needs no libnn.so at run time).
PC_DIRS = 'prefix=$(PREFIX)' 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' \
	  'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))' ''
PC_HEAD = 'Description: A minimal neural-network library in C11' 'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}'

install: $(LIB) $(SHLINKS)
	install -d $(DESTDIR)$(INCLUDEDIR)/nn $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/nn.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/nn/*.h $(DESTDIR)$(INCLUDEDIR)/nn/
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libnn.so
	printf '%s\n' $(PC_DIRS) 'Name: nn' $(PC_HEAD) \
	  'Libs: -L$${libdir} -lnn' 'Libs.private: $(LDLIBS)' > $(DESTDIR)$(LIBDIR)/pkgconfig/nn.pc
	printf '%s\n' $(PC_DIRS) 'Name: nn-static' $(PC_HEAD) \
	  'Libs: $${libdir}/libnn.a $(LDLIBS)' > $(DESTDIR)$(LIBDIR)/pkgconfig/nn-static.pc
	@# a system-wide install: the run-time linker's cache learns libnn.so.$(SOVERSION)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig 2>/dev/null || true; fi

uninstall:
	rm -rf $(DESTDIR)$(INCLUDEDIR)/nn $(DESTDIR)$(INCLUDEDIR)/nn.h \
	  $(DESTDIR)$(LIBDIR)/libnn.a $(DESTDIR)$(LIBDIR)/libnn.so $(DESTDIR)$(LIBDIR)/$(SONAME) \
	  $(DESTDIR)$(LIBDIR)/$(notdir $(SHLIB)) \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/nn.pc $(DESTDIR)$(LIBDIR)/pkgconfig/nn-static.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(TESTS:=.d) $(EXAMPLES:=.d) $(BUILD)/bench.d $(BUILD)/csv_bench.d \
  $(BUILD)/cross_endian.d $(GEMM_REF:.o=.d)

# --- fuzzing (clang + libFuzzer): every tests/fuzz/fuzz_<name>.c is a harness,
# seeded from tests/fuzz/corpus/<name>/ and run for FUZZ_SECONDS each; new inputs
# go to build/fuzz/corpus/<name>/, the committed seeds stay as they are.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZERS      := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(CPPFLAGS) -Itests -std=c11 $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer,address,undefined $< $(FUZZ_LIB_OBJ) -o $@ $(LDLIBS)

.PHONY: fuzz
.SECONDARY: $(FUZZ_LIB_OBJ)
fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
	  name=$${f##*/fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  echo "== $$f for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_BUILD)/corpus/$$name \
	    $$( [ -d tests/fuzz/corpus/$$name ] && echo tests/fuzz/corpus/$$name ) || exit 1; \
	done

-include $(FUZZ_LIB_OBJ:.o=.d)

# --- MPI: data-parallel training (nn/ddp.h). libnn.a never links MPI: the
# MPI part is build/mpi/libnn_mpi.a beside it, built with mpicc only by
# `make mpi` (and `make test` when mpicc and mpirun are installed; Debian:
# apt-get install openmpi-bin libopenmpi-dev, or mpich).
MPICC      ?= mpicc
MPI_BUILD  := $(BUILD)/mpi
MPI_LIB    := $(MPI_BUILD)/libnn_mpi.a
MPI_CFLAGS  = $(CPPFLAGS) $(ALL_CFLAGS)
MPI_PROGS  := $(MPI_BUILD)/test_ddp $(MPI_BUILD)/ddp_fashion_mnist $(MPI_BUILD)/bench_allreduce
# (only for the machine CC builds for: a cross build's libnn.a cannot link
# with the host's MPI)
HAVE_MPI   := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 && \
                [ "$$($(MPICC) -dumpmachine 2>/dev/null | cut -d- -f1)" = "$$($(CC) -dumpmachine 2>/dev/null | cut -d- -f1)" ] && \
                echo yes)

.PHONY: mpi test-mpi install-mpi uninstall-mpi mpi-missing
$(MPI_BUILD)/obj/%.o: src/mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(MPI_CFLAGS) -c $< -o $@

$(MPI_LIB): $(MPI_BUILD)/obj/ddp.o
	rm -f $@
	$(AR) rcs $@ $^

$(MPI_BUILD)/test_ddp: tests/mpi/test_ddp.c $(MPI_LIB) $(LIB)
	$(MPICC) $(MPI_CFLAGS) $(LDFLAGS) $< -o $@ $(MPI_LIB) $(LIB) $(LDLIBS)

$(MPI_BUILD)/ddp_fashion_mnist: examples/mpi/ddp_fashion_mnist.c $(MPI_LIB) $(LIB)
	$(MPICC) $(MPI_CFLAGS) $(LDFLAGS) $< -o $@ $(MPI_LIB) $(LIB) $(LDLIBS)

$(MPI_BUILD)/bench_allreduce: tests/mpi/bench_allreduce.c
	@mkdir -p $(dir $@)
	$(MPICC) $(MPI_CFLAGS) $(LDFLAGS) $< -o $@

mpi: $(MPI_LIB) $(MPI_PROGS)

# two ranks, each test under a timeout (tests/mpi/run.sh)
test-mpi: mpi
	sh tests/mpi/run.sh $(MPI_BUILD)

mpi-missing:
	@echo "MPI tests skipped: no $(MPICC) or mpirun for $(CC)'s machine (apt-get install openmpi-bin libopenmpi-dev)"

ifeq ($(HAVE_MPI),yes)
test: test-mpi
else
test: mpi-missing
endif

install-mpi: $(MPI_LIB) install
	install -m 644 include/nn/ddp.h $(DESTDIR)$(PREFIX)/include/nn/
	install -m 644 $(MPI_LIB) $(DESTDIR)$(PREFIX)/lib/
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	  'Name: nn-mpi' 'Description: libnn data-parallel training over MPI (compile and link with mpicc)' \
	  'Version: $(VERSION)' 'Requires: nn' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lnn_mpi' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn-mpi.pc

-include $(MPI_BUILD)/obj/ddp.d $(MPI_PROGS:=.d)

uninstall-mpi:
	rm -f $(DESTDIR)$(PREFIX)/include/nn/ddp.h $(DESTDIR)$(PREFIX)/lib/libnn_mpi.a \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn-mpi.pc
