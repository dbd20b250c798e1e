#!/bin/sh
# udhcpc event script: configure the address (no default route: each test
# NIC has its own slirp subnet) and record the lease for calgary-guest.
case "$1" in
    deconfig)
        ip addr flush dev "$interface" 2>/dev/null
        ip link set dev "$interface" up
        ;;
    bound|renew)
        ip addr flush dev "$interface" 2>/dev/null
        ip addr add "$ip/${mask:-24}" dev "$interface"
        printf 'ip=%s\nmask=%s\nrouter=%s\nserverid=%s\n' "$ip" "$mask" "$router" "$serverid" > "/tmp/dhcp-$interface"
        ;;
esac
exit 0
