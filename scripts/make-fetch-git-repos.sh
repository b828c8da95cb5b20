#!/usr/bin/env bash
# Creates the git repositories that testprojects/fetch's git sources fetch from, in DEST:
#   DEST/sub.git   one commit with sub.txt
#   DEST/main.git  "first" (tagged v1.0, annotated), then "second" adding a submodule lib/sub
#                  (its .gitmodules URL is a placeholder: the elements override it)
# Authors, dates and messages are fixed, so the commit names are the same on every machine
# (the refs in testprojects/fetch/elements depend on them).
# Usage: scripts/make-fetch-git-repos.sh DEST
set -euo pipefail
dest=$1
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL="committer@example.com"
export GIT_AUTHOR_DATE="2020-01-01T00:00:00+0000" GIT_COMMITTER_DATE="2020-01-01T00:00:00+0000"
export GIT_CONFIG_NOSYSTEM=1 HOME="$dest/.home"
mkdir -p "$HOME"
git_() { git -c init.defaultBranch=main -c core.autocrlf=false -c commit.gpgsign=false -c tag.gpgsign=false "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git_ init -q "$work/sub"
printf 'from the submodule\n' > "$work/sub/sub.txt"
git_ -C "$work/sub" add sub.txt
git_ -C "$work/sub" commit -q -m "sub"
sub_commit=$(git -C "$work/sub" rev-parse HEAD)

git_ init -q "$work/main"
printf 'version one\n' > "$work/main/file.txt"
printf '#!/bin/sh\necho hi\n' > "$work/main/run.sh"
chmod +x "$work/main/run.sh"
ln -s file.txt "$work/main/link.txt"
git_ -C "$work/main" add file.txt run.sh link.txt
git_ -C "$work/main" commit -q -m "first"
git_ -C "$work/main" tag -a v1.0 -m "version 1.0"

export GIT_AUTHOR_DATE="2020-01-02T00:00:00+0000" GIT_COMMITTER_DATE="2020-01-02T00:00:00+0000"
printf 'version two\n' > "$work/main/file.txt"
printf '[submodule "sub"]\n\tpath = lib/sub\n\turl = https://example.invalid/sub.git\n' > "$work/main/.gitmodules"
git_ -C "$work/main" add file.txt .gitmodules
git_ -C "$work/main" update-index --add --cacheinfo "160000,$sub_commit,lib/sub"
git_ -C "$work/main" commit -q -m "second"

rm -rf "$dest/sub.git" "$dest/main.git"
git_ clone -q --bare "$work/sub" "$dest/sub.git"
git_ clone -q --bare "$work/main" "$dest/main.git"
rm -rf "$HOME"
echo "sub   $sub_commit"
echo "v1.0  $(git -C "$dest/main.git" rev-parse 'v1.0^{commit}')"
echo "main  $(git -C "$dest/main.git" rev-parse main)"
