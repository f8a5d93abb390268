# Thin wrapper: the two commands of the README plus build helpers.
#   make demo   - install missing packages, build, run the live demo (Ctrl-C stops it)
#   make test   - install missing packages, build (normal + ASan/UBSan), run every test
JOBS ?= $(shell nproc)

.PHONY: all deps build build-asan demo test unit bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKS_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

demo: build
	@bash scripts/demo.sh

test: build build-asan
	@cd build && ctest --output-on-failure -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@bash bench/run.sh

clean:
	rm -rf build build-asan
