# shellcheck shell=bash
# Helpers shared by the recorders that run real bst on testprojects/fetch (sourced, not run).

# fetch_project REPO: a scratch copy of testprojects/fetch in "$tmp/project" (`tmp`, a new
# temporary directory, removed on exit), its git repositories in "$tmp/git", and its files
# served over HTTP on 127.0.0.1:$port (the server stopped on exit); project.conf's @HTTP@ and
# @GIT@ point at them.
fetch_project() {
    local repo=$1
    tmp=$(mktemp -d)
    server_pid=
    trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

    cp -r "$repo/testprojects/fetch" "$tmp/project"
    bash "$repo/scripts/make-fetch-git-repos.sh" "$tmp/git" >/dev/null

    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$repo/testprojects/fetch/files" "$port" \
        >/dev/null 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" \
            2>/dev/null && break
        sleep 0.1
    done

    sed -i "s|@HTTP@|http://127.0.0.1:$port|; s|@GIT@|$tmp/git|" "$tmp/project/project.conf"
}
