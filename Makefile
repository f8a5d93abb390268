# Thin wrapper: the two commands of the README plus build helpers.
#   make demo   - install missing packages, build, run the live demo (Ctrl-C stops it)
#   make test   - install missing packages, build (normal + ASan/UBSan), run every test
#                 (and each fuzz target for a few seconds when clang is installed)
#   make fuzz   - run each libFuzzer target for FUZZ_SECONDS (default 600) seconds
#   make config-doc - rewrite docs/config.md's key tables from src/config/keys_*.c
#   make build-pgo  - the release build: profile-guided (gcc), in build-pgo/
#                     (scripts/build-pgo.sh; what the container image ships)
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600

.PHONY: all deps build build-pgo build-asan build-fuzz demo test unit bench fuzz clean config-doc

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

build-pgo: deps
	@bash scripts/build-pgo.sh build-pgo -DCMAKE_BUILD_TYPE=RelWithDebInfo

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKS_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

# The fuzz targets (tests/fuzz/) need clang, which deps.sh installs; without it
# they are skipped with a note rather than failing the build.
build-fuzz: deps
	@if command -v clang >/dev/null 2>&1; then \
	  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKS_FUZZ=ON >/dev/null && \
	  cmake --build build-fuzz -j $(JOBS); \
	else echo "clang not installed: fuzz targets skipped"; fi

fuzz: build-fuzz
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

demo: build
	@bash scripts/demo.sh

test: build build-asan build-fuzz
	@cd build && ctest --output-on-failure -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	@if [ -f build-fuzz/CTestTestfile.cmake ]; then cd build-fuzz && ctest --output-on-failure -j 1; fi

config-doc: build
	@cmake --build build --target config-doc

bench: build
	@bash bench/run.sh

clean:
	rm -rf build build-pgo build-asan build-fuzz
