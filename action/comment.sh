#!/usr/bin/env bash
# Post the markdown plan as ONE pull-request comment, found again by a hidden marker and updated on every push.
#
#   EVALFORM_PLAN_FILE   the markdown plan
#   EVALFORM_EXITCODE    evalform's exit code (0 no changes, 2 changes, else an error)
#   GITHUB_TOKEN         a token with pull-requests: write
#   GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (a pull_request event), GITHUB_SERVER_URL, GITHUB_RUN_ID
#
# Needs curl and jq (both on GitHub's hosted runners).
set -euo pipefail

marker='<!-- evalform-plan -->'
api="${GITHUB_API_URL:-https://api.github.com}"
: "${GITHUB_TOKEN:?the github-token input is empty: the plan comment needs a token with pull-requests: write}"
: "${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}"
number="$(jq -r '.pull_request.number // .number // empty' "${GITHUB_EVENT_PATH:?GITHUB_EVENT_PATH is not set}")"
[ -n "$number" ] || {
  echo "evalform: the event has no pull request number; no comment" >&2
  exit 0
}

run_url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/${GITHUB_RUN_ID:-}"
body="$(
  echo "$marker"
  # The markdown plan has its own heading and summary; a failed plan may have printed nothing.
  case "${EVALFORM_EXITCODE:-0}" in
    0 | 2) ;;
    *) printf '### evalform plan failed\n\nSee the [job log](%s) for the error.\n\n' "$run_url" ;;
  esac
  # A comment holds at most 65536 characters; the full plan stays in the job summary.
  head -c 60000 "$EVALFORM_PLAN_FILE"
  if [ "$(wc -c <"$EVALFORM_PLAN_FILE")" -gt 60000 ]; then
    printf '\n\n_(cut; the full plan is in the [job summary](%s))_\n' "$run_url"
  fi
)"

# The token goes to curl in a file, not on its command line (where other processes could read it).
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(
  umask 077
  printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN" >"$scratch/auth"
)

gh_api() {
  local method="$1" path="$2"
  shift 2
  curl --fail --silent --show-error --retry 2 -X "$method" \
    -H "@$scratch/auth" \
    -H "Accept: application/vnd.github+json" \
    -H "X-GitHub-Api-Version: 2022-11-28" \
    "$@" "$api$path"
}

# The comment that holds the marker, if any (the first one, on any page).
id=""
page=1
while [ -z "$id" ]; do
  comments="$(gh_api GET "/repos/$GITHUB_REPOSITORY/issues/$number/comments?per_page=100&page=$page")"
  id="$(jq -r --arg m "$marker" '[.[] | select(.body | startswith($m)) | .id][0] // empty' <<<"$comments")"
  [ "$(jq 'length' <<<"$comments")" -ge 100 ] || break
  page=$((page + 1))
done

payload="$scratch/payload.json"
jq -n --arg body "$body" '{body: $body}' >"$payload"
if [ -n "$id" ]; then
  gh_api PATCH "/repos/$GITHUB_REPOSITORY/issues/comments/$id" -H "Content-Type: application/json" \
    --data-binary "@$payload" >/dev/null
  echo "evalform: updated the plan comment $id on #$number" >&2
else
  gh_api POST "/repos/$GITHUB_REPOSITORY/issues/$number/comments" -H "Content-Type: application/json" \
    --data-binary "@$payload" >/dev/null
  echo "evalform: posted the plan comment on #$number" >&2
fi
