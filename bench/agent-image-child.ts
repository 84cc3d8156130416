/**
 * The agent's image download as a process of its own, bundled and run on the
 * ramdisk's pinned Node by bench/agent-image.ts (so neither the bench's
 * event loop nor the host's Node version is part of the figure):
 *
 *   node agent-image-child.mjs URL FILE SHA256 [buffered]
 *
 * Prints one JSON line: the download's seconds (from the first request to
 * the data on disk and verified; Node's start-up is not part of it), bytes
 * and CPU seconds of the whole process (main thread, hash worker, I/O threads).
 */
import { downloadImage } from '../agent/src/image/download.js';
import { openImageSink } from '../agent/src/image/block-writer.js';

const [url, file, sha256, mode] = process.argv.slice(2);
if (!url || !file || !sha256) throw new Error('usage: agent-image-child URL FILE SHA256 [buffered]');
const info = { id: 'img.raw', urls: [url], disk_format: 'raw', os_hash_algo: 'sha256', os_hash_value: sha256 };
const opts = { md5Enabled: false, downloadTimeoutS: 60, retries: 0, retryIntervalS: 1, maxDurationS: 0 };
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const r = await downloadImage(info, () => openImageSink(file, 'file', { directIo: mode !== 'buffered' }), opts);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ seconds, bytes: r.bytes, userS: cpu.user / 1e6, systemS: cpu.system / 1e6 }));
