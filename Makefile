# The two commands of the README's quick start.
.PHONY: demo test setup bench

demo:            ## set everything up and start the demo (SQLite, plant simulator, web app)
	scripts/demo.sh

test:            ## set everything up and run the whole test suite (SQLite and PostgreSQL)
	scripts/test.sh

setup:
	scripts/bootstrap.sh

bench:           ## run every benchmark and print its table
	.venv/bin/python -m benchmarks
