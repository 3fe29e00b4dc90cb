export { batch, batchProgressQuery, type BatchProgress } from './batch';
export { partition } from './partition';
