#!/usr/bin/env bash
# Install a released evalform binary for this runner, verified against the release's SHA256SUMS.
#
# Everything comes from the environment, so the script runs (and is tested) outside GitHub Actions too:
#   EVALFORM_VERSION        a release tag (v0.2.0), a major or minor version (v1, v1.2: its newest release, asked of
#                           GITHUB_API_URL with GITHUB_TOKEN), or `latest`; empty: the action's ref when it is a
#                           version (@v1, @v0.2.0), else `latest`
#   EVALFORM_ACTION_REF     the ref the action was used at (`github.action_ref`), for the empty version above
#   EVALFORM_REPO           owner/name of the evalform repository (default: the action's repository, or the
#                           OWNER/NAME of GITHUB_ACTION_PATH, .../_actions/OWNER/NAME/REF, with REF as the action's ref)
#   EVALFORM_RELEASES_URL   where releases are downloaded from
#                           (default: $GITHUB_SERVER_URL/$EVALFORM_REPO/releases; a file:// URL works too)
#   EVALFORM_INSTALL_DIR    where the binary goes (default: $RUNNER_TOOL_CACHE/evalform/VERSION/TARGET)
#   RUNNER_OS, RUNNER_ARCH  Linux|macOS|Windows, X64|ARM64 (default: from uname)
#   GITHUB_PATH, GITHUB_OUTPUT  the install directory is added to the path and written as output `dir`
#
# Modes: `install.sh` installs; `install.sh --asset` prints the asset name for this runner (empty: no build);
# `install.sh --plan` prints version, target, asset, dir and the cache key, one `key=value` a line.
#
# No release for this runner (or no release at all): falls back to `cargo install --locked --git`. A checksum that
# does not match is never a fallback: the job fails.
set -euo pipefail

die() {
  echo "::error title=evalform install::$*" >&2
  exit 1
}

os="${RUNNER_OS:-$(uname -s)}"
arch="${RUNNER_ARCH:-$(uname -m)}"

# The Rust target of this runner, as the release workflow names its assets; empty when none is built for it.
target_for() {
  case "$1/$2" in
    Linux/X64 | Linux/x86_64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64 | Linux/arm64) echo aarch64-unknown-linux-musl ;;
    macOS/X64 | Darwin/x86_64) echo x86_64-apple-darwin ;;
    macOS/ARM64 | Darwin/arm64 | Darwin/aarch64) echo aarch64-apple-darwin ;;
    Windows/X64 | MINGW*/x86_64 | MSYS*/x86_64 | CYGWIN*/x86_64) echo x86_64-pc-windows-msvc ;;
    *) echo "" ;;
  esac
}

asset_for() {
  case "$1" in
    "") echo "" ;;
    *-windows-*) echo "evalform-$1.zip" ;;
    *) echo "evalform-$1.tar.gz" ;;
  esac
}

target="$(target_for "$os" "$arch")"
asset="$(asset_for "$target")"
exe=evalform
case "$target" in *-windows-*) exe=evalform.exe ;; esac

if [ "${1:-}" = --asset ]; then
  echo "$asset"
  exit 0
fi

repo="${EVALFORM_REPO:-${GITHUB_ACTION_REPOSITORY:-}}"
action_ref="${EVALFORM_ACTION_REF:-${GITHUB_ACTION_REF:-}}"
# `github.action_repository` and `github.action_ref` can be empty inside a composite action; the directory the
# runner checked the action out into says the same: .../_actions/OWNER/NAME/REF.
action_path="${GITHUB_ACTION_PATH:-}"
action_path="${action_path//\\//}"
if [[ "$action_path" =~ _actions/([^/]+)/([^/]+)/([^/]+)/?$ ]]; then
  repo="${repo:-${BASH_REMATCH[1]}/${BASH_REMATCH[2]}}"
  action_ref="${action_ref:-${BASH_REMATCH[3]}}"
fi
if [ -z "$repo" ] && [ -z "${EVALFORM_RELEASES_URL:-}" ]; then
  die "cannot tell which repository evalform is released from: set EVALFORM_REPO=OWNER/evalform"
fi

version="${EVALFORM_VERSION:-}"
if [ -z "$version" ]; then
  # `uses: owner/evalform@v0.2.0` installs v0.2.0, `@v1` the newest v1.x.y; a branch or a commit the latest.
  if [[ "$action_ref" =~ ^v[0-9]+(\.[0-9]+){0,2}([-+].*)?$ ]]; then
    version="$action_ref"
  else
    version=latest
  fi
fi
if [ "$version" != latest ] && [[ "$version" != v* ]]; then
  version="v$version"
fi

# A major (v1) or minor (v1.2) version: the newest published release in it, asked of the GitHub API. When it cannot
# be asked (no jq, no answer), the moving tag itself is built from source below.
if [[ "$version" =~ ^v[0-9]+(\.[0-9]+)?$ ]]; then
  partial="$version"
  if command -v jq >/dev/null 2>&1; then
    auth=()
    if [ -n "${GITHUB_TOKEN:-}" ]; then
      authfile="$(mktemp)"
      (umask 077 && printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN" >"$authfile")
      auth=(-H "@$authfile")
    fi
    answer="$(curl --fail --silent --show-error --location --retry 2 ${auth[@]+"${auth[@]}"} \
      -H "Accept: application/vnd.github+json" \
      "${GITHUB_API_URL:-https://api.github.com}/repos/$repo/releases?per_page=100" 2>&1)" || answer=""
    if [ -n "${authfile:-}" ]; then rm -f "$authfile"; fi
    version="$(jq -r --arg p "$partial." \
      '[.[]? | select((.draft | not) and (.prerelease | not) and (.tag_name | startswith($p)))][0].tag_name // empty' \
      <<<"$answer" 2>/dev/null || true)"
  fi
  if [ -z "$version" ]; then
    echo "evalform: found no release in $partial; building the tag $partial from source" >&2
    version="$partial"
    no_release=1
  else
    echo "evalform: $partial is $version" >&2
  fi
fi

releases="${EVALFORM_RELEASES_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repo/releases}"
if [ "$version" = latest ]; then
  download="$releases/latest/download"
else
  download="$releases/download/$version"
fi
dir="${EVALFORM_INSTALL_DIR:-${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/evalform/$version/${target:-source}}"

case "${1:-}" in
  --plan)
    # Only a full version is cached: `latest` and a moving tag built from source change under the same name.
    cacheable=false
    if [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then cacheable=true; fi
    printf 'version=%s\ntarget=%s\nasset=%s\ndir=%s\nkey=evalform-%s-%s\ncacheable=%s\n' \
      "$version" "$target" "$asset" "$dir" "$version" "${target:-source}" "$cacheable"
    exit 0
    ;;
  "") ;;
  *) die "unknown option $1 (expected --asset or --plan)" ;;
esac

publish() {
  if [ -n "${GITHUB_PATH:-}" ]; then echo "$dir" >>"$GITHUB_PATH"; fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "dir=$dir" >>"$GITHUB_OUTPUT"; fi
  echo "evalform: $("$dir/$exe" --version) in $dir" >&2
}

if [ -x "$dir/$exe" ]; then
  echo "evalform: $version for $target found in the cache" >&2
  publish
  exit 0
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

from_source() {
  echo "evalform: $1; building from source with cargo (this takes minutes)" >&2
  command -v cargo >/dev/null 2>&1 || die "$1, and cargo is not installed to build it"
  [ -n "$repo" ] || die "$1, and EVALFORM_REPO (OWNER/evalform) is not set to build it from"
  local ref=()
  if [ "$version" != latest ]; then ref=(--tag "$version"); fi
  mkdir -p "$dir"
  cargo install --locked --root "$dir/.cargo" --git "${GITHUB_SERVER_URL:-https://github.com}/$repo" ${ref[@]+"${ref[@]}"} evalform-cli
  cp "$dir/.cargo/bin/$exe" "$dir/$exe"
  rm -rf "$dir/.cargo"
  publish
}

if [ -z "$asset" ]; then
  from_source "no release is built for $os/$arch"
  exit 0
fi
if [ -n "${no_release:-}" ]; then
  from_source "no release in $version"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fetch() {
  curl --fail --silent --show-error --location --retry 3 --proto '=https,file,http' -o "$work/$2" "$download/$1"
}

if ! fetch SHA256SUMS SHA256SUMS 2>"$work/err" || ! fetch "$asset" "$asset" 2>>"$work/err"; then
  from_source "no release $version with $asset at $download ($(tr '\n' ' ' <"$work/err"))"
  exit 0
fi

expected="$(awk -v name="$asset" '{ f = $2; sub(/^\*/, "", f) } f == name { print $1; exit }' "$work/SHA256SUMS")"
[ -n "$expected" ] || die "SHA256SUMS of release $version has no line for $asset"
actual="$(sha256 "$work/$asset")"
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $asset of release $version: expected $expected, got $actual"
fi
echo "evalform: $asset verified (sha256 $actual)" >&2

mkdir -p "$work/x" "$dir"
case "$asset" in
  *.zip) (cd "$work/x" && { unzip -q "../$asset" || 7z x -y "../$asset" >/dev/null; }) ;;
  *) tar -xzf "$work/$asset" -C "$work/x" ;;
esac
found="$(find "$work/x" -type f -name "$exe" | head -n 1)"
[ -n "$found" ] || die "$asset holds no $exe"
cp "$found" "$dir/$exe"
chmod +x "$dir/$exe"
publish
