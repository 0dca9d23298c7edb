import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'bin/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/test/**', '../test/*'], message: 'Nothing imports from test/.' }] }],
    },
  },
  {
    files: ['mpc/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../*', '**/storage-layer/**', '**/management-layer/**', '**/usage-layer/**', '**/parties/**', '**/app/**', '**/config', '**/test/**', 'knex', 'express', 'pg', '@electric-sql/*'], message: 'mpc/ is pure maths: it imports nothing else from the repository, and no I/O library.' },
      ] }],
    },
  },
  {
    files: ['parties/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/management-layer/**', '**/usage-layer/**', '**/app/**', '**/config', '**/test/**', 'knex', 'pg'], message: 'parties/ (the transport between the gateway and the nodes) may import only mpc/ and storage-layer/ (keys, errors).' },
      ] }],
    },
  },
  {
    files: ['storage-layer/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/management-layer/**', '**/usage-layer/**', '**/app/**', '**/parties/**', '**/mpc/**', '**/test/**'], message: 'storage-layer depends on nothing above it.' },
      ] }],
    },
  },
  {
    files: ['management-layer/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/usage-layer/**', '**/app/**', '**/test/**'], message: 'management-layer may import only storage-layer.' },
      ] }],
    },
  },
  {
    files: ['usage-layer/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/app/**', '**/test/**'], message: 'usage-layer must not import the app or tests.' },
      ] }],
    },
  },
);
