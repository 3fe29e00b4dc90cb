import { redactUrl } from '../shared/redact-url';
import { SourceRejectedError } from './define';

/**
 * Credentials of the built-in HTTP source. The workflow's input is stored in Temporal's history
 * and shown in its UI, so it carries no secret: a url names its credentials by the environment
 * variable of the worker that holds them (`credentialsEnv`), and a url with `user:password@` in it
 * is refused wherever it enters (a declared pipeline, `kto ingest run --url`, the worker).
 */

/** An environment variable's name, as a shell writes one. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The example name the messages and docs use. */
const EXAMPLE_ENV = 'USERS_API_CREDENTIALS';

/** Whether `url` carries a user or a password (`https://user:pass@host/`). */
export function hasUserinfo(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const u = new URL(url);
  return u.username !== '' || u.password !== '';
}

/**
 * Why a url with credentials is refused, and the fix, naming the option to use instead
 * (`credentialsEnv`, or `--credentials-env` on the CLI). The url appears redacted.
 */
export function userinfoRefusal(url: string, option: string): { message: string; fix: string } {
  return {
    message: `the url ${redactUrl(url)} carries credentials (user:password@), which would be stored in the workflow's input in Temporal's history and shown in its UI`,
    fix: `remove user:password@ from the url, set an environment variable of every kto worker to user:password (e.g. ${EXAMPLE_ENV}) and name it with ${option} (e.g. ${option === 'credentialsEnv' ? `credentialsEnv: ${EXAMPLE_ENV}` : `${option} ${EXAMPLE_ENV}`})`,
  };
}

/**
 * The `Authorization` header for the credentials in the worker's variable `name`.
 * @throws SourceRejectedError (the run fails at once) naming the variable and the fix when it is
 * unset, empty or not `user:password`; the value appears in no message.
 */
export function basicAuthFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  const fix = `Fix: set ${name}=user:password in the environment of every kto worker that runs ingest (and restart them), or correct the pipeline's credentialsEnv`;
  if (value === undefined || value === '') {
    throw new SourceRejectedError(`credentialsEnv names the environment variable ${name}, which is ${value === undefined ? 'not set' : 'empty'} on this worker. ${fix}`);
  }
  if (!value.includes(':')) throw new SourceRejectedError(`the environment variable ${name} (credentialsEnv) must hold user:password, and it holds no ":". ${fix}`);
  return `Basic ${Buffer.from(value).toString('base64')}`;
}
