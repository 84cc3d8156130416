# The agent as a container image, for the coreos flavor (its own issue; not
# built by this version). No registry is reachable from the build machines:
# the base image is imported locally from a Debian rootfs (mmdebstrap).
ARG BASE=ramforge/debian-base:bookworm
FROM ${BASE}
COPY agent.mjs /usr/lib/ramforge-agent/agent.mjs
COPY node /usr/bin/node
ENTRYPOINT ["/usr/bin/node", "/usr/lib/ramforge-agent/agent.mjs"]
