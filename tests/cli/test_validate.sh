#!/usr/bin/env bash
# test_validate: `zonedef validate` on the real binary — the examples, every error on its own
# line with file:line:col, exit codes, --var, --quiet, and files that are not scenarios at all
# (huge, binary, empty, deeply nested, missing) getting a clear error fast.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1
D=tests/data/scenarios

# validate: run validate with stdout and stderr kept apart (OUT, ERR, RC)
validate() {
    OUT=$(timeout -k 5 60 "$ZD" validate "$@" 2>"$TMP/err"); RC=$?
    ERR=$(cat "$TMP/err")
}

# CI requirement: every example validates
validate scenarios/*.json
check_eq "every file in scenarios/ is valid" 0 "$RC"
n=$(ls scenarios/*.json | wc -l)
check_eq "one ok line per example" "$n" "$(printf '%s\n' "$OUT" | grep -c '^ok scenarios/')"
check_eq "nothing on stderr for valid files" "" "$ERR"
check_contains "ok line names the scenario, steps and duration" "$OUT" \
    "ok scenarios/lab-zone-outage.json (lab-zone-outage: 1 step, duration 40s)"
check_contains "game day has 4 steps" "$OUT" "ok scenarios/game-day.json (game-day: 4 steps, duration 2m10s)"

# three distinct mistakes -> three lines, each file:line:col, exit 2
validate $D/invalid/three-mistakes.json
check_eq "three mistakes: exit 2" 2 "$RC"
check_eq "three mistakes: three lines" 3 "$(printf '%s\n' "$ERR" | wc -l)"
check_eq "three mistakes: nothing on stdout" "" "$OUT"
check_eq "three mistakes: exact lines" "$(sed 's/^/zonedef: validate: /' $D/invalid/three-mistakes.json.err)" "$ERR"

# every golden invalid file: exit 2 and exactly its expected lines
bad=0
for f in $D/invalid/*.json; do
    validate "$f"
    if [ "$RC" -ne 2 ] || [ "$ERR" != "$(sed 's/^/zonedef: validate: /' "$f.err")" ]; then
        bad=$((bad + 1)); echo "    mismatch: $f (exit $RC)"
    fi
done
check_eq "every invalid golden file: exit 2 and its exact error lines" 0 "$bad"

# a mix: good files still get their ok line, the run fails
validate scenarios/lab-zone-outage.json $D/invalid/unknown-key.json scenarios/lab-instance-kill.json
check_eq "mixed files: exit 2" 2 "$RC"
check_eq "mixed files: both good files ok" 2 "$(printf '%s\n' "$OUT" | grep -c '^ok ')"
check_contains "mixed files: the bad one's error" "$ERR" \
    "zonedef: validate: $D/invalid/unknown-key.json:6:47: unknown key 'zone_id' in a step (did you mean 'zone'?) (at \$.steps[0].zone_id)"

validate --quiet scenarios/*.json
check_eq "--quiet: exit 0" 0 "$RC"
check_eq "--quiet: prints nothing" "" "$OUT$ERR"

# variables: undefined, then given with --var (which wins over the file and the environment)
cat > "$TMP/v.json" <<'JSON'
{
  "name": "vars",
  "vars": { "rate": "100" },
  "target": { "kind": "lab", "url": "http://127.0.0.1:18000/" },
  "load": { "rate": "${rate}" },
  "steps": [ { "at": "10s", "fault": "blackhole_zone", "zone": "${zone}", "for": "${len}" } ]
}
JSON
validate "$TMP/v.json"
check_eq "undefined variables: exit 2" 2 "$RC"
check_contains "undefined variable at its column" "$ERR" \
    "zonedef: validate: $TMP/v.json:6:65: undefined variable 'zone'"
check_contains "second undefined variable too" "$ERR" "undefined variable 'len'"
validate --var zone=b --var len=5s "$TMP/v.json"
check_eq "--var defines them: exit 0" 0 "$RC"
check_contains "--var: duration follows" "$OUT" "duration 25s"
OUT=$(zone=c len=1s timeout 60 "$ZD" validate --var len=7s "$TMP/v.json" 2>&1); RC=$?
check_eq "environment + --var: exit 0" 0 "$RC"
check_contains "--var wins over the environment" "$OUT" "duration 27s"
validate --var zone=x --var len=5s "$TMP/v.json"
check_contains "a --var value is checked like the file's" "$ERR" "zone 'x' is not one of the target's zones (a, b, c)"
validate --var 9bad=1 "$TMP/v.json"
check_eq "malformed --var: exit 2" 2 "$RC"
check_contains "malformed --var: says so" "$ERR" "--var '9bad=1' must look like name=value"

# files that are not scenarios
truncate -s 100M "$TMP/huge.json"
start=$(date +%s%N)
validate "$TMP/huge.json"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_eq "100 MB file: exit 2" 2 "$RC"
check_eq "100 MB file: a clear size error" \
    "zonedef: validate: $TMP/huge.json: file is 104857600 bytes, larger than the limit of 1048576 bytes (1 MiB)" "$ERR"
check "100 MB file: rejected fast (${ms} ms < 2000)" [ "$ms" -lt 2000 ]
head -c 2097152 /dev/zero | tr '\0' ' ' > "$TMP/2mb.json"
validate "$TMP/2mb.json"
check_eq "2 MB file: exit 2" 2 "$RC"
check_contains "2 MB file: size error" "$ERR" "file is 2097152 bytes, larger than the limit"
validate "$ZD"
check_eq "binary file (the zonedef binary itself): exit 2" 2 "$RC"
check_match "binary file: one clear line" "$ERR" "^zonedef: validate: $ZD: (file is [0-9]+ bytes, larger than the limit|[0-9]+:[0-9]+: a NUL byte)"
: > "$TMP/empty.json"
validate "$TMP/empty.json"
check_eq "empty file: error" "zonedef: validate: $TMP/empty.json: file is empty (a scenario is a JSON object: {\"name\": ...})" "$ERR"
printf '%*s' 100000 '' | tr ' ' '[' > "$TMP/deep.json"
validate "$TMP/deep.json"
check_eq "100000 nested arrays: exit 2" 2 "$RC"
check_eq "100000 nested arrays: depth error at the 33rd bracket" \
    "zonedef: validate: $TMP/deep.json:1:33: nesting too deep: more than 32 levels of arrays and objects" "$ERR"
head -c 300 scenarios/lab-zone-outage.json > "$TMP/cut.json"
validate "$TMP/cut.json"
check_contains "truncated example: end of file" "$ERR" "unexpected end of file"
validate "$TMP/does-not-exist.json"
check_eq "missing file: exit 2" 2 "$RC"
check_contains "missing file: says why" "$ERR" "cannot open '$TMP/does-not-exist.json': No such file or directory"
validate "$TMP"
check_contains "a directory: says so" "$ERR" "is a directory"
validate
check_eq "no file: exit 2" 2 "$RC"
check_contains "no file: says so" "$ERR" "no file given"

# ssh hosts with tags: {"host": ..., "tags": {...}} entries; a step's tags pick the hosts that
# carry all of them (plan shows which), mistakes named with their JSON path
cat >"$TMP/tags.json" <<'JSON'
{ "name": "tags", "warmup": "1s", "load": { "rate": 10 },
  "target": { "kind": "ssh", "url": "http://127.0.0.1:18000/",
    "zones": { "a": [{"host": "10.0.0.1", "tags": {"role": "db"}}, "10.0.0.2",
                     {"host": "10.0.0.3:2222", "tags": {"role": "db", "tier": "1"}}],
               "b": [{"host": "10.0.1.1", "tags": {"role": "web"}}] } },
  "steps": [
    { "at": "1s", "fault": "exec", "tags": {"role": "db"}, "command": "true" },
    { "at": "2s", "fault": "exec", "tags": {"role": "db", "tier": "1"}, "command": "true" },
    { "at": "3s", "fault": "exec", "zone": "a", "count": 2, "command": "true" } ] }
JSON
validate "$TMP/tags.json"
check_eq "ssh host tags: valid" 0 "$RC"
J=$(timeout 60 "$ZD" plan --json "$TMP/tags.json")
check_eq "plan --json: tags role=db pick the two db hosts" '["10.0.0.1","10.0.0.3:2222"]' "$(printf '%s' "$J" | jq -c '.steps[0].hosts')"
check_eq "  ...role=db and tier=1 the one host with both" '["10.0.0.3:2222"]' "$(printf '%s' "$J" | jq -c '.steps[1].hosts')"
check_eq "  ...no tags: zone and count as before" '["10.0.0.1","10.0.0.2"]' "$(printf '%s' "$J" | jq -c '.steps[2].hosts')"
OUT=$(timeout 60 "$ZD" plan "$TMP/tags.json" 2>&1)
check_match "plan's table names the chosen hosts" "$OUT" 'exec@1s +exec +every zone, role=db, all instances: hosts 10\.0\.0\.1, 10\.0\.0\.3:2222 '
cat >"$TMP/badtags.json" <<'JSON'
{ "name": "badtags", "warmup": "1s", "load": { "rate": 10 },
  "target": { "kind": "ssh", "url": "http://127.0.0.1:18000/",
    "zones": { "a": [{"host": "10.0.0.1", "tags": {"role": 3}}, {"tags": {"role": "db"}},
                     {"host": "10.0.0.3", "tag": {}}, {"host": "bad host"},
                     {"host": "10.0.0.4", "tags": ["x"]}],
               "b": [{"host": "10.0.1.1", "tags": {"role": "web"}}] } },
  "steps": [
    { "at": "1s", "fault": "exec", "tags": {"role": "nope"}, "command": "true" },
    { "at": "2s", "fault": "exec", "zone": "b", "tags": {"role": "db"}, "command": "true" } ] }
JSON
validate "$TMP/badtags.json"
check_eq "bad host tags: exit 2" 2 "$RC"
check_eq "  ...one line per mistake" 7 "$(printf '%s\n' "$ERR" | wc -l)"
check_contains "  ...a tag value that is not a string" "$ERR" "badtags.json:3:60: 'role' must be a string, not a number (at \$.target.zones.a[0].tags.role)"
check_contains "  ...a host object without host" "$ERR" "missing required key 'host' (the host's address, like \"web1:22\") (at \$.target.zones.a[1])"
check_contains "  ...an unknown key in a host" "$ERR" "unknown key 'tag' in a host (did you mean 'tags'?) (at \$.target.zones.a[2].tag)"
check_contains "  ...a bad address" "$ERR" "'bad host' is not a host (write \"name\", \"name:port\" or \"[v6]:port\") (at \$.target.zones.a[3].host)"
check_contains "  ...tags that are not an object" "$ERR" "'tags' must be an object of strings, not an array (at \$.target.zones.a[4].tags)"
check_contains "  ...a step's tags no host carries" "$ERR" "no host of the target carries the tags role=nope"
check_contains "  ...nor in the step's zone" "$ERR" "no host of the target in zone b carries the tags role=db (a host's tags: {\"host\": \"web1\", \"tags\": {...}} in target.zones) (at \$.steps[1].tags)"
cat >"$TMP/labtags.json" <<'JSON'
{ "name": "labtags", "warmup": "1s", "load": { "rate": 10 }, "target": { "kind": "lab" },
  "steps": [ { "at": "1s", "fault": "exec", "tags": {"role": "db"}, "command": "true" } ] }
JSON
validate "$TMP/labtags.json"
check_contains "tags on a lab step: refused with the path" "$ERR" "selecting by 'tags' needs an aws or ssh target (lab instances have no tags) (at \$.steps[0].tags)"

finish
