/** The Apache Kafka release the local stack runs unless KTO_DEV_KAFKA_VERSION names another. */
export const KAFKA_VERSION = '3.9.1';

/** The releases the stack knows how to install and start: 3.9.x (reload4j logging) and 4.x (log4j2). */
export const SUPPORTED_KAFKA_VERSION = /^(?:3\.9|4\.\d+)\.\d+$/;

export const KAFKA_VERSION_HINT = `a release of Apache Kafka 3.9 or 4.x as Maven Central names it, e.g. ${KAFKA_VERSION} or 4.1.1`;

/** The major version of a supported release; it decides the logging jars and configuration. */
export function kafkaMajor(version: string): 3 | 4 {
  if (!SUPPORTED_KAFKA_VERSION.test(version)) throw new Error(`Kafka ${version} is not supported by the local stack: use ${KAFKA_VERSION_HINT}`);
  return version.startsWith('3.') ? 3 : 4;
}
