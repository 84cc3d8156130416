/**
 * standby.prepare_image's body, shared with the generic manager's
 * write_image deploy step (IPA calls the standby extension from the step and
 * waits for it). It lives in image/ so that both the command (commands/)
 * and the hardware manager (hardware/) import it downward; the
 * download-and-write code (index.ts) is loaded on first use.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config.js';
import type { Log } from '../util/log.js';
import type { AgentState } from '../state.js';
import type { ProgramRunner } from '../util/exec.js';
import { imageFormatPolicy } from './image-format.js';
import { validateImageInfo } from './validate-image-info.js';

/** The part of a manager/command context prepare_image needs. */
export interface ImageContext {
  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly run: ProgramRunner;
  readonly log?: Log;
  dispatchToManagers(method: string, ...args: unknown[]): Promise<unknown>;
}

/** md5 checksums are accepted only when the lookup config (agent_md5_checksum_enable) or local config allows them. */
export function isMd5Enabled(ctx: Pick<ImageContext, 'config' | 'state'>): boolean {
  const fromLookup = ctx.state.lookupConfig.agent_md5_checksum_enable;
  return typeof fromLookup === 'boolean' ? fromLookup : ctx.config.md5Enabled;
}

/** Validate (400 on bad input), pick the install disk, download and write. Returns IPA's message ("image (<id>) written to device ..."). */
export async function runPrepareImage(ctx: ImageContext, imageInfo: Record<string, unknown>, configdrive: string | null): Promise<string> {
  const md5Enabled = isMd5Enabled(ctx);
  validateImageInfo(imageInfo, md5Enabled);
  const device = String(await ctx.dispatchToManagers('get_os_install_device'));
  const { prepareImage } = await import('./index.js');
  const c = ctx.config;
  return prepareImage(imageInfo, configdrive, {
    device,
    md5Enabled,
    bootMode: detectBootMode(c),
    downloadTimeoutS: c.imageDownloadConnectionTimeout,
    retries: c.imageDownloadConnectionRetries,
    retryIntervalS: c.imageDownloadConnectionRetryInterval,
    maxDurationS: c.imageDownloadMaxDuration,
    insecure: c.insecure,
    cafile: c.cafile,
    basicAuth: configBasicAuth(c),
    imageFormats: imageFormatPolicy(ctx.state.lookupConfig),
    configDriveRebuild: c.configDriveRebuild,
    run: ctx.run,
    log: ctx.log,
  });
}

/**
 * IPA's _gen_auth_from_oslo_conf_user_pass: the agent config's HTTP Basic
 * credentials when image_server_auth_strategy is http_basic, else none.
 * Used only when image_info carries no auth of its own (buildHttpOptions),
 * where empty credentials are refused as IPA's _verify_basic_auth_creds does.
 */
export function configBasicAuth(c: AgentConfig): { user: string; password: string } | undefined {
  if (c.imageServerAuthStrategy !== 'http_basic') return undefined;
  return { user: c.imageServerUser ?? '', password: c.imageServerPassword ?? '' };
}

/** How this machine booted (IPA get_current_boot_mode): UEFI if the kernel exposes EFI. */
export function detectBootMode(config: AgentConfig): 'uefi' | 'bios' {
  return existsSync(join(config.rootPath, 'sys/firmware/efi')) ? 'uefi' : 'bios';
}
