import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Cloud SDKs and Lambda plumbing: only lib/adapters/aws (and functions/, local/) may use them. */
const AWS_IMPORTS = [
  {
    group: ['@aws-sdk/*', 'aws-lambda', '@aws-lambda-powertools/*', '@middy/*'],
    message:
      'domain code in lib/ imports no AWS SDK, Lambda types, Powertools or middy: put it in lib/adapters/aws (behind a port in lib/ports) or in functions/',
  },
];
/** The runtimes: lib/ is imported by functions/ and local/, never the other way. */
const RUNTIME_IMPORTS = [
  {
    regex: '^(#|(\\.\\./){2,})(functions|local)/',
    message: 'lib/ may not import functions/ or local/ (the composition roots import lib, not the reverse)',
  },
];
const ADAPTER_IMPORTS = [
  {
    regex: '^(#lib/|\\.\\./)adapters/',
    message: 'a port may not import an adapter: adapters implement ports',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.venv/',
      '.venv-scan/',
      '.venv-aws/',
      '.venv-peers/',
      '.credit-risk/',
      'dist/',
      '.serverless/',
      'bench/results/',
      '**/*.cjs',
      'bench/peers/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // Plain JS files (scripts, bench load generator, bin shims) run on Node: declare its globals
    // (TypeScript files get them from @types/node, and no-undef is off for them).
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'Buffer',
          'performance',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'setImmediate',
          'queueMicrotask',
          'structuredClone',
          'fetch',
          'AbortController',
          'AbortSignal',
          'TextEncoder',
          'TextDecoder',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  // Architecture boundaries (docs/ARCHITECTURE.md): the domain knows no cloud and no runtime.
  {
    files: ['lib/**/*.ts'],
    ignores: ['lib/adapters/aws/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...AWS_IMPORTS, ...RUNTIME_IMPORTS] }] },
  },
  {
    files: ['lib/adapters/aws/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: RUNTIME_IMPORTS }] },
  },
  {
    // Ports are what adapters implement: a port never reaches for an implementation.
    files: ['lib/ports/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [...AWS_IMPORTS, ...RUNTIME_IMPORTS, ...ADAPTER_IMPORTS] },
      ],
    },
  },
);
