import { startSharedStack } from './global-setup';

/** The cluster project's stack: three Kafka nodes (replication factor 3, min.insync.replicas 2) beside Temporal and the SMTP sink. */
export default async function clusterSetup(): Promise<void> {
  await startSharedStack('cluster', { brokers: 3 });
}
