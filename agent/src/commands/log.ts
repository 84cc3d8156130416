/** The log extension: log.collect_system_logs (the archive itself is util/system-logs.ts). */
import { collectSystemLogs } from '../util/system-logs.js';
import { syncCommand, type Extension } from './types.js';

export function createLogExtension(): Extension {
  return {
    collect_system_logs: syncCommand(async (_p, ctx) => ({
      system_logs: await collectSystemLogs({ run: ctx.run, root: ctx.config.rootPath }),
    })),
  };
}
