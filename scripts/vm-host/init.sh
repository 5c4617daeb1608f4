#!/bin/sh
# PID 1 of a vm-host initramfs (a template: initramfs.mjs fills in @MODULES@).
# Loads the modules, mounts this VM's host's root read-only over 9p (tag hostroot) under
# a tmpfs overlay, and runs the job named on the kernel command line
# (vmhost_job=<path of a shell script on the host>) chrooted into that overlay: the
# host's programs and checkouts run unchanged, their writes go to memory. The last
# line it prints is "vm-host: job exited <status>" (125: the set-up failed); then the
# VM powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
say() { echo "vm-host: $*"; }
finish() {
  say "job exited $1"
  sync
  poweroff -f
}
fail() {
  say "set-up failed: $*"
  finish 125
}

mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev || fail 'proc, sysfs or devtmpfs'
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && mount -t tmpfs -o mode=755 tmpfs /run || fail 'devpts or tmpfs'

for m in @MODULES@; do
  insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
ip link set lo up || fail 'loopback'

job=$(sed -n 's/.*vmhost_job=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$job" ] || fail 'no vmhost_job= on the kernel command line'

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host || fail '9p mount of hostroot'
mount -t tmpfs -o mode=755 tmpfs /rw && mkdir /rw/upper /rw/work || fail 'tmpfs for the overlay'
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail 'overlay'
for d in dev proc sys run; do
  mount -o rbind "/$d" "/newroot/$d" || fail "bind /$d"
done
# /tmp is a tmpfs of its own, but the folder under it that holds the job (a checkout in
# /tmp) stays the host's.
mkdir /rw/tmp && mount -o bind /newroot/tmp /rw/tmp && mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail 'tmpfs on /tmp'
case $job in /tmp/*/*)
  top=${job#/tmp/}
  top=${top%%/*}
  mkdir "/newroot/tmp/$top" && mount -o bind "/rw/tmp/$top" "/newroot/tmp/$top" || fail "bind /tmp/$top"
esac

say "up $(cut -d' ' -f1 /proc/uptime) s: $(nproc) CPUs, $(free -m | awk '/Mem:/ { print $2 }') MiB; running $job"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
chroot /newroot /bin/sh "$job"
finish $?
