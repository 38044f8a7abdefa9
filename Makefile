# Secret Sharer: the two commands.
#   make run   starts crypto, storage and the gateway with the page on http://127.0.0.1:8080
#              (embedded defaults; DATABASE_URL=postgres://... stores in PostgreSQL).
#   make test  runs every test: lint, unit, storage contract, end to end, browser, deploy checks.

.PHONY: run test bench

run:
	@scripts/run.sh || [ $$? -eq 130 ] # Ctrl-C is how it ends: not an error

test:
	scripts/test.sh

# Throughput and memory of the whole system (release, mTLS, PostgreSQL); prints figures.
bench:
	scripts/bench.sh
