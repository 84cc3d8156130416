/**
 * Pieces of the real-Ironic harness (ironic.ts) kept apart for size: the
 * ironic.conf / inspector.conf text (as measured in
 * /work/shared/reference/real-ironic.md), a free-port helper and the tiny
 * image server for [deploy]http_root.
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface Ports {
  apiPort: number;
  inspectorPort: number | undefined;
  httpPort: number;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export function renderIronicConf(rundir: string, p: Ports, requireTls: boolean): string {
  const http = `http://127.0.0.1:${p.httpPort}`;
  return `[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = test-conductor
my_ip = 127.0.0.1
state_path = ${rundir}/var
enabled_hardware_types = fake-hardware
enabled_boot_interfaces = fake
enabled_deploy_interfaces = direct,fake
default_deploy_interface = direct
enabled_power_interfaces = fake
# 'fake' management only accepts boot device pxe and the deploy sets disk.
enabled_management_interfaces = noop,fake
default_management_interface = noop
enabled_inspect_interfaces = no-inspect,fake${p.inspectorPort ? ',inspector' : ''}
enabled_network_interfaces = noop
enabled_raid_interfaces = no-raid,agent
[api]
host_ip = 127.0.0.1
port = ${p.apiPort}
# Reaches the agent as config.heartbeat_timeout: keeps heartbeats every 9-18 s.
ramdisk_heartbeat_timeout = 30
[database]
connection = sqlite:///${rundir}/var/ironic.sqlite
[dhcp]
dhcp_provider = none
[conductor]
automated_clean = true
heartbeat_interval = 5
check_provision_state_interval = 10
deploy_kernel = ${http}/fake-kernel
deploy_ramdisk = ${http}/fake-ramdisk
[deploy]
http_url = ${http}
http_root = ${rundir}/httpboot
# One zero pass instead of random data: erase_devices still runs its overwrite path
# on the loop disk but finishes in seconds (reaches the agent as
# driver_internal_info agent_erase_devices_iterations/zeroize).
shred_random_overwrite_iterations = 0
shred_final_overwrite_with_zeros = true
[agent]
require_tls = ${requireTls}
# The CVE-2026-43003 mitigation (Debian's 21.4.4-0+deb12u3 has it) keeps the agent from running a deployed
# image's GRUB; the software RAID deploys here need it (install_bootloader on every member disk).
enable_bios_bootloader_install = true
command_timeout = 30
image_download_source = http
# Fake power never reports "off": avoids a 30 s wait after deploy.
post_deploy_get_power_state_retries = 1
post_deploy_get_power_state_retry_interval = 1
command_wait_interval = 2
[service_catalog]
auth_type = none
# Without it cleaning fails: there is no catalog to find the API in.
endpoint_override = http://127.0.0.1:${p.apiPort}
[oslo_concurrency]
lock_path = ${rundir}/var/lock
[pxe]
tftp_root = ${rundir}/var/tftpboot
[inspector]
auth_type = none
endpoint_override = http://127.0.0.1:${p.inspectorPort ?? 5050}
require_managed_boot = false
status_check_period = 10
`;
}

export function renderInspectorConf(rundir: string, p: Ports): string {
  return `[DEFAULT]
auth_strategy = noauth
listen_address = 127.0.0.1
listen_port = ${p.inspectorPort}
standalone = true
transport_url = fake://
[database]
connection = sqlite:///${rundir}/var/inspector.sqlite
[ironic]
auth_type = none
endpoint_override = http://127.0.0.1:${p.apiPort}
[processing]
processing_hooks = $default_processing_hooks
store_data = database
add_ports = pxe
power_off = true
[pxe_filter]
driver = noop
[discovery]
enroll_node_driver = fake-hardware
`;
}

export interface FileServer {
  port: number;
  close(): Promise<void>;
}

/** Serve `root` read-only (GET and HEAD) on 127.0.0.1: the conductor HEADs image URLs, the agent GETs them. */
export async function startFileServer(root: string, port: number): Promise<FileServer> {
  const srv: Server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, rel);
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}
