export { createDevStack, endpointEnv, type DevStack, type DevStackEndpoints, type DevStackOptions, type ServiceState, type ServiceStatus } from './dev-stack';
export { cachePaths, kafkaPaths, TEMPORAL_CLI_VERSION } from './install';
export { KAFKA_VERSION } from './kafka-version';
export { followLogs, readLogTail } from './logs';
export { findFreePorts, findFreeStackPorts, PORT_ENV_VARS, type DevStackPorts, type PortName } from './ports';
export { SERVICE_NAMES, type ServiceName } from './service';
export { CCOMPAT_PATH, localSchemaRegistryUrl } from './schema-registry';
export { mailDirOf } from './smtp';
export { abandonedRunDirs, claimRunDir, releaseRunDir } from './run-dirs';
