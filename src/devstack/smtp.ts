import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../cli/context';
import { stackPaths, type ServiceContext, type ServiceSpec } from './service';

/** The sink's entry point; run through tsx like the CLI, so it needs no build either. */
export const SMTP_SINK_SCRIPT = path.join(__dirname, 'smtp-sink.ts');

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
    signature: [SMTP_SINK_SCRIPT, mailDir],
    readyTimeoutMs: 30_000,
    install: async () => {
      if (!existsSync(SMTP_SINK_SCRIPT)) {
        throw new UserError(`The SMTP sink script ${SMTP_SINK_SCRIPT} is missing.`, 'restore src/devstack/smtp-sink.ts from git (`git checkout -- src/devstack`)');
      }
    },
    prepare: async () => ({
      command: process.execPath,
      args: [
        '--require',
        require.resolve('tsx/cjs'),
        SMTP_SINK_SCRIPT,
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
