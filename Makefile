# make [install|uninstall] [PREFIX=/usr/local] [DESTDIR=]
#   install    release build; lockstat and lockstat-run in PREFIX/bin, bash/zsh/fish completions,
#              man pages, the example drop-in modules (PREFIX/share/lockstat/modules), and
#              PREFIX/etc/lockstat/lockstat.config unless one is there already, and serve's systemd
#              unit PREFIX/lib/systemd/system/lockstat-serve.service (not enabled)
#   uninstall  removes exactly what install put there (listed in PREFIX/share/lockstat/installed-files)
#   man        regenerates man/*.1 from the command definitions (swift-argument-parser's plugin)
# BUILT=DIR installs binaries built elsewhere (e.g. BUILT=.build/debug) without building.
PREFIX ?= /usr/local
DESTDIR ?=
BUILT ?=

.PHONY: all build install uninstall man

all: build

build:
	swift build -c release --product lockstat
	swift build -c release --product lockstat-run

install: $(if $(BUILT),,build)
	scripts/install.sh install "$(DESTDIR)$(PREFIX)" "$(if $(BUILT),$(BUILT),.build/release)" "$(PREFIX)"

uninstall:
	scripts/install.sh uninstall "$(DESTDIR)$(PREFIX)"

man:
	swift package --allow-writing-to-package-directory generate-manual
	mkdir -p man
	cp .build/plugins/GenerateManual/outputs/lockstat/lockstat.1 .build/plugins/GenerateManual/outputs/lockstat-run/lockstat-run.1 man/
