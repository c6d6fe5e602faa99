# CrossBridge: the two commands a newcomer needs, plus a few helpers.
#   make run    install missing Debian packages, build, start the server
#   make test   install missing Debian packages, build, run the whole suite
#               (ctest, then every fuzz target for a few seconds)
#   make install PREFIX=/opt/crossbridge
#               build, then install the server, the CLI and the SDK (static
#               libraries, headers, CMake package, crossbridge.pc) under
#               PREFIX (default /usr/local)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CMAKE_FLAGS ?=
RUN_ARGS ?=
PREFIX ?= /usr/local
# libFuzzer: seconds per target for `make fuzz`, and for the short run
# `make test` ends with.
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 5
FUZZ_BUILD_DIR ?= build-fuzz

.PHONY: all deps configure build run install test bench asan tsan fuzz fuzz-build soak clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/server/crossbridge-server $(RUN_ARGS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# The four libFuzzer targets (tests/fuzz), built with clang-14 and
# ASan+UBSan in their own build directory, each run for FUZZ_SECONDS from
# the seeds in tests/fuzz/corpus/ (scripts/fuzz.sh).
fuzz-build: deps
	@cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DCROSSBRIDGE_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzzers

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

# Load benchmark (not part of ctest): no-op gRPC floor, memory store, Redis
# store, the Lua script on Redis directly, the npm peer rate-limiter-flexible
# (installed into $(BUILD_DIR)/bench-node), the C++ SDK; then the exactness
# check (exits 1 if a contender admits more than its rule). Knobs:
# BENCH_CONCURRENCY, BENCH_DURATION_S, BENCH_KEYS, BENCH_COST (bench/README.md).
bench: build
	bench/run.sh $(BUILD_DIR)

# Both backends at half their peak for SOAK_MINUTES (default 30), Redis
# restarted every 5 minutes, RSS slope printed (bench/soak.sh). Not part of
# make test.
SOAK_MINUTES ?= 30
soak: build
	SOAK_MINUTES=$(SOAK_MINUTES) bench/soak.sh $(BUILD_DIR)

# Sanitizer suites, each in its own build directory.
asan:
	$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DCROSSBRIDGE_ASAN=ON

tsan:
	$(MAKE) test BUILD_DIR=build-tsan BUILD_TYPE=Debug CMAKE_FLAGS=-DCROSSBRIDGE_TSAN=ON

clean:
	rm -rf build build-asan build-tsan $(FUZZ_BUILD_DIR)
