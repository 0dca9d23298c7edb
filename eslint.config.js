import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'bin/', 'web/dist/'] },
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
  {
    // The verifier and what it needs run in the browser too: no Node built-ins, no Buffer.
    files: ['storage-layer/verify/**', 'storage-layer/bytes.ts', 'storage-layer/crypto.ts', 'storage-layer/merkle-core.ts', 'storage-layer/note.ts', 'storage-layer/noble-crypto.ts', 'storage-layer/witness/protocol.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['crypto', 'fs', 'path', 'buffer'], patterns: [
        { group: ['node:*'], message: 'browser-safe module: inject what needs Node (see storage-layer/crypto.ts).' },
        { group: ['**/management-layer/**', '**/usage-layer/**', '**/app/**', '**/test/**'], message: 'storage-layer depends on nothing above it.' },
        { group: ['../db', '../merkle', '../node-crypto', '../signing-key', './db', './merkle', './node-crypto', './signing-key'], message: 'browser-safe module: these use Node.' },
      ] }],
      'no-restricted-globals': ['error', { name: 'Buffer', message: 'browser-safe module: use Uint8Array (storage-layer/bytes.ts).' }],
    },
  },
  {
    // The web app runs in the browser: it reaches the gateway over HTTP only, and of the repository
    // it may import just the browser-safe ledger modules (the verifier's note, Merkle and trust code).
    files: ['web/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['crypto', 'fs', 'path', 'buffer'], patterns: [
        { group: ['node:*'], message: 'the web app runs in the browser.' },
        { group: ['**/app/**', '**/management-layer/**', '**/usage-layer/**', '**/parties/**', '**/mpc/**', '**/config', '**/test/**'], message: 'the web app talks to the gateway over HTTP; it imports only browser-safe storage-layer modules.' },
        { group: ['**/storage-layer/*', '!**/storage-layer/bytes', '!**/storage-layer/crypto', '!**/storage-layer/merkle-core', '!**/storage-layer/note', '!**/storage-layer/noble-crypto', '!**/storage-layer/verify'], message: 'only the browser-safe storage-layer modules (see the entry above).' },
      ] }],
      'no-restricted-globals': ['error', { name: 'Buffer', message: 'the web app runs in the browser: use Uint8Array.' }],
    },
  },
);
