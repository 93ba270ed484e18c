// ESLint (flat config): the recommended rules of ESLint and typescript-eslint on src/, test/,
// bench/ and scripts/, run by `npm test` before the tests (package.json "pretest").
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // wasm/ is AssemblyScript (its own types and built-ins), compiled by asc, not TypeScript.
  { ignores: ['dist/', 'node_modules/', 'spool/', 'wasm/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '*.js'],
    languageOptions: { globals: globals.node },
    rules: {
      // `const { configPath: _ignored, ...rest } = x` is how a key is left out of a copy: the
      // named key is unused on purpose when a rest sibling takes the others.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // destructuring 'all': `let [mantissa, exponent] = ...` with one of them reassigned stays one
      // statement. ignoreReadBeforeAssign: a test declares `let peer` so that its `t.after` cleanup
      // can close over it, then assigns it once further down; that cannot be a const.
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
    },
  },
  {
    // The dashboard runs in the browser, served as plain ES modules.
    files: ['src/dashboard/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
);
