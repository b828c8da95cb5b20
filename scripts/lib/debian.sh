# shellcheck shell=bash
# Helpers shared by the set-up scripts (sourced, not run). Debian/apt only.
#
# No registry host is named here on purpose: the Debian mirror is derived at run time from the
# machine's own apt sources (or given in BST_RS_DEBIAN_MIRROR).

# log MESSAGE...: progress on stderr, so that stdout stays machine-readable.
log() { printf '%s: %s\n' "${LOG_TAG:-setup}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# debian_mirror: prints the URI of the Debian archive the machine's apt already uses,
# e.g. http://<mirror>/debian. Looks at deb822 .sources files first (debian.sources before the
# others), then one-line .list files. A source counts when it is a `deb` source with the `main`
# component, its URI is http(s)/file, and its suites are the machine's release (bookworm,
# bookworm-updates, ...) or a Debian suite name, never a -security one.
debian_mirror() {
    if [ -n "${BST_RS_DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "${BST_RS_DEBIAN_MIRROR%/}"
        return 0
    fi
    local codename="" files=() f
    if [ -r /etc/os-release ]; then
        codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    fi
    [ -r /etc/apt/sources.list.d/debian.sources ] && files+=(/etc/apt/sources.list.d/debian.sources)
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] && [ "$f" != /etc/apt/sources.list.d/debian.sources ] && files+=("$f")
    done
    [ -r /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 1
    local uri
    uri=$(awk -v codename="$codename" '
        function debian_suite(s) {
            if (s ~ /-security$/ || s ~ /\/updates$/) return 0
            sub(/-(updates|backports|proposed-updates)$/, "", s)
            if (codename != "" && s == codename) return 1
            return s ~ /^(stable|testing|unstable|sid|oldstable|buster|bullseye|bookworm|trixie|forky|duke)$/
        }
        function good_uri(u) { return u ~ /^(https?|file):/ }
        function has_main(list,   n, a, i) {
            n = split(list, a, /[ \t]+/)
            for (i = 1; i <= n; i++) if (a[i] == "main") return 1
            return 0
        }
        function flush(   n, a, i, m, su, u) {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && has_main(comps)) {
                n = split(suites, a, /[ \t]+/)
                for (i = 1; i <= n; i++) if (a[i] != "" && debian_suite(a[i])) {
                    m = split(uris, su, /[ \t]+/)
                    for (u = 1; u <= m; u++) if (good_uri(su[u])) { print su[u]; found = 1; exit }
                }
            }
            types = uris = suites = comps = enabled = ""
        }
        FNR == 1 { if (deb822) flush(); deb822 = (FILENAME ~ /\.sources$/) }
        deb822 && /^[ \t]*#/ { next }
        deb822 && /^[ \t]*$/ { flush(); next }
        deb822 {
            line = $0; key = tolower(line); sub(/:.*/, "", key); val = line; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "components") comps = val
            else if (key == "enabled") enabled = tolower(val)
            next
        }
        /^[ \t]*deb[ \t]/ {
            line = $0; sub(/#.*/, "", line); sub(/^[ \t]*deb[ \t]+/, "", line)
            if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
            n = split(line, w, /[ \t]+/)
            if (n >= 3 && good_uri(w[1]) && debian_suite(w[2])) {
                c = ""; for (i = 3; i <= n; i++) c = c " " w[i]
                if (has_main(c)) { print w[1]; found = 1; exit }
            }
        }
        END { if (!found && deb822) flush() }
    ' "${files[@]}") || true
    [ -n "$uri" ] || return 1
    printf '%s\n' "${uri%/}"
}

# apt_install PACKAGE...: installs the packages with apt-get (updating the package lists once
# if the first attempt fails). Needs root.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; please install: $*"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install: $* (install them, or run as root)"
    log "apt-get install $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
    fi
}

# retry N COMMAND...: runs COMMAND up to N times, 5 s apart.
retry() {
    local n=$1 i=1
    shift
    until "$@"; do
        [ "$i" -ge "$n" ] && return 1
        log "$1 failed (attempt $i of $n); retrying in 5 s"
        i=$((i + 1))
        sleep 5
    done
}

# bst_rs_cache: the bst-rs cache directory, shared by every clone of the repository.
bst_rs_cache() { printf '%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}/bst-rs"; }
