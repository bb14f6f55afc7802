# Shared by ./vit, ./test.sh and the Docker entrypoint (sourced, not run): finding a JDK >= 25,
# installing missing Debian packages, and the JVM flags of the vit command.

# True when $1 is a Java home whose java is version 25 or newer.
vit_java_ok() { [ -n "$1" ] && [ -x "$1/bin/java" ] && "$1/bin/java" -version 2>&1 | head -n1 | grep -Eq '"(2[5-9]|[3-9][0-9])'; }

# Prints the first JDK >= 25 among JAVA_HOME, java on PATH and /usr/lib/jvm/*; fails with a message naming the fix.
vit_find_jdk() {
  local c onpath
  onpath=$(command -v java 2>/dev/null || true)
  [ -n "$onpath" ] && onpath=$(dirname "$(dirname "$(readlink -f "$onpath")")")
  for c in "${JAVA_HOME:-}" "$onpath" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    vit_java_ok "$c" && { echo "$c"; return 0; }
  done
  echo "no JDK >= 25 found (looked at JAVA_HOME, java on PATH, /usr/lib/jvm/*); install Temurin 25 or set JAVA_HOME" >&2
  return 1
}

# Installs the named Debian packages with apt-get (sudo when not root); output goes to stderr.
vit_apt_install() {
  [ $# -gt 0 ] || return 0
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing ${*} (apt-get)" >&2
  { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } >&2
}

# The vit subcommand in "$@": the first argument that is not an option (empty when there is none).
vit_subcommand() {
  local a
  for a in "$@"; do case "$a" in -*) ;; *) echo "$a"; return 0 ;; esac; done
}

# JVM flags for running vit with "$@". The CPU kernels use the incubating Vector API, and the JVM
# prints "WARNING: Using incubator modules" whenever jdk.incubator.vector is added, so it is added
# only for the commands that compute (listed below); help, version, info, simulate, doctor and export
# run without it. Those commands also run without C2's profiled loop predicates: in the CPU
# kernels' Vector API loops over memory segments they failed again and again (a deoptimisation
# storm: 131 traps in 4 training steps of vit-s-fmnist, against 12 without them), and each one
# sends the loop back to the interpreter, where every vector operation is a slow Java fallback.
vit_jvm_flags() {
  local flags=(--enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Djava.awt.headless=true) a
  local computes=1
  case "$(vit_subcommand "$@")" in train|eval|probe|fewshot|predict|bench|experiment|mesh-train) ;; *) computes=0 ;; esac
  for a in "$@"; do case "$a" in -h|--help|-V|--version) computes=0 ;; esac; done
  [ $computes = 1 ] && flags+=(--add-modules jdk.incubator.vector -XX:-UseProfiledLoopPredicate)
  echo "${flags[@]}"
}
