# Sourced by .ci/test and .ci/selfcheck: `stage N TOTAL "what" cmd...` prints a
# header, runs the command and prints its duration; a failure stops the run.
stage() {
  local n=$1 total=$2 what=$3
  shift 3
  echo "== [$n/$total] $what"
  local began=$SECONDS
  "$@"
  echo "   [$n/$total] done in $((SECONDS - began)) s (total $((SECONDS - STAGES_BEGAN)) s)"
}
STAGES_BEGAN=$SECONDS
