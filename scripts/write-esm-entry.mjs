// Writes dist/index.mjs, an ES module entry that re-exports the CommonJS build, so that
// `import` and `require` share one module instance (and one set of installed patches).
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const names = Object.keys(require('../dist/index.js')).filter((n) => n !== '__esModule' && n !== 'default');
writeFileSync(
  new URL('../dist/index.mjs', import.meta.url),
  `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`,
);
