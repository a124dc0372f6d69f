// Four projects mirror test/: unit (fast, no real components), integration (DuckDB, PGlite,
// onnxruntime-node, aws-local-stepfunctions, pyspark for real), e2e (whole flows through the CLI),
// aws (the AWS adapters against AWS API emulators: moto, PostgreSQL behind data-api-local; run by
// `npm run test:aws`, which starts them; scripts/jest.mjs leaves it out unless selected).
// Sources are ESM TypeScript; swc strips types, Node runs them as ES modules
// (--experimental-vm-modules is set by scripts/jest.mjs).
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
  },
];

const common = {
  transform: { '^.+\\.ts$': swc },
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^#lib/(.*)$': '<rootDir>/lib/$1',
    '^#functions/(.*)$': '<rootDir>/functions/$1',
    '^#local/(.*)$': '<rootDir>/local/$1',
  },
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...common, displayName: 'aws', testMatch: ['<rootDir>/test/aws/**/*.test.ts'] },
  ],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
  testTimeout: 120000,
};
