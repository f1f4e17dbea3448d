# libnn: GNU make only. `make` builds build/libnn.a; `make test` runs the
# cmocka suite; `make SANITIZE=1 test` runs it under ASan + UBSan.
CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

WARN    := -Wall -Wextra -Wpedantic
CFLAGS  ?= -O2 -g
CPPFLAGS += -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -MMD -MP
LDLIBS  := -lm -lpthread

ifeq ($(SANITIZE),1)
BUILD   ?= build/sanitize
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

LIB_SRC  := $(shell find src -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libnn.a
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EX_SRC   := $(wildcard examples/*.c)
EXAMPLES := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all lib test examples demo bench install uninstall clean check-test-deps
all: $(LIB)
lib: $(LIB)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# --- tests: one cmocka program per tests/test_*.c
check-test-deps:
	@sh tests/ensure-deps.sh "$(CC)"

$(BUILD)/tests/%: tests/%.c $(LIB) | check-test-deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) $(LDFLAGS) $< -o $@ $(LIB) -lcmocka $(LDLIBS)

test: $(TESTS) $(EXAMPLES) # tests/test_examples runs the examples
	@failed=0; for t in $(TESTS); do \
	  echo "== $$t"; $$t || failed=$$((failed + 1)); \
	done; \
	if [ $$failed -ne 0 ]; then echo "$$failed test program(s) failed"; exit 1; fi; \
	echo "all $(words $(TESTS)) test programs passed"

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

bench: $(BUILD)/bench

# --- install with a pkg-config file
install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/include/nn $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/nn.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/nn/*.h $(DESTDIR)$(PREFIX)/include/nn/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	  'Name: nn' 'Description: A minimal neural-network library in C11' 'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lnn -lm -lpthread' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/nn $(DESTDIR)$(PREFIX)/include/nn.h \
	  $(DESTDIR)$(PREFIX)/lib/libnn.a $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TESTS:=.d) $(EXAMPLES:=.d) $(BUILD)/bench.d

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
MPI_CFLAGS  = $(CPPFLAGS) -Impi/include $(ALL_CFLAGS)
MPI_PROGS  := $(MPI_BUILD)/test_ddp $(MPI_BUILD)/ddp_fashion_mnist $(MPI_BUILD)/bench_allreduce
HAVE_MPI   := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 && echo yes)

.PHONY: mpi test-mpi install-mpi uninstall-mpi mpi-missing
$(MPI_BUILD)/obj/%.o: mpi/%.c
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
	@echo "MPI tests skipped: no $(MPICC) or mpirun (apt-get install openmpi-bin libopenmpi-dev)"

ifeq ($(HAVE_MPI),yes)
test: test-mpi
else
test: mpi-missing
endif

install-mpi: $(MPI_LIB) install
	install -m 644 mpi/include/nn/ddp.h $(DESTDIR)$(PREFIX)/include/nn/
	install -m 644 $(MPI_LIB) $(DESTDIR)$(PREFIX)/lib/
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	  'Name: nn-mpi' 'Description: libnn data-parallel training over MPI (compile and link with mpicc)' \
	  'Version: $(VERSION)' 'Requires: nn' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lnn_mpi' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn-mpi.pc

-include $(MPI_BUILD)/obj/ddp.d $(MPI_PROGS:=.d)

uninstall-mpi:
	rm -f $(DESTDIR)$(PREFIX)/include/nn/ddp.h $(DESTDIR)$(PREFIX)/lib/libnn_mpi.a \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn-mpi.pc
