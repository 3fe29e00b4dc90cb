// Three projects: unit tests need nothing running; integration and e2e tests share one real
// stack (Temporal, Kafka, SMTP sink) started by the global setup on free ports; the cluster
// tests get a stack with three Kafka brokers of their own. A stack's endpoints reach the tests
// through process.env, so integration and cluster run in separate jest runs (npm test does).
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

module.exports = {
  testTimeout: 120_000,
  // The integration files share one stack on a 2-core machine: one file at a time keeps timings sane.
  maxWorkers: 1,
  projects: [
    { displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'], transform, testEnvironment: 'node' },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/support/cluster-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
