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

.PHONY: all setup run test test-fast bench clean check-core asan valgrind ctest baselines
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
asan:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  $(ASAN_BUILD)/kshot $(ASAN_BUILD)/kshot.so $(ASAN_BUILD)/test_core

# memcheck of the C tests and of a Lua smoke script run by the host
VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
valgrind: $(BUILD)/kshot $(BUILD)/test_core
	OPENBLAS_NUM_THREADS=1 $(VALGRIND) $(BUILD)/test_core
	OPENBLAS_NUM_THREADS=1 $(VALGRIND) $(BUILD)/kshot spec/c/smoke.lua

clean:
	rm -rf build
