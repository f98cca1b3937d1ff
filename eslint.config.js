// Lint: ESLint's and typescript-eslint's recommended rules (pure JavaScript, so `npm ci`
// installs it on any platform; type checking itself is `npm run typecheck`).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', '**/dist/**', '.devnet/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
      // Best-effort clean-up (killing a child that may be gone) ignores errors on purpose.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Handlers defined before the node they use exists read it only once it is assigned.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }]
    }
  },
  {
    // A codebase a newcomer can hold in their head (issue 11): small files, short functions.
    files: ['packages/*/src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 500, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: false, skipComments: false, IIFEs: true }]
    }
  }
)
