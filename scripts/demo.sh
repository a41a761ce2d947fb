#!/usr/bin/env bash
# The cross-regional flow of the README on one machine: two models ("regions"), one
# PostgreSQL cluster each, asynchronous replication rome -> lisbon, an application in lisbon
# writing through a zero-loss switchover, and both clusters scaled to three units. Every
# `juju` line is what a Juju user types.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
export JUJULET_BIN="$BIN" JUJULET_PEBBLE="$BIN/pebble"
# A fresh controller of its own, reachable by the postgres user that runs the databases.
export JUJULET_HOME="${JUJULET_HOME:-$(mktemp -d /tmp/jujulet-demo.XXXXXX)}"
mkdir -p "$JUJULET_HOME" && chmod 0711 "$JUJULET_HOME"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
juju() { printf '$ juju %s\n' "$*"; "$BIN/jujulet" "$@"; }
drdata() { go run ./tests/cmd/drdata "$@"; }
settle() { drdata wait "$@"; } # model app units app-message

step "Bootstrap a local controller (state in $JUJULET_HOME)"
juju bootstrap

step "Two regions, one cluster each"
juju add-model rome; juju add-model lisbon
juju switch rome
juju deploy postgresql-k8s db1 --channel=14/edge --trust --config profile=testing --base ubuntu@22.04
juju switch lisbon
juju deploy postgresql-k8s db2 --channel=14/edge --trust --config profile=testing --base ubuntu@22.04
settle rome db1 1 Primary; settle lisbon db2 1 Primary

step "Offer rome's cluster and consume it in lisbon"
juju switch rome; juju offer db1:replication-offer replication-offer
juju switch lisbon; juju consume rome.replication-offer
juju integrate replication-offer db2:replication

step "Replicate rome -> lisbon"
juju run -m rome db1/leader create-replication
settle rome db1 1 Primary; settle lisbon db2 1 Standby
drdata write rome db1 written-in-rome 10 lisbon db2
sleep 2
echo "rome:";   drdata show rome db1 lisbon db2
echo "lisbon:"; drdata show lisbon db2 rome db1

step "An application in lisbon, integrated with its local cluster (the standby)"
juju switch lisbon
juju deploy ./build/charms/pgclient app --config database-name=orders
juju integrate db2:database app:database
settle lisbon app 1 ""
# Its URI names lisbon's unit, then rome's (target_session_attrs=read-write): once lisbon's
# leader has seen rome's unit and both clusters admit the client, its writes reach rome.
first_write() {
	local out
	out=$(juju run app/0 write count=10 tag=before-switchover 2>/dev/null) || true
	printf '%s\n' "$out" | grep -e '^\$ juju' -e '^acknowledged' -e '^error' || true
	[[ $out == *'acknowledged: "10"'* ]]
}
until first_write; do sleep 2; done

step "Switch over while the application writes: lisbon becomes primary, rome follows it"
# The writer keeps its URI for the whole run and reconnects through it after each error: no
# hook of the application runs.
echo "(the writer runs in the background for 45 s; its answer is shown once it ends)"
juju run app/0 write tag=through-switchover seconds=45 --wait 5m > "$JUJULET_HOME/writer.out" 2>&1 &
writer=$!
sleep 8
juju run -m lisbon db2/leader promote-to-primary scope=cluster
settle lisbon db2 1 Primary; settle rome db1 1 Standby
wait "$writer"
echo "the writer (acknowledged = inserts PostgreSQL confirmed, longest-gap-ms = its write outage):"
cat "$JUJULET_HOME/writer.out"
echo "visible through the same URI afterwards (at least every acknowledged insert):"
juju run app/0 count tag=through-switchover
juju run app/0 count tag=before-switchover
drdata write lisbon db2 written-in-lisbon 10 rome db1
sleep 2
echo "lisbon:"; drdata show lisbon db2 rome db1
echo "rome:";   drdata show rome db1 lisbon db2

step "Scale both clusters to three units"
juju scale-application db1 3 -m rome; juju scale-application db2 3 -m lisbon
settle lisbon db2 3 Primary; settle rome db1 3 Standby

step "Status"
juju status -m rome
juju status -m lisbon
echo "lisbon:"; drdata show lisbon db2 rome db1
echo "rome:";   drdata show rome db1 lisbon db2

cat <<MSG

The controller keeps running. Try more commands with:
  export JUJULET_HOME=$JUJULET_HOME; alias juju=$BIN/jujulet
Stop it and every unit with:
  JUJULET_HOME=$JUJULET_HOME $BIN/jujulet kill-controller --no-prompt
MSG
