#!/usr/bin/env bash
# Checks that Soma works as a Maven dependency: installs it into the local repository (mvn install -DskipTests,
# incremental after a build), then builds and runs this separate project, which depends on dev.soma:soma and trains
# a tiny model (exit status 1 if it does not learn). Extra arguments go to every Maven call (e.g. -Dsoma.cuda=OFF).
# .ci/run calls it; SOMA_CI_CONSUMER=0 skips it there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
start=$SECONDS
echo "== mvn install -DskipTests (Soma into the local Maven repository)"
mvn -B -ntp -q -f "$root/pom.xml" install -DskipTests "$@"
echo "== examples/consumer: build and run"
mvn -B -ntp -q -f "$here/pom.xml" package exec:java "$@"
echo "== examples/consumer passed in $((SECONDS - start)) s"
