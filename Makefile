# xai: one command each for set-up, build, tests, the demo and the benchmarks.
#   make demo   installs what is missing, builds, runs the main job on the bundled default
#   make test   installs what is missing (and Chromium, for the report's browser test), builds,
#               runs every test
#   make fuzz   installs clang if missing, builds the libFuzzer targets in build-fuzz/, runs each
#               for FUZZ_SECONDS (20); fails on any crash, sanitizer report, timeout or leak
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
XAI := $(BUILD_DIR)/xai

.PHONY: all deps configure build test demo bench fuzz clean format

all: build

deps:
	@scripts/deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@scripts/deps.sh browser
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: build
	rm -rf out/demo
	$(XAI) run configs/demo.yaml
	$(XAI) report out/demo
	$(XAI) explain --model datasets/toy/models/toy_gpt2 --target " Rome" --prompt "$$(printf \
	  'Mara lives in Oslo. Ben works in Lima. Mara works in Rome.\nQuestion: Where does Mara work?\nAnswer:')"
	$(XAI) explain --model datasets/toy/models/toy_gpt2 --generate 3 --granularity sentence \
	  --set kappa=off --prompt "$$(printf \
	  'Mara lives in Oslo. Ben works in Lima. Mara works in Rome.\nQuestion: Where does Mara work?\nAnswer:')"

bench: build
	scripts/bench.sh $(BUILD_DIR)

# Its own build (clang, ASan + UBSan, no LibTorch), so it never touches $(BUILD_DIR).
fuzz:
	@scripts/deps.sh fuzz
	scripts/fuzz.sh

clean:
	rm -rf $(BUILD_DIR)

format:
	find framework methods datasets tests -name '*.cpp' -o -name '*.h' | xargs clang-format -i
