# sublens — the two commands a newcomer runs are `make demo` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all bootstrap configure build demo test bench format asan clean

all: build

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	$(BUILD_DIR)/bin/sublens demo -o sublens-demo

# Every test: the Release build's ctest (unit tests, CLI tests driven by Debian's numpy/scipy,
# pytest), then the I/O tests and a bounded fuzz run under AddressSanitizer + UBSan.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory asan

# The io tests and the parsers' fuzz targets, built with clang + ASan + UBSan.
asan: bootstrap
	@CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSUBLENS_SANITIZE=ON -DSUBLENS_FUZZ=ON -DSUBLENS_ASAN_ONLY_IO=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -j $(JOBS) -L io

bench: build
	@bench/run_all.sh $(BUILD_DIR)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-asan
