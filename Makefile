# Bron - build, run and test. `make run` and `make check` are the two commands
# a new user needs (README.md); both install missing Debian packages first.

CC      ?= cc
BUILD   ?= release
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
DEPFLAGS = -MMD -MP
PKGS     = libmicrohttpd jansson sqlite3 libpq libcurl zlib libcrypto gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ifeq ($(BUILD),asan)
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDSAN = -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
  # libFuzzer instrumentation (clang only; tests/fuzz/run.sh builds with CC=clang-14)
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  LDSAN = -fsanitize=address,undefined
else ifeq ($(BUILD),debug)
  OPT = -O0 -g
else
  OPT = -O2 -g
endif

CFLAGS  += $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) -Isrc $(DEPFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm
LDFLAGS += $(LDSAN)

OUT      = build/$(BUILD)
LIB_SRC  = $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(OUT)/%.o)
MAIN_OBJ = $(OUT)/src/cli/main.o
UNIT_SRC = $(wildcard tests/unit/*/test_*.c)
UNIT_BIN = $(UNIT_SRC:%.c=$(OUT)/%)
BIN      = $(if $(filter release,$(BUILD)),bron,$(OUT)/bron)

.PHONY: all deps run check test unit api bench fuzz soak clean lint regen torture

all: $(BIN) $(UNIT_BIN)

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libbron.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(OUT)/libbron.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/tests/unit/%: tests/unit/%.c $(OUT)/libbron.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(OUT)/libbron.a $(LDLIBS) -lcmocka

deps:
	@tools/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@[ -f keys/jwks.json ] || ./bron keygen --dir keys >/dev/null
	@[ -f keys/data.key ] || ./bron keygen --data-key keys/data.key >/dev/null
	@echo "Bron needs a bearer token on every request. Mint one for development with:"
	@echo "  ./bron token --key keys/signing-key.pem --sub me --scope 'user/*.cruds'"
	@echo "and send it as 'Authorization: Bearer <token>'."
	@echo "The store in ./data is encrypted with keys/data.key: without that key it cannot be read."
	./bron serve --data ./data --jwks keys/jwks.json --key-file keys/data.key

# Unit + API tests on the release build, then again under ASan/UBSan.
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=asan all
	@tests/run.sh

unit: all
	@tests/run.sh unit

# The crash harness with many kills (CRASH_KILLS, default 500) on both
# engines: docs/robustness.md.
torture: deps
	@$(MAKE) --no-print-directory all
	@tests/torture.sh

api: all
	@tests/run.sh api

bench: deps all
	@bench/run.sh

# Sustained load: 30 minutes of mixed load at 16 connections on loopback
# (SOAK_MINUTES, SOAK_CONNECTIONS, SOAK_INTERVAL, SOAK_STORE; tests/soak/soak.sh).
soak: deps
	@$(MAKE) --no-print-directory all
	@tests/soak/soak.sh

fuzz: deps
	@tests/fuzz/run.sh

lint:
	clang-format --dry-run --Werror $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]' | grep -v model_tables)
	cppcheck --quiet --error-exitcode=1 --enable=warning --std=c11 --suppress=unknownMacro -Isrc src

regen:
	python3 tools/gen_model.py ../shared/data/fhir-r4 src/model

clean:
	rm -rf build bron

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

# ---- FHIRPath tools (issue 3): tests/tools/fhirpath_*.c -> build/<b>/tests/tools/
# The official-suite runner reads the suite XML with libxml2; the benchmark
# driver (fhirpath_bench) needs only libbron. Built by `all`.
FP_TOOL_SRC = $(wildcard tests/tools/fhirpath_*.c)
FP_TOOL_BIN = $(FP_TOOL_SRC:%.c=$(OUT)/%)
XML_CFLAGS := $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
XML_LIBS   := $(shell pkg-config --libs libxml-2.0 2>/dev/null)

all: $(FP_TOOL_BIN)

$(OUT)/tests/tools/%: tests/tools/%.c $(OUT)/libbron.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XML_CFLAGS) $(LDFLAGS) -o $@ $< $(OUT)/libbron.a $(LDLIBS) $(XML_LIBS)

# ---- fuzz targets without libFuzzer (issue 10): build/<b>/tests/fuzz/replay_<name>
# runs tests/fuzz/fuzz_<name>.c on files (tests/suites/fuzz-replay.sh replays
# the seeds and every regression input). `make fuzz` fuzzes them (clang).
FUZZ_TARGET_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY_BIN = $(FUZZ_TARGET_SRC:tests/fuzz/fuzz_%.c=$(OUT)/tests/fuzz/replay_%)

ifneq ($(BUILD),fuzz)
all: $(FUZZ_REPLAY_BIN)
endif

$(OUT)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/server.h tests/fuzz/tmpdir.h $(OUT)/libbron.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/fuzz $(LDFLAGS) -o $@ tests/fuzz/replay.c $< $(OUT)/libbron.a $(LDLIBS)
