/**
 * The standby extension (image write, partition UUIDs, power) and the image
 * extension (bootloader). Disk and image work is image/; power
 * actions go through ctx.run so tests record them instead of rebooting.
 */
import { validateImageInfo } from '../image/validate-image-info.js';
import { checkParams } from './params.js';
import { shutdownHost } from './shutdown.js';
import { detectBootMode, isMd5Enabled, runPrepareImage, type ImageContext } from '../image/run-prepare-image.js';
import { asyncCommand, syncCommand, type CommandContext, type Extension, type Params } from './types.js';

function imageContext(ctx: CommandContext): ImageContext {
  return {
    config: ctx.config,
    state: ctx.state,
    run: ctx.run,
    log: ctx.log,
    dispatchToManagers: (method, ...args) => ctx.managers.dispatchToManagers(method, ...args),
  };
}

function validateImageParams(cmd: string, params: Params, ctx: CommandContext): void {
  checkParams(cmd, params, { image_info: 'object', configdrive: 'string?' });
  validateImageInfo(params.image_info as Record<string, unknown>, isMd5Enabled(ctx));
}

export function createStandbyExtension(): Extension {
  return {
    prepare_image: asyncCommand(
      (p, ctx) =>
        runPrepareImage(imageContext(ctx), p.image_info as Record<string, unknown>, (p.configdrive as string | null | undefined) ?? null),
      (p, ctx) => validateImageParams('prepare_image', p, ctx),
    ),
    // Zed-era command, unused by Ironic 21.4; kept as prepare_image with IPA's wording.
    cache_image: asyncCommand(
      async (p, ctx) =>
        (
          await runPrepareImage(
            imageContext(ctx),
            p.image_info as Record<string, unknown>,
            (p.configdrive as string | null | undefined) ?? null,
          )
        ).replace(' written to ', ' cached to '),
      (p, ctx) => validateImageParams('cache_image', p, ctx),
    ),
    get_partition_uuids: syncCommand(async () => {
      const { getPartitionUuids } = await import('../image/index.js');
      return getPartitionUuids();
    }),
    power_off: asyncCommand((_p, ctx) => shutdownHost(ctx.run, ctx.log, 'poweroff')),
    run_image: asyncCommand((_p, ctx) => shutdownHost(ctx.run, ctx.log, 'reboot')),
    sync: syncCommand(async (_p, ctx) => {
      await ctx.run(['sync'], { timeoutMs: 120_000 });
      return null;
    }),
  };
}

export function createImageExtension(): Extension {
  return {
    install_bootloader: asyncCommand(
      async (p, ctx) => {
        const { installBootloader } = await import('../image/index.js');
        const { imageGrubAllowed } = await import('../image/image-grub.js');
        const device = String(await ctx.managers.dispatchToManagers('get_os_install_device'));
        await installBootloader(
          {
            root_uuid: p.root_uuid as string | null | undefined,
            efi_system_part_uuid: p.efi_system_part_uuid as string | null | undefined,
            prep_boot_part_uuid: p.prep_boot_part_uuid as string | null | undefined,
            target_boot_mode: p.target_boot_mode as string | undefined,
            ignore_bootloader_failure: (p.ignore_bootloader_failure as boolean | undefined) ?? ctx.config.ignoreBootloaderFailure,
          },
          {
            device,
            run: ctx.run,
            bootMode: detectBootMode(ctx.config),
            log: ctx.log,
            imageGrubAllowed: imageGrubAllowed(ctx.config.enableBiosBootloaderInstall, ctx.state.lookupConfig),
          },
        );
        return null;
      },
      (p) =>
        checkParams('install_bootloader', p, {
          root_uuid: 'string?',
          efi_system_part_uuid: 'string?',
          prep_boot_part_uuid: 'string?',
          target_boot_mode: 'string?',
          ignore_bootloader_failure: 'boolean?',
        }),
    ),
  };
}
