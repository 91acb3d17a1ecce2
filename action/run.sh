#!/usr/bin/env bash
# Run one evalform command for the GitHub Action and pass its exit code through.
#
# Everything comes from the environment (the action maps its inputs), so the script is tested outside GitHub:
#   EVALFORM_COMMAND     plan | apply | test | run | validate | fmt (with EVALFORM_ARGS=--check, a formatting gate)
#   EVALFORM_PATHS       manifest files or directories, separated by spaces or newlines (default: none given, so
#                        evalform's own default: the project file's paths, or .)
#   EVALFORM_ARGS        extra flags, separated by spaces or newlines (no shell quoting)
#   EVALFORM_ENVIRONMENT the environment to plan or apply for; exported as EVALFORM_ENV when not empty
#   EVALFORM_COMMENT     true: on a pull request, `plan` posts its markdown as one comment, updated on every push
#   EVALFORM_BIN         the evalform binary (default: `evalform` on the PATH)
#   CEKURA_API_KEY, TELA_API_KEY, GITHUB_TOKEN and the usual GITHUB_* variables of a job
#
# `plan` always renders markdown (`--format markdown`): it goes to stdout, to plan.md in RUNNER_TEMP, to the job
# summary and, on a pull request, to the comment. The step's exit code is evalform's, so a drift job with
# `args: --detailed-exitcode` fails on 2; the code is also written as the output `exitcode`.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${EVALFORM_BIN:-evalform}"
command="${EVALFORM_COMMAND:-plan}"

case "$command" in
  plan | apply | test | run | validate | fmt) ;;
  *)
    echo "::error title=evalform::input command must be plan, apply, test, run, validate or fmt, not '$command'" >&2
    exit 1
    ;;
esac

read -r -d '' -a paths <<<"${EVALFORM_PATHS:-}" || true
read -r -d '' -a extra <<<"${EVALFORM_ARGS:-}" || true
if [ -n "${EVALFORM_ENVIRONMENT:-}" ]; then
  export EVALFORM_ENV="$EVALFORM_ENVIRONMENT"
fi
# Empty inputs leave keys the job already set alone.
for key in CEKURA_API_KEY TELA_API_KEY; do
  if [ -z "${!key:-}" ]; then unset "$key"; fi
done

args=("$command")
if [ "$command" = plan ]; then args+=(--format markdown); fi
args+=(${extra[@]+"${extra[@]}"} ${paths[@]+"${paths[@]}"})

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1" >>"$GITHUB_OUTPUT"; fi
}

if [ "$command" != plan ]; then
  code=0
  "$bin" "${args[@]}" || code=$?
  output "exitcode=$code"
  exit "$code"
fi

tmp="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
plan="$tmp/evalform-plan.md"
code=0
"$bin" "${args[@]}" >"$plan" || code=$?
cat "$plan"
output "exitcode=$code"
output "plan-file=$plan"

# The job summary: the plan, or where the error is.
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    case "$code" in
      0 | 2) ;;
      *) printf '### evalform plan failed (exit %s)\n\nSee the job log for the error.\n\n' "$code" ;;
    esac
    cat "$plan"
  } >>"$GITHUB_STEP_SUMMARY"
fi

if [ "${EVALFORM_COMMENT:-true}" = true ]; then
  case "${GITHUB_EVENT_NAME:-}" in
    pull_request | pull_request_target)
      EVALFORM_EXITCODE="$code" EVALFORM_PLAN_FILE="$plan" bash "$here/comment.sh" ||
        echo "::warning title=evalform::could not post the plan comment (see above); the plan is in the job summary" >&2
      ;;
  esac
fi
exit "$code"
