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
# by ramforge as for tinyipa. Proxies (http_proxy, https_proxy, no_proxy and
# their upper-case forms) are the engine's predefined build arguments:
# ramforge passes the caller's through to the RUN steps.
ARG BASE=ramforge/debian-base
FROM ${BASE}

# The host's apt sources (deb822), for this step only: written, used and
# removed in the same layer, so no mirror is named in the image.
ARG APT_SOURCES
# The disk and hardware tools the agent runs (docs/ramdisk-tools.md; the
# same set as the other flavors: tcpdump for LLDP, mdadm for software RAID),
# kmod and iproute2 for the agent's modprobe and ip. No documentation, manual pages or translations (the container is
# in RAM); copyright files stay. Downloaded packages, logs, indexes and
# ldconfig's cache (inode numbers) are removed: they differ from build to
# build. So are what maintainer scripts make per machine: nvme-cli's host
# NQN and host ID (random; an NVMe-oF identity must never be shared by every
# node that boots this image) and the date line of mdadm's generated
# mdadm.conf (tested: test/integration/reproducible.test.ts, two engines).
RUN set -eu; \
    printf '%s\n' "$APT_SOURCES" > /etc/apt/sources.list.d/ramforge-build.sources; \
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' \
      'path-exclude=/usr/share/locale/*' 'path-exclude=/usr/share/info/*' > /etc/dpkg/dpkg.cfg.d/ramforge-nodoc; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      util-linux mount gdisk parted dosfstools e2fsprogs dmidecode qemu-utils ipmitool hdparm nvme-cli efibootmgr \
      tcpdump mdadm iproute2 kmod libstdc++6 ca-certificates; \
    apt-get clean; \
    rm -f /etc/apt/sources.list.d/ramforge-build.sources; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
      /var/cache/ldconfig/aux-cache /var/cache/debconf/*-old; \
    rm -f /etc/nvme/hostnqn /etc/nvme/hostid; \
    sed -i '/^# This configuration was auto-generated on /d' /etc/mdadm/mdadm.conf

COPY node /usr/bin/node
COPY agent.mjs /usr/lib/ramforge-agent/agent.mjs
COPY ironic-python-agent /usr/local/bin/ironic-python-agent
CMD ["/usr/local/bin/ironic-python-agent"]
