# ember — build with `make` (gcc) or `make CC=clang`; `make test`, `make asan`, `make fuzz`.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror -Wno-unused-function -Wno-missing-field-initializers
BASE    := -std=c11 -D_GNU_SOURCE -fPIC -pthread -Iinclude -Isrc $(WARN) -fno-finite-math-only -ffp-contract=off
AVX2_FLAGS   := -mavx2 -mfma -mf16c
# A kernel file's suffix names the extensions it is built for; dispatch.c
# registers its kernels only on CPUs that have them all.
AVX512_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq
AMX_FLAGS    := $(AVX512_FLAGS) -mamx-tile -mamx-int8
LDLIBS  := -lm -pthread

# Engine core: libc, libm, pthreads only. The server (libmicrohttpd + cJSON)
# is linked into the CLI only.
CORE_DIRS := gguf formats kernels runtime tokenizer models kv sample spec eval chat api
CORE_SRC  := $(sort $(foreach d,$(CORE_DIRS),$(wildcard src/$(d)/*.c)))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
SERVER_SRC := $(sort $(wildcard src/server/*.c))
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(sort $(wildcard tools/ember/*.c))
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

HAVE_SERVER := $(shell test -f /usr/include/microhttpd.h && test -f /usr/include/cjson/cJSON.h && echo 1)
ifeq ($(HAVE_SERVER),1)
  SERVER_LIBS := -lmicrohttpd -lcjson
  TOOL_DEFS := -DEMBER_HAVE_SERVER=1
else
  SERVER_OBJ :=
  SERVER_LIBS :=
  TOOL_DEFS :=
endif

.PHONY: all test asan fuzz clean check-tools demo
EMBER_OUT ?= ember
all: $(EMBER_OUT) $(BUILD)/libember.a $(BUILD)/libember.so

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(AVX2_FLAGS) -MMD -c $< -o $@
$(BUILD)/%_avxvnni.o: %_avxvnni.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(AVX2_FLAGS) -mavxvnni -MMD -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(AVX512_FLAGS) -MMD -c $< -o $@
$(BUILD)/%_avx512vnni.o: %_avx512vnni.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(AVX512_FLAGS) -mavx512vnni -MMD -c $< -o $@
$(BUILD)/%_avx512bf16.o: %_avx512bf16.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(AVX512_FLAGS) -mavx512bf16 -MMD -c $< -o $@
$(BUILD)/%_amx.o: %_amx.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(AMX_FLAGS) -MMD -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(TOOL_DEFS) -MMD -c $< -o $@
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) -MMD -c $< -o $@

$(BUILD)/libember.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libember.so: $(CORE_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS)

$(EMBER_OUT): $(TOOL_OBJ) $(SERVER_OBJ) $(BUILD)/libember.a
	$(CC) $(CFLAGS) -o $@ $(TOOL_OBJ) $(SERVER_OBJ) $(BUILD)/libember.a $(SERVER_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libember.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) -MMD -o $@ $< $(BUILD)/libember.a $(LDLIBS)

test: all $(TEST_BIN)
	@BUILD=$(BUILD) EMBER=$(abspath $(EMBER_OUT)) sh tests/run.sh

# Whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LDLIBS="-lm -pthread -fsanitize=address,undefined" \
	  EMBER_BIN=./build-asan/ember test-asan
test-asan: $(TEST_BIN) ember-asan
	@BUILD=$(BUILD) EMBER=$(BUILD)/ember sh tests/run.sh
ember-asan: $(TOOL_OBJ) $(SERVER_OBJ) $(BUILD)/libember.a
	$(CC) $(CFLAGS) -o $(BUILD)/ember $(TOOL_OBJ) $(SERVER_OBJ) $(BUILD)/libember.a $(SERVER_LIBS) $(LDLIBS)

# libFuzzer targets (clang only). fuzz_openai parses request bodies with the
# server's parser (openai.c; its request objects live in scheduler.c), so it
# is built only where the server is.
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_SERVER := src/server/openai.c src/server/scheduler.c src/server/metrics.c -lcjson
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libember.a
	@mkdir -p build-fuzz/fuzz
	for f in $(FUZZ_SRC); do \
	  extra=; if [ $$f = fuzz/fuzz_openai.c ]; then [ "$(HAVE_SERVER)" = 1 ] || continue; extra="$(FUZZ_SERVER)"; fi; \
	  clang $(BASE) -O1 -g -fsanitize=fuzzer,address,undefined $$f $$extra build-fuzz/libember.a $(LDLIBS) \
	    -o build-fuzz/fuzz/$$(basename $$f .c) || exit 1; done

demo: all
	@sh tools/demo.sh

clean:
	rm -rf build build-asan build-fuzz ember

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
