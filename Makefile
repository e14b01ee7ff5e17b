# The two commands of the quick start:
#   make demo   installs what is missing, builds bin/crd and runs the built-in demo end to end
#   make test   installs what is missing and runs the whole test suite (what CI runs)
.PHONY: setup build demo test bench cbench clean

setup:
	scripts/setup.sh

build:
	go build -o bin/crd ./cmd/crd

demo: setup
	bin/crd demo

test: setup
	scripts/test.sh

# The C benchmark harnesses of the AVX-512 kernels (amd64, gcc): bin/cbench [threads] [reps] and bin/cbench-bf16 [reps].
cbench:
	internal/avx512/cbench/build.sh bin/cbench

clean:
	rm -rf bin
