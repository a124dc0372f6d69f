// The Glue job's files, content-addressed: the S3 keys change exactly when the script or the
// feature SQL change, so a deploy never runs a new job definition against an old script (or the
// reverse). serverless.yml reads these keys at package time (offline); infra/deploy.ts uploads the
// same files to the same keys in the artifacts bucket before `osls deploy`.
// CommonJS because osls loads `${file(x.cjs):name}` sources with require().
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { resolve } = require('node:path');

const root = resolve(__dirname, '..');
const files = {
  script: 'jobs/glue/extract_features.py',
  sql: 'lib/features/sql/features.sql',
};

function assets() {
  const hash = createHash('sha256');
  for (const rel of Object.values(files)) {
    let bytes;
    try {
      bytes = readFileSync(resolve(root, rel));
    } catch (err) {
      throw new Error(
        `Glue asset ${rel} is missing (${err.code}); the Glue job cannot be packaged without it`,
      );
    }
    hash.update(rel).update('\0').update(bytes).update('\0');
  }
  const prefix = `glue/${hash.digest('hex').slice(0, 16)}`;
  return {
    prefix,
    scriptKey: `${prefix}/extract_features.py`,
    sqlKey: `${prefix}/features.sql`,
    uploads: [
      { file: files.script, key: `${prefix}/extract_features.py` },
      { file: files.sql, key: `${prefix}/features.sql` },
    ],
  };
}

module.exports = { assets, files, scriptKey: () => assets().scriptKey, sqlKey: () => assets().sqlKey };
