import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../runtime/errors';
import { scriptEntry } from '../runtime/entry';
import { stackPaths, type ServiceContext, type ServiceSpec } from './service';

/** The sink's entry point, compiled or (in kto's own tests) its source. */
const SMTP_SINK = scriptEntry(__dirname, 'smtp-sink', __filename);

/** Where the sink of the stack in `stackDir` keeps received messages (`kto dev mail` reads them from here). */
export function mailDirOf(stackDir: string): string {
  return path.join(stackPaths(stackDir).data, 'mail');
}

export function createSmtpService(ctx: ServiceContext): ServiceSpec {
  const mailDir = mailDirOf(ctx.paths.dir);
  const healthUrl = `http://127.0.0.1:${ctx.ports.smtpControl}/healthz`;
  return {
    name: 'smtp',
    ports: ['smtp', 'smtpControl'],
    // Not the script's path: the sink a test started from the sources is the one a built CLI finds.
    signature: ['--control-port', mailDir],
    readyTimeoutMs: 30_000,
    install: async () => {
      if (!existsSync(SMTP_SINK.file)) {
        throw new UserError(`The SMTP sink script ${SMTP_SINK.file} is missing.`, 'reinstall kto (npm install), or in a kto checkout run `npm run build`');
      }
    },
    prepare: async () => ({
      command: process.execPath,
      args: [
        ...SMTP_SINK.execArgv,
        SMTP_SINK.file,
        '--port',
        String(ctx.ports.smtp),
        '--control-port',
        String(ctx.ports.smtpControl),
        '--dir',
        mailDir,
      ],
    }),
    probe: async () => {
      try {
        const res = await fetch(healthUrl, { signal: AbortSignal.timeout(1_000) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
  };
}
