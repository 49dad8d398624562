# facepart: `make demo` and `make test` set everything up on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.facepart-installed
# Headless OpenGL (OSMesa and Mesa EGL) for pyrender and moderngl, libGL/glib for OpenCV; the correction viewer
# (Open3D's GUI on Vulkan, software Mesa without a GPU; libusb for `import open3d`) and its test (Xvfb, xdotool);
# Chromium for the report page's test.
APT_PACKAGES := libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libgl1 libglib2.0-0 \
	xvfb xdotool libvulkan1 mesa-vulkan-drivers libusb-1.0-0 chromium
ICT_MODEL ?= $(abspath ../shared/models/ict-facekit/FaceXModel)
OUT ?= out
BENCH_ARGS ?=

.PHONY: setup system-deps demo test bench clean

setup: system-deps $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "Missing Debian packages for headless rendering. Run:"; \
	  echo "  sudo apt-get install -y $$missing"; \
	  exit 1; \
	fi

$(STAMP): requirements.txt setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q "PyOpenGL==3.1.10"
	$(PY) -m pip install -q --no-deps -e .
	touch $@

demo: setup
	$(VENV)/bin/facepart annotate demo --segmenter mediapipe --out $(OUT)/demo
	@echo "The demo annotation is in $(OUT)/demo (annotation.npz, parts.json, preview.png)."

test: setup
	FACEPART_ICT_MODEL=$(ICT_MODEL) $(PY) -m pytest

# make bench: facepart against a straightforward Algorithm 1 (issue 12), a short run (40 variants: worker
# start-up shows) and a longer one (200); about 10 minutes on 2 cores. E.g. make bench BENCH_ARGS=--quick
bench: setup
	FACEPART_ICT_MODEL=$(ICT_MODEL) $(PY) benchmarks/annotate_speed.py --variants 40 $(BENCH_ARGS)
	FACEPART_ICT_MODEL=$(ICT_MODEL) $(PY) benchmarks/annotate_speed.py --variants 200 $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
