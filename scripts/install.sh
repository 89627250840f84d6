#!/usr/bin/env bash
# install.sh install ROOT BUILT [PREFIX] | uninstall ROOT
# ROOT is DESTDIR+PREFIX (PREFIX, default ROOT, is where the unit file says lockstat is). What install writes is listed in ROOT/share/lockstat/installed-files,
# so uninstall removes exactly that. A config already at ROOT/etc/lockstat/lockstat.config is
# never overwritten; uninstall leaves a config whose contents differ from the shipped default.
set -euo pipefail
cd "$(dirname "$0")/.."
action=$1 root=$2
manifest="$root/share/lockstat/installed-files"
config="$root/etc/lockstat/lockstat.config"

put() { # put MODE SOURCE_FILE DEST
    install -D -m "$1" "$2" "$3"
    echo "$3" >> "$manifest.new"
}

case "$action" in
install)
    built=$3
    # Folders this install creates (or an earlier one did) are ours to remove again.
    dirs="bin etc etc/lockstat share share/lockstat share/lockstat/modules share/man share/man/man1 share/bash-completion share/bash-completion/completions
          share/zsh share/zsh/site-functions share/fish share/fish/vendor_completions.d lib lib/systemd lib/systemd/system"
    created=$( { for d in $dirs; do [ -d "$root/$d" ] || echo "dir $root/$d"; done
                 up=$root; while [ -n "$up" ] && [ ! -d "$up" ]; do echo "dir $up"; up=${up%/*}; done
                 [ -f "$manifest" ] && grep '^dir ' "$manifest" || true; } | sort -u)
    mkdir -p "$root/share/lockstat"
    printf '%s\n' "$created" | grep -v '^$' > "$manifest.new" || true
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for tool in lockstat lockstat-run; do
        put 755 "$built/$tool" "$root/bin/$tool"
        "$built/$tool" --generate-completion-script bash > "$tmp/$tool.bash"
        "$built/$tool" --generate-completion-script zsh > "$tmp/_$tool"
        "$built/$tool" --generate-completion-script fish > "$tmp/$tool.fish"
        put 644 "$tmp/$tool.bash" "$root/share/bash-completion/completions/$tool"
        put 644 "$tmp/_$tool" "$root/share/zsh/site-functions/_$tool"
        put 644 "$tmp/$tool.fish" "$root/share/fish/vendor_completions.d/$tool.fish"
        put 644 "man/$tool.1" "$root/share/man/man1/$tool.1"
    done
    # serve's systemd unit (not enabled); PREFIX/lib/systemd/system is on systemd's unit path.
    sed "s|@PREFIX@|${4:-$root}|g" systemd/lockstat-serve.service.in > "$tmp/lockstat-serve.service"
    put 644 "$tmp/lockstat-serve.service" "$root/lib/systemd/system/lockstat-serve.service"
    # The example drop-in modules, on the default module path of the installed tool.
    put 644 modules/meminfo.py "$root/share/lockstat/modules/meminfo.py"
    put 755 modules/loadavg "$root/share/lockstat/modules/loadavg"
    "$built/lockstat" config --default > "$tmp/lockstat.config"
    if [ -e "$config" ]; then
        echo "keeping $config (not overwritten)"
        # Ours if an earlier install put it there.
        if [ -f "$manifest" ] && grep -qxF "$config" "$manifest"; then echo "$config" >> "$manifest.new"; fi
    else
        put 644 "$tmp/lockstat.config" "$config"
    fi
    cp "$tmp/lockstat.config" "$root/share/lockstat/default.config"
    echo "$root/share/lockstat/default.config" >> "$manifest.new"
    echo "$manifest" >> "$manifest.new"
    mv "$manifest.new" "$manifest"
    echo "installed into $root ($(wc -l < "$manifest") files)"
    ;;
uninstall)
    [ -f "$manifest" ] || { echo "uninstall: $manifest: no lockstat installation there" >&2; exit 1; }
    kept=$(mktemp)
    cp "$manifest" "$kept"
    while IFS= read -r file; do
        case "$file" in dir\ *) continue ;; esac
        if [ "$file" = "$config" ] && ! cmp -s "$file" "$root/share/lockstat/default.config"; then
            echo "keeping $config: it was edited"
            continue
        fi
        rm -f "$file"
    done < "$kept"
    # The folders install made, deepest first, when they are empty now.
    grep '^dir ' "$kept" | cut -c5- | sort -r | while IFS= read -r dir; do rmdir "$dir" 2>/dev/null || true; done
    rm -f "$kept"
    echo "uninstalled from $root"
    ;;
*)
    echo "usage: $0 install ROOT BUILT [PREFIX] | uninstall ROOT" >&2
    exit 2
    ;;
esac
