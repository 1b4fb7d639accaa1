# Everyday commands. `make demo` runs the whole story locally; `make test`
# runs every check and test (what CI runs).
SHELL := /bin/bash
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
# The project's tools (scripts/tools.sh): .venv, then the shared tools location.
MSK_DLQ_TOOLS ?= $(HOME)/.cache/msk-dlq/tools
export PATH := $(CURDIR)/.venv/bin:$(MSK_DLQ_TOOLS)/tansu-0.6.0/bin:$(MSK_DLQ_TOOLS)/bin:$(PATH)
EVENT ?= events/msk-mixed.json

.PHONY: dev fresh-check demo test up down status build lint fmt bench events watch invoke invoke-local glibc-check deploy logs invoke-remote clean

demo: ## The main job end to end on a local stack
	scripts/demo.sh

test: ## All checks and tests (installs what is missing)
	scripts/test.sh

dev: ## Your function + the local stack + the ESM emulator, rebuilt on change (FUNCTION=, PACKAGE=, TOPICS=)
	scripts/dev.sh

fresh-check: ## .ci/run in a clean clone with no project tools installed (cold, 30-45 min)
	scripts/fresh-check.sh

up: ## Start the local stack (Kafka + SQS/SNS/S3 on loopback)
	scripts/install.sh stack
	MSK_DLQ_STACK_TOPICS="shop.orders-v1:3 orders-dlq:3 orders-parking-lot:1" scripts/stack.sh up
	@eval "$$(scripts/stack.sh env)" && .venv/bin/python scripts/demo_resources.py
	@scripts/stack.sh env

down: ## Stop the local stack
	scripts/stack.sh down

status:
	scripts/stack.sh status

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p msk-dlq
	scripts/check-template.sh

bench-compare: ## Side by side with Powertools: same event, same Runtime API, same run
	scripts/bench-compare.sh

bench: ## Throughput benchmarks (criterion), then the in-process targets interleaved
	cargo bench -p msk-dlq --bench batch
	cargo bench -p msk-dlq --bench roofline

events: ## Regenerate the sample events
	python3 scripts/make_sample_events.py

invoke-local: ## Run the consumer once with $(EVENT) (no cargo-lambda needed)
	cargo build -q -p consumer -p lambda-emulator
	$(TARGET_DIR)/debug/lambda-emulator --verbose --name orders-consumer --event $(EVENT) -- $(TARGET_DIR)/debug/consumer

watch: ## cargo lambda's local runtime (then: make invoke)
	scripts/install.sh lambda
	cargo lambda watch

invoke: ## Invoke the function running under `make watch` with $(EVENT)
	cargo lambda invoke consumer --data-file $(EVENT)

build: ## Release bootstrap binaries for x86_64 (zig-linked, old glibc) + glibc check
	scripts/install.sh lambda
	cargo lambda build --release --bins -p consumer -p reprocessor
	scripts/glibc-check.sh $(TARGET_DIR)/lambda

glibc-check:
	scripts/glibc-check.sh $(TARGET_DIR)/lambda

deploy: build ## sam build (cargo lambda) + sam deploy --guided
	scripts/install.sh lint
	sam build --beta-features
	sam deploy --guided

logs: ## Tail the consumer's logs on AWS
	sam logs --stack-name $${STACK:-msk-dlq} --name ConsumerFunction --tail

invoke-remote: ## Invoke the deployed consumer with $(EVENT)
	sam remote invoke ConsumerFunction --stack-name $${STACK:-msk-dlq} --event-file $(EVENT)

clean:
	scripts/stack.sh down || true
	rm -rf .stack
