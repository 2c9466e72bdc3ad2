# kinesis: Kinesis-style data streams inside PostgreSQL.
#
#   make demo    installs what is missing, builds, shows streams working
#   make check   installs what is missing, builds, runs every test suite
#   make bench   measures throughput against plain tables and PgQ
#
# The usual PGXS targets (all, install, clean) work as for any extension.

EXTENSION = kinesis
EXTVERSION = 0.3.0

MODULE_big = kinesis
OBJS = \
	src/kinesis.o \
	src/guc.o \
	src/validate.o \
	src/hashkey.o \
	src/seqno.o \
	src/stable.o \
	src/catalog.o \
	src/spi.o \
	src/control.o \
	src/iterator.o \
	src/put.o \
	src/get.o \
	src/throttle.o \
	src/metrics.o \
	src/buffer.o \
	src/maintenance.o \
	src/reshard.o \
	src/autoscale.o \
	src/consumer.o \
	src/application.o \
	src/shmem.o \
	src/launcher.o \
	src/worker.o

# the scripts of released versions, frozen, and the upgrades between them
DATA = sql/$(EXTENSION)--0.1.0.sql sql/$(EXTENSION)--0.2.0.sql $(wildcard sql/*--*--*.sql)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = results regression.diffs regression.out output_iso tmp_check log

# -Wno-unused-parameter: PostgreSQL's own headers (ilist.h, bufpage.h) and
# callback signatures trip it; everything else of -Wextra stays on.
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

# The wrapper targets run before PostgreSQL's development files may exist,
# so PGXS is included only for the other goals.
WRAPPERS = demo check bench deps
ifeq ($(filter $(WRAPPERS),$(MAKECMDGOALS)),)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@
else
.PHONY: $(WRAPPERS)

deps:
	@bash scripts/deps.sh

check: deps
	@bash scripts/build.sh
	@bash scripts/test.sh

demo: deps
	@bash scripts/build.sh
	@bash scripts/demo.sh

bench: deps
	@bash scripts/build.sh
	@bash scripts/bench.sh
endif
