#!/bin/sh
# customize.sh ROOT — mmdebstrap --customize-hook of scripts/make-image.sh: turns
# the installed bookworm arm64 tree in ROOT into the lookout SD-card system.
# Runs on the build host (as root); commands inside the tree go through chroot
# (qemu-user binfmt).
set -eu
root=$1
here=$(cd "$(dirname "$0")" && pwd)
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# Host name (first boot may override), hosts, fstab by label (the labels
# make-image.sh gives the two partitions).
echo lookout >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	lookout
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
cat >"$root/etc/fstab" <<'EOF'
# <file system>   <mount point>   <type> <options>                       <dump> <pass>
LABEL=RASPIROOT   /               ext4   rw,noatime,errors=remount-ro     0      1
LABEL=RASPIFIRM   /boot/firmware  vfat   rw,noatime,umask=0022,nofail      0      2
EOF

# Network: DHCP on every wired and wireless interface, mDNS so the Pi answers
# as <hostname>.local; systemd-resolved provides /etc/resolv.conf.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Name=e*

[Network]
DHCP=yes
MulticastDNS=yes
EOF
cat >"$root/etc/systemd/network/30-wireless.network" <<'EOF'
[Match]
Name=wl*

[Network]
DHCP=yes
MulticastDNS=yes
EOF
mkdir -p "$root/etc/systemd/resolved.conf.d"
printf '[Resolve]\nMulticastDNS=yes\n' >"$root/etc/systemd/resolved.conf.d/lookout-mdns.conf"
in_root systemctl enable systemd-networkd.service systemd-resolved.service systemd-timesyncd.service >/dev/null 2>&1

# First-boot settings from the FAT partition.
install -m 0755 "$here/lookout-firstboot" "$root/usr/local/sbin/lookout-firstboot"
install -m 0644 "$here/lookout-firstboot.service" "$root/etc/systemd/system/lookout-firstboot.service"
in_root systemctl enable lookout-firstboot.service >/dev/null 2>&1
mkdir -p "$root/boot/firmware/lookout"
install -m 0644 "$here/boot-README.txt" "$root/boot/firmware/lookout/README.txt"
for f in hostname authorized_keys wifi.conf; do
  install -m 0644 "$here/examples/$f" "$root/boot/firmware/lookout/$f.example"
done

# No SSH host keys in the image (every card makes its own at first boot); root
# logs in with a key from authorized_keys, or without password on the local
# console only (as Debian's own Raspberry Pi images do).
rm -f "$root"/etc/ssh/ssh_host_*
in_root passwd -d root >/dev/null

# lookoutd must be enabled by the package's postinst; fail the build if not.
if ! ls "$root"/etc/systemd/system/*.wants/lookoutd.service >/dev/null 2>&1; then
  echo "customize.sh: lookoutd.service is not enabled in the image" >&2
  exit 1
fi

# Smaller image: apt lists and caches are refetched on the Pi when needed.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
: >"$root/etc/machine-id"   # systemd makes one at first boot
rm -f "$root/var/lib/dbus/machine-id"
