# Sourced by the benchmark and soak scripts: builds the binaries they run, in one
# place and with one cargo invocation.
#
#   PROFILE=release|debug   which build (default release; debug for the test command's smokes)
#   build_binaries [--features ...]   builds and sets $target to the profile's directory
#
# Why one invocation for every script: cargo unifies dependency features over the
# packages and targets a command selects, so `-p loadgen --bin loadgen` and
# `-p loadgen --example synthetic_workers` resolve tokio, hyper and loadgen itself
# with different features and build each of them again (a few GB and minutes per
# variant in a debug build). Built the same way every time, the second script finds
# everything fresh.

PROFILE=${PROFILE:-release}
case "$PROFILE" in
  release | debug) ;;
  *) echo "PROFILE=$PROFILE: use release or debug" >&2; exit 2 ;;
esac

build_binaries() {
  local profile_flag=--release
  [ "$PROFILE" = release ] || profile_flag=
  # shellcheck disable=SC2086 # the flag is a word or nothing
  cargo build $profile_flag -q -p loadgen -p services -p reports --bins --examples "$@"
  target=${CARGO_TARGET_DIR:-target}/$PROFILE
}
