// The alarm thresholds for serverless.yml, read from lib/monitoring/alarm-thresholds.ts itself (the
// one module that holds them, docs/adr/0175-one-module-for-alarm-thresholds.md): esbuild turns
// that file into CommonJS and it is evaluated here, so the template cannot drift from the module.
// CommonJS because osls loads `${file(x.cjs):name}` sources with require().
const { transformSync } = require('esbuild');
const { readFileSync } = require('node:fs');
const { resolve } = require('node:path');

const file = resolve(__dirname, '../lib/monitoring/alarm-thresholds.ts');

function load() {
  const { code } = transformSync(readFileSync(file, 'utf8'), { loader: 'ts', format: 'cjs' });
  const mod = { exports: {} };
  // The module imports nothing (its header says so); a require in it would be a mistake.
  new Function('module', 'exports', 'require', code)(mod, mod.exports, () => {
    throw new Error(`${file} must import nothing: it is evaluated alone at package time`);
  });
  for (const [name, value] of Object.entries(mod.exports)) {
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`${file}: ${name} is not a finite number`);
  }
  return { ...mod.exports };
}

module.exports = load();
