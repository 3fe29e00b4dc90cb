import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O clients.
const forbiddenInWorkflows = {
  patterns: [
    { group: ['node:*'], message: 'workflows/ must stay deterministic: move I/O into activities/.' },
    { group: ['kafkajs', 'nodemailer', 'smtp-server', 'pino', 'prom-client'], message: 'workflows/ must not touch I/O clients: use an activity.' },
    { regex: '^\\.\\./src/(?!shared/)', message: 'workflows/ may import only src/shared (pure types and helpers).' },
  ],
  paths: ['fs', 'fs/promises', 'net', 'http', 'https', 'child_process', 'os', 'path', 'crypto', 'dgram', 'dns', 'tls', 'worker_threads']
    .map((name) => ({ name, message: 'workflows/ must stay deterministic: move I/O into activities/.' })),
};

export default tseslint.config(
  { ignores: ['node_modules/**', '.devstack/**', 'dist/**', 'coverage/**', 'bench/results/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', forbiddenInWorkflows] },
  },
  {
    // node:test's test() returns a promise the runner itself awaits.
    files: ['templates/init/test/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node }, sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
