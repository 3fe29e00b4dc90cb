/**
 * Errors a person can act on. Every layer throws these (the CLI only prints them), so nothing
 * below the CLI imports from it.
 */

/** An error a user can act on: what happened, why, and the fix. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
