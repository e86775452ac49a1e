// Writes dist/index.mjs, an ES module entry that re-exports the CommonJS build, so that
// `import` and `require` share one module instance (and one set of installed patches), and
// dist/index.d.mts, its types: TypeScript reads a .d.ts beside a CommonJS package as CommonJS,
// so `import` needs declarations of its own (the `import.types` condition in package.json).
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const names = Object.keys(require('../dist/index.js')).filter((n) => n !== '__esModule' && n !== 'default');
writeFileSync(
  new URL('../dist/index.mjs', import.meta.url),
  `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`,
);
// `export *` carries the values, the types and (by loading index.d.ts) the augmentations of
// Sequelize's types; the default export is the CommonJS module object, as in index.mjs.
writeFileSync(
  new URL('../dist/index.d.mts', import.meta.url),
  `import * as cjs from './index.js';\nexport * from './index.js';\nexport default cjs;\n`,
);
