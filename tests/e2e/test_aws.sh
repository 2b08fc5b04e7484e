#!/usr/bin/env bash
# test_aws: the AWS target end to end against a moto server on loopback (127.0.0.1:19600) that
# checks every signature (INITIAL_NO_AUTH_ACTION_COUNT=3: only the bootstrap IAM calls of
# tests/data/aws/estate.py go unsigned) and every action against the IAM policy of the README.
# The estate: a VPC, subnets in three AZs (two in eu-west-1a, one of eu-west-1b on a custom ACL),
# an ALB with a target group, an ASG and tagged instances, plus one untagged instance.
# Traffic goes to a local stand-in for the load balancer (zd-testsrv on 127.0.0.1:19610).
#
# moto's gaps, noted rather than bent to: it has no network, so the NACL swap changes no
# traffic (the test checks the associations instead of the load's errors); its ASG puts every
# instance in the first AZ and replaces terminated ones its own way (the test kills one of the
# directly launched instances); it answers DescribeInstances' availability-zone filter with
# nothing (zonedef matches the AZ itself); it ignores DryRun for CreateNetworkAcl (zonedef's
# check notices, says so and deletes the ACL it then owns).
. "$(dirname "$0")/../lib.sh"

# the README's IAM policy is the one the test gives zonedef's user
readme_policy=$(awk '/^### The IAM policy/ {f=1} f && /^```json/ {p=1; next} p && /^```/ {exit} p {print}' "$ROOT/README.md")
check_eq "the README's IAM policy is tests/data/aws/iam-policy.json" \
    "$(cat "$ROOT/tests/data/aws/iam-policy.json")" "$readme_policy"

if ! python3 -c 'import moto, boto3' >/dev/null 2>&1; then
    skip "python3 cannot import moto (and boto3): pip install 'moto[server]'"
    finish
fi
SRV=$ROOT/build/helpers/zd-testsrv
[ -x "$SRV" ] || { th_bad "zd-testsrv is built" "run make helpers"; finish; }

EP=http://127.0.0.1:19600
export ZONEDEF_STATE_DIR=$TMP/state ZONEDEF_LAB_DIR=$TMP/lab
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=$TMP/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$TMP/aws-credentials
unset AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_SESSION_TOKEN

INITIAL_NO_AUTH_ACTION_COUNT=3 python3 -m moto.server -H 127.0.0.1 -p 19600 >"$TMP/moto.log" 2>&1 &
MOTO=$!
on_exit "kill $MOTO; wait $MOTO"
for _ in $(seq 100); do curl -s -o /dev/null "$EP/moto-api/" && break; sleep 0.1; done
"$SRV" --listen 127.0.0.1:19610 --max-seconds 300 >"$TMP/srv.log" 2>&1 &
LB=$!
on_exit "kill $LB; wait $LB"

python3 "$ROOT/tests/data/aws/estate.py" setup "$EP" "$TMP/estate.env" >"$TMP/estate.log" 2>&1
if ! check_eq "the estate is built on moto" 0 $?; then
    tail -n 5 "$TMP/estate.log"
    finish
fi
set -a
. "$TMP/estate.env"
set +a
read -r -a tagged <<<"$TAGGED"
read -r -a subnets <<<"$SUBNETS"
acls() { python3 "$ROOT/tests/data/aws/estate.py" acls "$EP"; }
states() { python3 "$ROOT/tests/data/aws/estate.py" state "$EP" "$@"; }
before=$(acls)
check_match "every subnet starts on its own ACL, none tagged" "$before" "tagged 0$"
check_contains "subnet in b is on the user's custom ACL" "$before" "${subnets[1]} $CUSTOM_ACL"

printf '[zd]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$ZD_KEY" "$ZD_SECRET" \
    >"$AWS_SHARED_CREDENTIALS_FILE"
printf '[profile chaos]\nrole_arn = arn:aws:iam::123456789012:role/chaos\nsource_profile = zd\nregion = eu-west-1\n' \
    >"$AWS_CONFIG_FILE"
scn() { # scn FILE ACCOUNT STEPS
    cat >"$1" <<EOF
{
  "name": "aws-e2e",
  "target": { "kind": "aws", "url": "http://127.0.0.1:19610/", "region": "eu-west-1",
              "endpoint": "$EP", "account": "$2", "tags": { "app": "shop", "env": "e2e" },
              "target_group": "shop-web", "load_balancer": "shop-alb", "asg": "shop-asg",
              "suspend_az_rebalance": true },
  "load": { "rate": 50, "connections": 4 },
  "warmup": "2s", "settle": "1s",
  "steady_state": { "window": "500ms", "hold": "1s" },
  "guards": { "max_duration": "2m" },
  "steps": [ $3 ]
}
EOF
}
STEPS='{ "at": "2s", "fault": "kill_instances", "zone": "eu-west-1c", "count": 1 },
       { "at": "2s", "name": "dark-1a", "fault": "blackhole_zone", "zone": "eu-west-1a", "for": "3s" },
       { "at": "4s", "name": "stop-1b", "fault": "stop_instances", "zone": "eu-west-1b", "for": "2s" },
       { "at": "4s", "name": "asg-member", "fault": "kill_instances", "zone": "eu-west-1a", "count": 1,
         "tags": { "aws:autoscaling:groupName": "shop-asg" } },
       { "at": "2s", "name": "burn-1b", "fault": "cpu_stress", "zone": "eu-west-1b", "cpu": 80, "for": "1s" },
       { "at": "2s", "name": "freeze-web", "fault": "kill_process", "zone": "eu-west-1a", "count": 1,
         "process": "web server", "signal": "STOP", "for": "1s" },
       { "at": "2s", "name": "slow-1b", "fault": "latency", "zone": "eu-west-1b", "delay": "150ms",
         "jitter": "5ms", "loss": 2.5, "interface": "eth0", "for": "1s" },
       { "at": "2s", "name": "touch", "fault": "exec", "zone": "eu-west-1b", "command": "echo it'"'"'s $(id)",
         "undo": "rm -f /tmp/x", "for": "1s" }'
scn "$TMP/s.json" 123456789012 "$STEPS"

# ---- a wrong secret, a wrong account: exit 2, one line, nothing changed ------------------------
export AWS_ACCESS_KEY_ID=$ZD_KEY AWS_SECRET_ACCESS_KEY=wrongSECRETvalue0123456789
run_zd out rc run "$TMP/s.json" --out "$TMP/r-bad"
check_eq "a wrong secret exits 2" 2 "$rc"
check_match "it says the code and the request id" "$out" \
    "credentials \(environment\) were refused: SignatureDoesNotMatch: .*\(request id "
check_not_contains "the wrong secret is not printed" "$out" "wrongSECRETvalue"
export AWS_SECRET_ACCESS_KEY=$ZD_SECRET
scn "$TMP/other.json" 111111111111 "$STEPS"
run_zd out rc run "$TMP/other.json" --out "$TMP/r-acct"
check_eq "another account exits 2" 2 "$rc"
check_contains "it names both accounts" "$out" \
    "belong to account 123456789012, the scenario says 111111111111: refusing to touch it"
check_eq "nothing changed after the refusals" "$before" "$(acls)"
st=$(states "${tagged[@]}")
check_eq "no instance was touched" "3 running" "$(grep -c ' running$' <<<"$st") running"

# ---- plan --check: resolves, proves with DryRun, changes nothing -----------------------------
run_zd out rc plan --check "$TMP/s.json"
check_eq "plan --check passes with zonedef's policy" 0 "$rc"
check_contains "it names the instance it would terminate" "$out" "terminate 1 of 1 tagged instance: ${tagged[2]} (eu-west-1c)"
check_contains "it names the subnets and their ACLs" "$out" "deny-all network ACL on"
check_match "TerminateInstances proven with DryRun" "$out" "ec2:TerminateInstances +allowed \(DryRun\)"
check_eq "plan --check changed nothing" "$before" "$(acls)"
check_contains "plan --check resolves the latency step to its instance" "$out" "slow-1b: netem delay 150ms (jitter 5ms, loss 2.5%) on eth0 via SSM on 1 of 1 tagged instance: ${tagged[1]}"
check_match "SendCommand proven by the latency step's netem check" "$out" "ssm:SendCommand \(AWS-RunShellScript\) +ok \(the read-only netem check ran on every instance\)"
AWS_ACCESS_KEY_ID=$READER_KEY AWS_SECRET_ACCESS_KEY=$READER_SECRET run_zd out rc plan --check "$TMP/s.json"
check_eq "plan --check with a read-only user exits 1" 1 "$rc"
check_match "it shows the denied permission" "$out" "ec2:StopInstances +DENIED: AccessDenied: "

# ---- the run: kill by tag, AZ dark, stop and start; everything back ----------------------------
run_zd out rc run "$TMP/s.json" --out "$TMP/r1"
check_eq "the run passes" 0 "$rc"
check_contains "it terminated the 1c instance" "$out" "terminate 1 of 1 tagged instance: ${tagged[2]} (eu-west-1c)"
check_contains "cpu_stress went to the instance in eu-west-1b through SSM" "$out" \
    "80% cpu x1 via SSM on 1 of 1 tagged instance: ${tagged[1]} (eu-west-1b)"
check_contains "the AZ went dark on both its subnets" "$out" "black-hole eu-west-1a: deny-all network ACL on"
check_contains "the load balancer's view per AZ was observed" "$out" "load balancer: zone eu-west-1b 0/1 healthy"
check_eq "every subnet is back on its original ACL, no tagged ACL remains" "$before" "$(acls)"
st=$(states "${tagged[@]}" "$UNTAGGED")
check_contains "the killed instance is terminated" "$st" "${tagged[2]} terminated"
check_contains "the stopped instance runs again" "$st" "${tagged[1]} running"
check_contains "the untagged instance was never touched" "$st" "$UNTAGGED running"
asg=$(python3 - "$EP" <<'EOF'
import os, sys, boto3
a = boto3.client("autoscaling", region_name="eu-west-1", endpoint_url=sys.argv[1],
                 aws_access_key_id=os.environ["ADMIN_KEY"], aws_secret_access_key=os.environ["ADMIN_SECRET"])
g = a.describe_auto_scaling_groups(AutoScalingGroupNames=["shop-asg"])["AutoScalingGroups"][0]
print("suspended:" + ",".join(p["ProcessName"] for p in g["SuspendedProcesses"]))
e = boto3.client("ec2", region_name="eu-west-1", endpoint_url=sys.argv[1],
                 aws_access_key_id=os.environ["ADMIN_KEY"], aws_secret_access_key=os.environ["ADMIN_SECRET"])
print("marks:" + ",".join(t["Key"] for r in e.describe_instances()["Reservations"] for i in r["Instances"]
                          for t in i.get("Tags", []) if t["Key"].startswith("zonedef")))
EOF
)
check_eq "AZRebalance resumed and no zonedef mark left on instances" "suspended:
marks:" "$asg"
# the host faults went through SSM Run Command with hostcmd's quoted command lines (moto runs
# nothing: it records the command and answers Success; it also lists every instance of the
# region with the ones a command named, in no order: the instances are checked in the journal)
ssm=$(python3 - "$EP" <<'EOF'
import os, sys, boto3
s = boto3.client("ssm", region_name="eu-west-1", endpoint_url=sys.argv[1],
                 aws_access_key_id=os.environ["ADMIN_KEY"], aws_secret_access_key=os.environ["ADMIN_SECRET"])
cs = s.list_commands()["Commands"]
for c in sorted(cs, key=lambda c: c["Comment"]):
    print(c["DocumentName"], c["Comment"].split(" ", 2)[2], "|",
          c["Parameters"]["commands"][0].replace("\n", " ")[:1000])
print("ids: " + " ".join(c["CommandId"] for c in cs))
EOF
)
# ten: each host fault and its undo (8), and latency's netem check (which changes nothing) sent
# by the run and by plan --check before it
check_eq "ten SSM commands: each host fault, its undo, latency's checks" 10 "$(grep -c '^AWS-RunShellScript ' <<<"$ssm")"
check_eq "  ...two of them latency's checks" 2 "$(grep -c '^AWS-RunShellScript latency check ' <<<"$ssm")"
notes=$(jq -r 'select(.type == "applied" and .note != null) | .note' "$TMP/r1/journal.jsonl")
check_eq "each host fault's SSM command id is journaled with its applied record" 4 \
    "$(grep -cE '^ssm command [0-9a-f-]{36}$' <<<"$notes")"
first_id=$(head -1 <<<"$notes" | cut -d' ' -f3)
check_contains "...and it is one moto ran" "$(grep '^ids: ' <<<"$ssm")" "${first_id:-none}"
check_match "cpu_stress: hostcmd's burners, tagged from the run id" "$ssm" \
    "^AWS-RunShellScript cpu_stress \| .*zonedef-zd_[0-9a-f]{8}_[0-9]+\.cpu"
check_match "its undo: hostcmd's cpu_stress undo" "$ssm" "^AWS-RunShellScript cpu_stress undo \| .*zonedef-zd_[0-9a-f]{8}_[0-9]+\.cpu"
check_match "kill_process: the name quoted as one word" "$ssm" "^AWS-RunShellScript kill_process \| .*'web server'"
check_match "kill_process STOP is undone with CONT" "$ssm" "^AWS-RunShellScript kill_process undo \| .*CONT"
check_contains "exec: the scenario's command, quoted for sh -c" "$ssm" \
    "exec | sh -c 'echo it'\\''s \$(id)'"
check_contains "exec's undo" "$ssm" "exec undo | sh -c 'rm -f /tmp/x'"
# latency: the whole command lines, read back from moto's ListCommands (moto runs none of them;
# hostcmd's unit tests and test_ssh_netem.sh run them, against a stand-in tc: no sch_netem here)
python3 - "$EP" "$TMP/ssm" <<'EOF'
import os, sys, boto3
s = boto3.client("ssm", region_name="eu-west-1", endpoint_url=sys.argv[1],
                 aws_access_key_id=os.environ["ADMIN_KEY"], aws_secret_access_key=os.environ["ADMIN_SECRET"])
for c in s.list_commands()["Commands"]:
    what = c["Comment"].split(" ", 2)[2].replace(" ", "-")
    open(sys.argv[2] + "." + what, "w").write(c["Parameters"]["commands"][0])
    open(sys.argv[2] + "." + what + ".ids", "w").write(" ".join(c["InstanceIds"]))
EOF
lat=$(cat "$TMP/ssm.latency" 2>&1)
check_contains "latency went through SSM: hostcmd's netem, our handle, delay, jitter, loss" "$lat" \
    'tc qdisc add dev "$i" root handle 7a0d: netem delay 150000us 5000us loss 2.5% ||'
check_contains "  ...on the scenario's interface, quoted" "$lat" "l='eth0';"
check_contains "  ...with a dead-man's switch armed first (for 1s + 5s)" "$lat" "sleep 6; ("
check_not_contains "  ...never replacing a qdisc" "$lat" "qdisc replace"
check_contains "  ...on the instance in eu-west-1b" "$(cat "$TMP/ssm.latency.ids" 2>&1)" "${tagged[1]}"
check_contains "latency's undo was sent: our qdisc deleted by its handle" "$(cat "$TMP/ssm.latency-undo" 2>&1)" \
    'tc qdisc del dev "$i" root handle 7a0d:'
check_contains "  ...and the switch cancelled" "$(cat "$TMP/ssm.latency-undo" 2>&1)" "f=/tmp/zonedef-zd_"
check_contains "before it, netem was checked in a private network namespace" "$(cat "$TMP/ssm.latency-check" 2>&1)" "unshare -n"
check_contains "the summary says what was applied" "$out" \
    "netem delay 150ms (jitter 5ms, loss 2.5%) on eth0 via SSM on 1 of 1 tagged instance: ${tagged[1]} (eu-west-1b)"

# what the run observed, in result.json: the target group per AZ over time, the ASG's InService
# count (moto replaces a terminated ASG instance at once, so the count never dips there)
check_eq "the target group's view of eu-west-1b over time" "1 0 1" \
    "$(jq -r '[.lb_health[] | select(.zone == "eu-west-1b") | .healthy] | join(" ")' "$TMP/r1/result.json")"
check_eq "the ASG's InService count in eu-west-1a is sampled" "3" \
    "$(jq -r '[.lb_health[] | select(.zone == "eu-west-1a") | .in_service] | first' "$TMP/r1/result.json")"
check_eq "each fault has the ASG figures" "3 3 false" \
    "$(jq -r '.faults[] | select(.name == "asg-member") | "\(.asg.in_service_before) \(.asg.in_service_min) \(.asg.dipped)"' "$TMP/r1/result.json")"
intent=$(grep '"dark-1a"' "$TMP/r1/journal.jsonl" | grep '"intent"' | head -1)
check_contains "the original ACL of each subnet was journaled before the change" "$intent" \
    "{\"subnet\":\"${subnets[0]}\",\"acl\":"
check_contains "the action says AZRebalance is ours to resume" "$intent" '"suspend_az_rebalance":true'

# ---- SIGKILL mid-outage, through an assumed role (session token), then recover ---------------
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
scn "$TMP/k.json" 123456789012 '{ "at": "2s", "name": "dark-long", "fault": "blackhole_zone", "zone": "eu-west-1a", "for": "60s" }'
"$ZD" run "$TMP/k.json" --profile chaos --out "$TMP/r2" >"$TMP/r2.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q '"applied"' "$TMP/r2/journal.jsonl" 2>/dev/null && break; sleep 0.1; done
during=$(acls)
check_match "the AZ is dark: one tagged ACL" "$during" "tagged 1$"
{ kill -9 "$pid" && wait "$pid"; } 2>/dev/null
check_match "still dark after SIGKILL" "$(acls)" "tagged 1$"
run_zd out rc recover "$TMP/r2" # the profile is in the journal's action
check_eq "recover exits 0" 0 "$rc"
check_contains "recover undid the outage" "$out" "undone dark-long"
check_eq "after recover every subnet is on its original ACL, no tagged ACL" "$before" "$(acls)"
run_zd out rc recover "$TMP/r2"
check_eq "a second recover finds nothing" 0 "$rc"
check_contains "and says so" "$out" "nothing to undo"

# ---- SIGKILL and the journal lost: recover --sweep finds our ACL by its tags ------------------
"$ZD" run "$TMP/k.json" --profile chaos --out "$TMP/r3" >"$TMP/r3.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q '"applied"' "$TMP/r3/journal.jsonl" 2>/dev/null && break; sleep 0.1; done
{ kill -9 "$pid" && wait "$pid"; } 2>/dev/null
check_match "dark again" "$(acls)" "tagged 1$"
rm -rf "$TMP/r3"
run_zd out rc recover --sweep "$TMP/k.json" --profile chaos
check_eq "recover --sweep exits 0" 0 "$rc"
check_match "it moved the subnets back and deleted our ACL" "$out" "network ACL acl-[0-9a-f]+ \(run zd-[^)]+\) deleted"
check_eq "after the sweep every subnet is on its original ACL" "$before" "$(acls)"
check_contains "the user's custom ACL was restored, never deleted" "$(acls)" "${subnets[1]} $CUSTOM_ACL"

# ---- a forged journal: undo acts only on what zonedef made and marked --------------------------
# The untagged instance is stopped by someone else; a journal claims zonedef stopped it, and
# that zonedef's ACL replaced the user's custom one. recover must start nothing and move nothing.
python3 - "$EP" "$UNTAGGED" <<'EOF'
import os, sys, boto3
e = boto3.client("ec2", region_name="eu-west-1", endpoint_url=sys.argv[1],
                 aws_access_key_id=os.environ["ADMIN_KEY"], aws_secret_access_key=os.environ["ADMIN_SECRET"])
e.stop_instances(InstanceIds=[sys.argv[2]])
EOF
mkdir -p "$TMP/forged"
python3 - "$TMP/r1/journal.jsonl" "$TMP/forged" "$UNTAGGED" "$CUSTOM_ACL" <<'EOF'
import json, sys
src, dst, untagged, custom = sys.argv[1:]
out = []
for line in open(src):
    d = json.loads(line)
    if d["type"] == "start":
        d["run_dir"] = dst
        out.append(d)
    elif d["type"] == "intent" and d["action"]["fault"] in ("stop_instances", "blackhole_zone"):
        a = d["action"]
        if a["fault"] == "stop_instances":
            a["instances"] = [untagged]
        else:
            a["subnets"] = [{"subnet": s["subnet"], "acl": custom} for s in a["subnets"]]
        out.append(d)
open(dst + "/journal.jsonl", "w").write("".join(json.dumps(d) + "\n" for d in out))
EOF
export AWS_ACCESS_KEY_ID=$ZD_KEY AWS_SECRET_ACCESS_KEY=$ZD_SECRET
run_zd out rc recover "$TMP/forged"
check_eq "recover of a forged journal finishes" 0 "$rc"
check_contains "it went through both forged faults" "$out" "recovered: 2 faults undone"
check_contains "the instance zonedef never marked stays stopped" "$(states "$UNTAGGED")" "$UNTAGGED stopped"
check_eq "no subnet moved to the ACL the journal named" "$before" "$(acls)"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# ---- no secret anywhere ----------------------------------------------------------------------
prefix=$(python3 -c 'from moto.sts.utils import SESSION_TOKEN_PREFIX as p; print(p)')
leak=$(grep -rlF -e "$ZD_SECRET" -e "$prefix" "$TMP"/r1 "$TMP"/r2 "$TMP"/r-bad "$TMP"/r-acct \
    "$TMP"/r2.log "$ZONEDEF_STATE_DIR" 2>/dev/null)
check_eq "neither the secret key nor a session token is in any output, journal or report" "" "$leak"
check_not_contains "nor in the run's output" "$out" "$ZD_SECRET"
finish
