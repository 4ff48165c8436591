# kshot build. `make` builds build/kshot (host) and build/kshot.so (module
# for stock lua5.4). `make run` and `make test` are the README's two
# commands: both install what is missing first (make setup).
#
# Source lists are wildcards: adding a .c file to runtime/core/,
# runtime/host/ or bindings/ needs no edit here.

CC      ?= cc
LUA_INC ?= /usr/include/lua5.4
LUA_LIB ?= /usr/lib/x86_64-linux-gnu/liblua5.4.a
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
# -Wno-psabi: ks_optim.c passes 32-byte vectors between static inlines; GCC's
# note about the 4.6 ABI change cannot apply to them
WARN     = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-psabi
BASE     = -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARN)
LIBS     = -Wl,--as-needed -lopenblas -ljansson -lpng -ljpeg -lz -lm -lpthread -ldl
BUILD   ?= build
# quiet build lines ("CC file"); make V=1 shows the commands
Q        = $(if $(V),,@)

CORE_SRC    = $(wildcard runtime/core/*.c)
BIND_SRC    = $(wildcard bindings/*.c)
HOST_SRC    = $(filter-out runtime/host/kshot_main.c,$(wildcard runtime/host/*.c))
CORE_OBJ    = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
BIND_OBJ    = $(BIND_SRC:%.c=$(BUILD)/obj/%.o)
HOST_OBJ    = $(HOST_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ    = $(BUILD)/obj/runtime/host/kshot_main.o

.PHONY: all setup run test test-fast bench clean check-core asan test-asan valgrind ctest baselines fuzz fuzz-build fuzz-replay fuzz-bins
all: $(BUILD)/kshot $(BUILD)/kshot.so $(BUILD)/libkshot.a

$(BUILD)/obj/runtime/core/%.o: runtime/core/%.c
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -I$(LUA_INC) -MMD -MP -c $< -o $@

# the core + bindings + embedding API, for programs that embed kshot
$(BUILD)/libkshot.a: $(CORE_OBJ) $(BIND_OBJ) $(HOST_OBJ)
	@rm -f $@
	@echo "  AR  $@"
	$(Q)ar rcs $@ $^

# host: Lua linked statically and its API exported (-E) so C modules load.
# OpenBLAS too when its archive is installed: resolving the ~12000 symbol
# relocations of libopenblas.so at every start would triple the start-up time.
OPENBLAS_A ?= $(wildcard /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a)
HOST_BLAS   = $(if $(OPENBLAS_A),$(OPENBLAS_A) -l:libgfortran.so.5)
$(BUILD)/kshot: $(MAIN_OBJ) $(HOST_OBJ) $(BIND_OBJ) $(CORE_OBJ)
	@echo "  LD  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -Wl,-E -o $@ $^ $(LUA_LIB) -ledit -Wl,--as-needed $(HOST_BLAS) $(LIBS)

# example of a program embedding kshot (runtime/host/kshot.h); spec/embed_spec.lua builds it the same way
$(BUILD)/embed_example: runtime/host/examples/embed_example.c $(BUILD)/libkshot.a
	@echo "  LD  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -Iruntime/host -o $@ $< $(BUILD)/libkshot.a $(LUA_LIB) $(LIBS)

# module for stock lua5.4: not linked against liblua
$(BUILD)/kshot.so: $(BIND_OBJ) $(CORE_OBJ)
	@echo "  LD  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -shared -o $@ $^ $(LIBS)

# C tests of the core (spec/c): no Lua, linked against the core objects only
$(BUILD)/test_core: $(BUILD)/obj/spec/c/test_core.o $(CORE_OBJ)
	@echo "  LD  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -o $@ $^ $(LIBS)

# raw cblas_sgemm reference for scripts/bench/bench_matmul.lua
$(BUILD)/sgemm_ref: scripts/bench/sgemm_ref.c
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -o $@ $< -lopenblas

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d)

setup:
	@sh .ci/install-deps.sh

run: setup all
	$(BUILD)/kshot scripts/fewshot_fashion.lua

test: setup
	@BUILD=$(BUILD) sh spec/run_all.sh

# every test without the set-up step (for development)
test-fast:
	@BUILD=$(BUILD) sh spec/run_all.sh

# re-record spec/baselines.json on purpose and print the diff (ARGS="--only name" / "--dry-run")
baselines: $(BUILD)/kshot
	KSHOT_BIN=$(BUILD)/kshot $(BUILD)/kshot scripts/record_baselines.lua $(ARGS)

ctest: $(BUILD)/test_core
	$(BUILD)/test_core

bench: all
	@BUILD=$(BUILD) sh scripts/bench/run_all.sh

check-core:
	@! grep -rlE '#\s*include\s*[<"](lua|lauxlib|lualib)' runtime/core \
	  || (echo "runtime/core must not include Lua headers" >&2; exit 1)

# sanitizer build of everything, in its own folder ($(BUILD)/asan: build/asan by default)
ASAN_BUILD = $(BUILD)/asan
# test-asan: the sanitizer sub-run of `make test` alone (C tests, specs, fuzz corpora under ASan + UBSan)
test-asan:
	@KSHOT_TEST_SKIP="host lua54 valgrind" BUILD=$(BUILD) sh spec/run_all.sh

# asan: only builds the sanitized binaries ($(ASAN_BUILD)); test-asan runs them
asan:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  $(ASAN_BUILD)/kshot $(ASAN_BUILD)/kshot.so $(ASAN_BUILD)/test_core

# memcheck of the C tests and of a Lua smoke script run by the host
VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
valgrind: $(BUILD)/kshot $(BUILD)/test_core
	OPENBLAS_NUM_THREADS=1 $(VALGRIND) $(BUILD)/test_core
	OPENBLAS_NUM_THREADS=1 $(VALGRIND) $(BUILD)/kshot spec/c/smoke.lua

# ---- fuzzing of the file readers (spec/c/fuzz; not part of `make test`)
# make fuzz: libFuzzer harnesses built with clang (ASan + UBSan) in $(BUILD)/fuzz,
# each run FUZZ_SECONDS (default 60) from its committed corpus; new inputs go to
# $(BUILD)/fuzz/corpus/<reader>, crashes to $(BUILD)/fuzz/artifacts/<reader>.
# make fuzz-replay: every committed corpus and regression input once, through
# spec/c/fuzz/fuzz_replay.c instead of libFuzzer (any compiler; reuses make asan;
# an allocation over 1 GB fails it, as -malloc_limit_mb does under libFuzzer).
FUZZ_READERS = idx npy npz safetensors csv image
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SAN      = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OPTS    ?= -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=4096 -timeout=10
FUZZ_MAIN    ?= -fsanitize=fuzzer
# the harnesses link the core as an archive (only what the readers need):
# clang cannot build ks_optim.c (AVX vectors passed without -mavx)
FUZZ_CORE_OBJ = $(filter-out %/ks_optim.o,$(CORE_OBJ))
fuzz-bins: $(FUZZ_READERS:%=$(BUILD)/fuzz_%)
.SECONDARY: $(FUZZ_READERS:%=$(BUILD)/obj/spec/c/fuzz/fuzz_%.o) $(BUILD)/obj/spec/c/fuzz/fuzz_replay.o
$(FUZZ_READERS:%=$(BUILD)/obj/spec/c/fuzz/fuzz_%.o): spec/c/fuzz/fuzz_common.h
$(BUILD)/fuzz-core.a: $(FUZZ_CORE_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^
$(BUILD)/fuzz_%: $(BUILD)/obj/spec/c/fuzz/fuzz_%.o $(filter %.o,$(FUZZ_MAIN)) $(BUILD)/fuzz-core.a
	@echo "  LD  $@"
	$(Q)$(CC) $(BASE) $(CFLAGS) -o $@ $^ $(filter-out %.o,$(FUZZ_MAIN)) $(LIBS)

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs $(FUZZ_CC) with libFuzzer (Debian: clang)" >&2; exit 1; }
	$(MAKE) BUILD=$(BUILD)/fuzz CC=$(FUZZ_CC) WARN="-Wall -Wextra -Wno-unused-parameter" \
	  CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-bins

fuzz: fuzz-build
	@for r in $(FUZZ_READERS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$r $(BUILD)/fuzz/artifacts/$$r; \
	  echo "== fuzz_$$r ($(FUZZ_SECONDS) s, log $(BUILD)/fuzz/fuzz_$$r.log)"; \
	  $(BUILD)/fuzz/fuzz_$$r $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $$(ls spec/c/fuzz/$$r.dict 2>/dev/null | sed 's/^/-dict=/') \
	    -artifact_prefix=$(BUILD)/fuzz/artifacts/$$r/ $(BUILD)/fuzz/corpus/$$r spec/c/fuzz/corpus/$$r \
	    $$(ls -d spec/c/fuzz/regressions/$$r 2>/dev/null) >$(BUILD)/fuzz/fuzz_$$r.log 2>&1; \
	  rc=$$?; grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss)' \
	    $(BUILD)/fuzz/fuzz_$$r.log; \
	  if [ $$rc -ne 0 ]; then tail -n 40 $(BUILD)/fuzz/fuzz_$$r.log; exit 1; fi; \
	done

fuzz-replay: asan
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 CFLAGS="$(FUZZ_SAN)" \
	  FUZZ_MAIN=$(ASAN_BUILD)/obj/spec/c/fuzz/fuzz_replay.o fuzz-bins
	@for r in $(FUZZ_READERS); do \
	  ASAN_OPTIONS=detect_leaks=1:max_allocation_size_mb=1024:allocator_may_return_null=0 \
	    $(ASAN_BUILD)/fuzz_$$r spec/c/fuzz/corpus/$$r spec/c/fuzz/regressions/$$r || exit 1; \
	done

clean:
	rm -rf build
