# Sourced by a job in dom0 (the vm-host chroot: this machine's root over 9p, writes in
# memory) before its command: Xen's file system on /proc/xen, Xen's tools (unpacked from
# Debian's xen-utils into the build cache, so at the same path in here) on PATH, and
# xenstored + xen-init-dom0 so `xl list` works. pvm's own dom0 monitor needs neither
# xenstore nor xl: a failure to start them is reported, not fatal.
# $xen_tools: the folder of Xen's tools (xl, xenstored, xen-init-dom0); `.` takes no arguments in dash.
[ -d /proc/xen ] || { echo 'xen-host: no /proc/xen: not a Xen dom0 kernel?'; exit 125; }
grep -q . /proc/xen/capabilities 2>/dev/null || mount -t xenfs xenfs /proc/xen || { echo 'xen-host: mount xenfs failed'; exit 125; }
grep -q control_d /proc/xen/capabilities || { echo 'xen-host: this kernel is not dom0 (no control_d)'; exit 125; }
mkdir -p /run/xen /run/xenstored /var/lib/xen /var/lib/xenstored /var/log/xen /etc/xen
[ -e /etc/xen/xl.conf ] || : > /etc/xen/xl.conf  # xl's defaults are fine; it only complains without one
export PATH="$xen_tools:$PATH"
if xenstored --pid-file=/run/xenstored.pid >/var/log/xen/xenstored.log 2>&1 && xen-init-dom0 >/var/log/xen/init-dom0.log 2>&1; then
  echo "xen-host: dom0 up $(cut -d' ' -f1 /proc/uptime) s; xenstored running; $(xl info 2>/dev/null | sed -n 's/^virt_caps *: //p' | tr -s ' ' | sed 's/^/virt_caps: /')"
else
  echo "xen-host: xenstored or xen-init-dom0 failed (xl will not work): $(cat /var/log/xen/*.log 2>/dev/null | tail -3)"
fi
# pvm's channels and shared regions on xen are gntalloc pages (a channel: 130 grants);
# the module allows 1024 grants in all by default.
if [ -w /sys/module/xen_gntalloc/parameters/limit ]; then echo 65536 > /sys/module/xen_gntalloc/parameters/limit
else echo 'xen-host: cannot raise xen_gntalloc limit (pvm channels: 7 at most)'; fi
# A heartbeat every 5 min while the job runs, so that a run that stops making progress
# says why: dom0 still alive (and what pvm's processes wait in) or not (no heartbeat: the
# emulated machine itself went quiet). It ends with the job (its parent shell).
(
  parent=$$
  while sleep 300 && kill -0 "$parent" 2>/dev/null; do
    echo "xen-host: heartbeat at $(cut -d' ' -f1 /proc/uptime) s: $(($(xl list 2>/dev/null | wc -l) - 1)) domains; pvm processes (pid state wait):"
    for d in /proc/[0-9]*; do
      case "$(cat "$d/comm" 2>/dev/null)" in node|pvm-monitor*|pvm-xen*) ;; *) continue ;; esac
      echo "  ${d#/proc/} $(cut -d' ' -f3 "$d/stat" 2>/dev/null) $(cat "$d/wchan" 2>/dev/null) $(tr '\0' ' ' < "$d/cmdline" 2>/dev/null | cut -c1-80)"
    done | head -24
  done
) &
