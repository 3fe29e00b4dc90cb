export { batch, batchProgressQuery, type BatchProgress } from './batch';
export { partition } from './partition';
export { partitionGroup } from './partition-group';
export { backfill } from './backfill';
export { sendEmailAlert, sendEmailDigest, type SendEmailAlertInput, type SendEmailAlertResult, type SendEmailDigestResult } from './send-email-alert';
export { ingest } from './ingest';
export { completeBatch } from './complete-batch';
