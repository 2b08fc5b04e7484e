#!/usr/bin/env bash
# test_ssh_sudo: `target.sudo` on the hosts lab with a user that is not root. A sudo rule that
# needs a password stops the run before anything is applied (exit 2), naming every host and
# saying "sudo needs a password"; with a NOPASSWD rule the faults run as root through sudo -n
# and are undone. The user and the sudo rule are the test's own and are removed on exit.
. "$(dirname "$0")/../lib.sh"
if ! command -v sudo >/dev/null; then skip "needs sudo (make deps installs it)"; finish; fi
hosts_lab_lock
U=zdsudo$$
RULE=/etc/sudoers.d/zonedef-e2e-$$
on_exit "userdel $U 2>/dev/null; rm -f $RULE"
# '*': no password, yet not locked (sshd without PAM refuses a locked account, even with a key)
useradd -M -d / -s /bin/sh -p '*' "$U"
check_eq "a user of our own (not root)" 0 "$?"
hosts_lab_up
# sshd reads authorized_keys as the user: let it through the test's directories (read only)
chmod 711 "$TMP" "$L" "$L/ssh" && chmod 644 "$L/ssh/authorized_keys"
OBS=$TMP/obs
mkdir -p "$OBS" && chmod 777 "$OBS"
hs() { timeout 10 ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o BatchMode=yes "$1" "$2" 2>&1; }
check_eq "the lab's key logs the user in, as itself" "$(id -u "$U")" "$(hs "$U@10.213.2.1" 'id -u')"

cat >"$TMP/sudo.json" <<JSON
{ "name": "sudo",
  "target": { "kind": "ssh", "url": "http://127.0.0.1:18000/",
    "zones": { "a": ["10.213.1.1", "10.213.1.2"], "b": ["10.213.2.1", "10.213.2.2"],
               "c": ["10.213.3.1", "10.213.3.2"] },
    "user": "$U", "sudo": true, "key": "$KEY", "known_hosts": "$KH", "service": "web",
    "connect_timeout": "3s", "haproxy_socket": "$L/haproxy.sock" },
  "load": { "rate": 50, "connections": 8, "timeout": "1s" },
  "steady_state": { "error_rate": 0.5, "window": "1s", "hold": "1s" },
  "warmup": "1s", "settle": "1s",
  "steps": [
    { "at": "1s", "fault": "blackhole_zone", "zone": "b", "for": "3s" },
    { "at": "2s", "fault": "exec", "zone": "b", "command": "id -u > $OBS/uid.\$(hostname -I | tr -d ' '); nft list tables > $OBS/bh.\$(hostname -I | tr -d ' ')" }
  ],
  "guards": { "max_duration": "1m" } }
JSON

# ---- a rule that wants a password: stopped before anything, every host named --------------------
echo "$U ALL=(root) /bin/sh" >"$RULE" && chmod 0440 "$RULE"
check "the rule is valid sudoers" visudo -cqf "$RULE"
run_zd out rc run "$TMP/sudo.json" --out "$TMP/r-pw"
check_eq "sudo that needs a password: exit 2" 2 "$rc"
check_contains "  ...naming the host and what to do" "$out" "10.213.2.1:22: sudo needs a password (zonedef runs 'sudo -n'; give the user a NOPASSWD sudo rule)"
check_eq "  ...for every host" 6 "$(printf '%s\n' "$out" | grep -c 'sudo needs a password')"
check_eq "  ...and no fault was even intended (journal)" 0 "$(cat "$TMP/r-pw/journal.jsonl" 2>/dev/null | grep -c '"intent"')"
check_eq "  ...nor applied (no table on zone b's hosts)" "" "$(hs root@10.213.2.1 'nft list tables | grep zonedef_'; hs root@10.213.2.2 'nft list tables | grep zonedef_')"
run_zd out rc plan --check "$TMP/sudo.json"
check_eq "plan --check: not ready (exit 1)" 1 "$rc"
check_contains "  ...says sudo needs a password" "$out" "sudo needs a password"

# ---- NOPASSWD: the faults run as root through sudo -n, and are undone ---------------------------
echo "$U ALL=(root) NOPASSWD: /bin/sh" >"$RULE"
run_zd out rc run "$TMP/sudo.json" --out "$TMP/r-ok"
check_eq "with NOPASSWD the run passes" 0 "$rc"
[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -10
check_eq "  ...the commands ran as root on both hosts" "0 0" "$(cat "$OBS/uid.10.213.2.1" "$OBS/uid.10.213.2.2" 2>&1 | paste -sd' ')"
check_contains "  ...the black-hole was applied through sudo" "$(cat "$OBS/bh.10.213.2.1" 2>&1)" "table inet zonedef_zd"
check_eq "  ...and undone" "" "$(hs root@10.213.2.1 'nft list tables | grep zonedef_'; hs root@10.213.2.2 'nft list tables | grep zonedef_'; ls /tmp | grep -E '^zonedef-zd')"
check_contains "  ...the journal says who and how" "$(jq -c 'select(.type=="intent") | .action' "$TMP/r-ok/journal.jsonl" | head -1)" "\"user\":\"$U\""
finish
