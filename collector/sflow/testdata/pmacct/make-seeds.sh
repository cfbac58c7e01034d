#!/bin/sh
# make-seeds.sh [OUTDIR]: regenerate the pmacct-made sFlow seed datagrams
# (OUTDIR defaults to this directory) and their fuzz corpus entries.
# Needs root (tcpdump on lo), pmacct (pmacctd), tcpdump, curl, python3, go.
# See ../README.md for what the seeds are and how they are used.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
corpus=$here/../fuzz/FuzzDecode
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Two pcaps: hand-built frames (VLAN, QinQ, MPLS, IPv6 extension headers,
#    ICMP) and real loopback traffic (TCP over HTTP, UDP, ICMP, IPv6).
(cd "$here" && go run ./genpcap "$work/crafted.pcap")
tcpdump -i lo -U -w "$work/loopback.pcap" 'tcp port 18080 or udp port 19999 or icmp or icmp6' 2>/dev/null &
tcpdump_pid=$!
sleep 1
python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1 &
http_pid=$!
sleep 1
for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:18080/; done
python3 - <<'PY'
import socket
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for n in (1, 100, 1000):
        s.sendto(b"x" * n, (addr, 19999))
    # ICMP/ICMPv6 echo via raw sockets (root).
    proto = socket.IPPROTO_ICMP if fam == socket.AF_INET else socket.IPPROTO_ICMPV6
    r = socket.socket(fam, socket.SOCK_RAW, proto)
    typ = 8 if fam == socket.AF_INET else 128
    msg = bytes([typ, 0, 0, 0, 0, 1, 0, 1]) + b"ping" * 8
    if fam == socket.AF_INET:
        c = sum((msg[i] << 8) + msg[i + 1] for i in range(0, len(msg), 2))
        while c >> 16:
            c = (c & 0xFFFF) + (c >> 16)
        c = ~c & 0xFFFF
        msg = msg[:2] + bytes([c >> 8, c & 0xFF]) + msg[4:]
    r.sendto(msg, (addr, 0))
PY
sleep 1
kill "$http_pid" "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true

# 2. Run pmacctd's sfprobe plugin over each pcap twice: sampling every packet
#    (sampling_rate 1) and reporting an external rate of 512 (every packet is
#    still exported, with sampling_rate 512). Capture the datagrams.
for pcap in crafted loopback; do
  for mode in rate1 ext512; do
    conf="$work/$pcap-$mode.conf"
    {
      echo "daemonize: false"
      echo "pcap_savefile: $work/$pcap.pcap"
      echo "pcap_savefile_wait: true"
      echo "plugins: sfprobe"
      echo "sfprobe_receiver: 127.0.0.1:16343"
      echo "sfprobe_agentip: 192.0.2.10"
      echo "sfprobe_agentsubid: 7"
      echo "sfprobe_ifindex: 3"
      if [ "$mode" = rate1 ]; then echo "sampling_rate: 1"; else echo "pmacctd_ext_sampling_rate: 512"; fi
    } >"$conf"
    python3 "$here/capture.py" 16343 "$work/dg-$pcap-$mode" 35 >"$work/count-$pcap-$mode" &
    cap_pid=$!
    sleep 0.5
    pmacctd -f "$conf" >"$work/pmacctd-$pcap-$mode.log" 2>&1 &
    pm_pid=$!
    wait "$cap_pid"
    kill "$pm_pid" 2>/dev/null || true
    wait "$pm_pid" 2>/dev/null || true
    n=$(tcpdump -r "$work/$pcap.pcap" 2>/dev/null | wc -l)
    echo "$pcap $mode: $n packets in pcap, $(cat "$work/count-$pcap-$mode") datagrams"
    mkdir -p "$out"
    rm -f "$out/$pcap-$mode"-*.bin
    for f in "$work/dg-$pcap-$mode"/*.bin; do
      [ -e "$f" ] || continue
      cp "$f" "$out/$pcap-$mode-$(basename "$f")"
    done
  done
  cp "$work/$pcap.pcap" "$out/$pcap.pcap"
done

# 3. The same datagrams as fuzz corpus entries.
(cd "$here" && go run ./tocorpus "$corpus" "$out"/*.bin)
for f in "$corpus"/crafted-* "$corpus"/loopback-*; do
  [ -e "$f" ] || continue
  mv "$f" "$(dirname "$f")/pmacct-$(basename "$f")"
done
