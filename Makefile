# rmpi: build, test and install the way HPC users expect.
#   make                 release build of the launcher, libraries and examples
#   make hello           build, then run 5 ranks of the hello example
#   make test            build, then run the whole test suite
#   make install PREFIX=DIR
PREFIX ?= /usr/local
CARGO ?= cargo
RELEASE := target/release

.PHONY: all build hello test install clean bench

all: build

build:
	$(CARGO) build --release --workspace --bins --examples

hello: build
	$(RELEASE)/rmpirun -n 5 $(RELEASE)/examples/hello

test: build
	$(CARGO) test --release --workspace

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(RELEASE)/rmpirun $(DESTDIR)$(PREFIX)/bin/rmpirun
	ln -sf rmpirun $(DESTDIR)$(PREFIX)/bin/mpiexec
	ln -sf rmpirun $(DESTDIR)$(PREFIX)/bin/mpirun

bench: build
	benches/pingpong.sh

clean:
	$(CARGO) clean
