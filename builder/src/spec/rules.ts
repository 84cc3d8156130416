/** Semantic checks the schema cannot express. Collects every issue. */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { SpecIssue } from '../errors.js';
import type { BuildSpec } from './normalize.js';
import { NOT_YET } from '../flavors/registry.js';
import { checkCloudConfigFile } from '../flavors/coreos/cloud-config.js';
import { buildVmediaCmdline } from '../outputs/iso-cmdline.js';
import { UserError } from '../errors.js';

export function checkRules(spec: BuildSpec): { errors: SpecIssue[]; warnings: SpecIssue[] } {
  const errors: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  const notYet = NOT_YET[spec.flavor];
  if (notYet) errors.push({ path: 'flavor', message: notYet, fix: "use 'tinyipa'" });

  spec.files.forEach((f, i) => {
    const path = `files[${i}]`;
    if ((f.src === undefined) === (f.content === undefined))
      errors.push({ path, message: 'needs exactly one of src or content', fix: 'give src: <host file> or content: <text>' });
    if (f.src !== undefined) requireFile(errors, `${path}.src`, f.src, 'file');
    if (f.dest.endsWith('/')) errors.push({ path: `${path}.dest`, message: 'is a directory path', fix: 'name the file, e.g. /etc/motd' });
    checkDest(errors, `${path}.dest`, f.dest);
  });
  spec.directories.forEach((d, i) => checkDest(errors, `directories[${i}].dest`, d.dest));
  spec.directories.forEach((d, i) => {
    if (d.src !== undefined) requireFile(errors, `directories[${i}].src`, d.src, 'dir');
  });
  spec.tarballs.forEach((t, i) => {
    requireFile(errors, `tarballs[${i}].src`, t.src, 'file');
    checkDest(errors, `tarballs[${i}].dest`, t.dest);
  });
  if (spec.flavor === 'dib') spec.dib.elementsPath.forEach((p, i) => requireFile(errors, `dib.elementsPath[${i}]`, p, 'dir'));
  if (spec.flavor === 'coreos') {
    const c = spec.coreos;
    if (c.dockerfile !== undefined) requireFile(errors, 'coreos.dockerfile', c.dockerfile, 'file');
    if (c.container !== undefined) requireFile(errors, 'coreos.container', c.container, 'any');
    if (c.container !== undefined && (c.dockerfile !== undefined || c.baseImage !== undefined))
      errors.push({
        path: 'coreos.container',
        message: 'takes the container from an image archive, so dockerfile and baseImage would be ignored',
        fix: 'keep container, or dockerfile/baseImage, not both',
      });
    c.cloudConfig.forEach((f, i) => {
      requireFile(errors, `coreos.cloudConfig[${i}]`, f, 'file');
      // Checked here, before any slow work: a typo in a unit is a spec error (exit 2), not a boot surprise.
      if (existsSync(f) && statSync(f).isFile()) errors.push(...checkCloudConfigFile(f, `coreos.cloudConfig[${i}]`));
    });
    if (c.base) {
      requireFile(errors, 'coreos.base.kernel', c.base.kernel, 'file');
      requireFile(errors, 'coreos.base.initramfs', c.base.initramfs, 'file');
    }
  }
  spec.agent.hardwareManagers.forEach((h, i) => requireFile(errors, `agent.hardwareManagers[${i}]`, h, 'any'));
  spec.agent.caCertificates.forEach((c, i) => {
    requireFile(errors, `agent.caCertificates[${i}]`, c, 'file');
    checkCaFile(errors, `agent.caCertificates[${i}]`, c);
  });
  // Checked when the ISO is written, at the end of a build: said before the build starts instead.
  if (spec.iso.enabled) {
    const checkArgs = (path: string, text: string): boolean => {
      try {
        buildVmediaCmdline(text);
        return true;
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        errors.push({ path, message: e.message, ...(e.hint ? { fix: e.hint } : {}) });
        return false;
      }
    };
    // Each part for its characters, then the two joined as the ISO's entries carry them (pipeline/run.ts): for the length.
    const cmdlineOk = checkArgs('cmdline', spec.cmdline);
    const appendOk = checkArgs('iso.append', spec.iso.append);
    if (cmdlineOk && appendOk && spec.cmdline && spec.iso.append) checkArgs('cmdline, iso.append', `${spec.cmdline} ${spec.iso.append}`);
  }
  // Read only when the ISO and the UKI are written, at the end of a build: a missing one must stop it before it starts.
  if (spec.iso.enabled && spec.iso.signing) {
    requireFile(errors, 'iso.signing.key', spec.iso.signing.key, 'file');
    requireFile(errors, 'iso.signing.cert', spec.iso.signing.cert, 'file');
  }

  const dests = new Map<string, string>();
  spec.files.forEach((f, i) => {
    const prev = dests.get(f.dest);
    if (prev) errors.push({ path: `files[${i}].dest`, message: `${f.dest} is also written by ${prev}`, fix: 'keep one of them' });
    dests.set(f.dest, `files[${i}]`);
  });
  if (spec.console)
    warnings.push({
      path: 'console',
      message: 'the ramdisk gives a root shell on its consoles',
      fix: 'leave console off for production ramdisks',
    });
  if (/\bipa-api-url=/.test(spec.cmdline))
    warnings.push({ path: 'cmdline', message: 'ipa-api-url is usually set by Ironic when it boots the ramdisk' });
  return { errors, warnings };
}

function requireFile(errors: SpecIssue[], path: string, p: string, kind: 'file' | 'dir' | 'any'): void {
  if (!existsSync(p)) {
    errors.push({ path, message: `${p} does not exist`, fix: 'paths are relative to the spec file' });
    return;
  }
  const st = statSync(p);
  if (kind === 'file' && !st.isFile()) errors.push({ path, message: `${p} is not a regular file`, fix: 'name a file' });
  if (kind === 'dir' && !st.isDirectory()) errors.push({ path, message: `${p} is not a directory`, fix: 'name a directory' });
}

/** '..' in a path inside the image is refused when the tree is assembled, at the end of the slow part: said here. */
function checkDest(errors: SpecIssue[], path: string, dest: string): void {
  if (dest.split('/').includes('..'))
    errors.push({ path, message: `${dest} has a '..' component`, fix: 'give the path inside the image without ..' });
}

/**
 * A CA bundle goes into the image world-readable and into the agent's trust store: it must hold PEM
 * certificates that parse, and never a private key (a site's key pasted by mistake would ship in every ramdisk).
 */
function checkCaFile(errors: SpecIssue[], path: string, file: string): void {
  let text: string;
  try {
    if (!statSync(file).isFile()) return;
    text = readFileSync(file, 'latin1');
  } catch {
    return; // requireFile said why
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    errors.push({
      path,
      message: `${file} holds a private key`,
      fix: 'give the CA certificate (PEM) only; never put a private key into the image',
    });
    return;
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    errors.push({
      path,
      message: `${file} holds no PEM certificate`,
      fix: 'give a PEM file with -----BEGIN CERTIFICATE----- blocks (convert DER with openssl x509 -inform der)',
    });
    return;
  }
  blocks.forEach((b, n) => {
    try {
      new X509Certificate(b);
    } catch (e) {
      errors.push({
        path,
        message: `certificate ${n + 1} of ${file} does not parse (${(e as Error).message})`,
        fix: 'give an intact PEM certificate',
      });
    }
  });
}
