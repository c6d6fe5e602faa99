# CrossBridge: the two commands a newcomer needs, plus a few helpers.
#   make run    install missing Debian packages, build, start the server
#   make test   install missing Debian packages, build, run the whole suite
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CMAKE_FLAGS ?=
RUN_ARGS ?=

.PHONY: all deps configure build run test bench asan tsan clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/server/crossbridge-server $(RUN_ARGS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300

# Load benchmark (not part of ctest): no-op gRPC floor, memory store, Redis
# store, the Lua script on Redis directly. Knobs: BENCH_CONCURRENCY,
# BENCH_DURATION_S, BENCH_KEYS, BENCH_COST (bench/README.md).
bench: build
	bench/run.sh $(BUILD_DIR)

# Sanitizer suites, each in its own build directory.
asan:
	$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DCROSSBRIDGE_ASAN=ON

tsan:
	$(MAKE) test BUILD_DIR=build-tsan BUILD_TYPE=Debug CMAKE_FLAGS=-DCROSSBRIDGE_TSAN=ON

clean:
	rm -rf build build-asan build-tsan
