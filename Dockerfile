# The agent's container, for the coreos flavor (docs/coreos.md). ramforge
# builds it through the Docker engine's API, exports the container's
# filesystem to /usr/share/oem/container.tar.gz and runs the agent chrooted
# there at boot (cloud-config/cloud-config.yml).
#
# No registry is reachable from the build machines: BASE is a Debian image
# ramforge makes itself (mmdebstrap from the host's apt sources, imported
# through the engine API and tagged by content), or the spec's
# coreos.baseImage. The context holds the pinned Node runtime (node), the
# agent bundle (agent.mjs) and its start script (ironic-python-agent), made
# by ramforge as for tinyipa, with tinyipa's start.mjs and V8's code cache
# for the bundle (compile-cache/: made by the pinned Node at build time,
# reproducibly; start.mjs hands it to Node at start). Proxies (http_proxy, https_proxy, no_proxy and
# their upper-case forms) are the engine's predefined build arguments:
# ramforge passes the caller's through to the RUN steps.
ARG BASE=ramforge/debian-base
FROM ${BASE}

# The host's apt sources (deb822), for this step only: written, used and
# removed in the same layer, so no mirror is named in the image.
ARG APT_SOURCES
# The disk and hardware tools the agent runs (docs/ramdisk-tools.md; the
# same set as the other flavors: tcpdump for LLDP, mdadm for software RAID),
# kmod and iproute2 for the agent's modprobe and ip. Removed in the same
# step:
# - what differs from build to build: downloaded packages, logs, indexes,
#   ldconfig's cache (inode numbers), the date line of mdadm's generated
#   mdadm.conf, and nvme-cli's host NQN and host ID (random at install; an
#   NVMe-oF identity must never be shared by every node booting this image)
#   (tested: test/integration/reproducible.test.ts, two engines);
# - what the agent never reads (the container is unpacked into RAM at every
#   boot, and that is the boot's slowest step under TCG): translations,
#   documentation but copyright files, manual pages, udev's hardware
#   database (udevd runs on the host, not here), iconv modules, ipmitool's
#   IANA vendor list (display only), qemu programs other than qemu-img.
RUN set -eu; \
    printf '%s\n' "$APT_SOURCES" > /etc/apt/sources.list.d/ramforge-build.sources; \
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' \
      'path-exclude=/usr/share/locale/*' 'path-exclude=/usr/share/info/*' > /etc/dpkg/dpkg.cfg.d/ramforge-nodoc; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      util-linux mount gdisk parted dosfstools e2fsprogs dmidecode qemu-utils ipmitool hdparm nvme-cli efibootmgr \
      tcpdump mdadm smartmontools iproute2 kmod libstdc++6 ca-certificates; \
    apt-get clean; \
    rm -f /etc/apt/sources.list.d/ramforge-build.sources; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
      /var/cache/ldconfig/aux-cache /var/cache/debconf/*-old; \
    find /usr/share/doc -type f ! -name copyright -delete; \
    find /usr/share/doc -type d -empty -delete; \
    rm -rf /usr/share/locale/* /usr/share/man/* /usr/share/info/* /usr/share/lintian /usr/share/bash-completion \
      /usr/lib/udev/hwdb.d /usr/lib/udev/hwdb.bin /usr/lib/x86_64-linux-gnu/gconv /usr/share/misc/enterprise-numbers.txt \
      /usr/bin/qemu-nbd /usr/bin/qemu-io /usr/bin/qemu-storage-daemon; \
    rm -f /etc/nvme/hostnqn /etc/nvme/hostid; \
    sed -i '/^# This configuration was auto-generated on /d' /etc/mdadm/mdadm.conf

COPY node /usr/bin/node
COPY agent.mjs start.mjs /usr/lib/ramforge-agent/
COPY compile-cache/ /usr/lib/ramforge-agent/compile-cache/
COPY ironic-python-agent /usr/local/bin/ironic-python-agent
CMD ["/usr/local/bin/ironic-python-agent"]
