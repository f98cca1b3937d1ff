// Lint: ESLint's and typescript-eslint's recommended rules (pure JavaScript, so `npm ci`
// installs it on any platform; type checking itself is `npm run typecheck`).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/**
 * Which packages each package may import (docs/architecture.md): the pure packages hold the logic
 * and depend on core and crypto only; network knows nothing of the protocol; chain stores the
 * consensus package's blocks; node composes them all; cli drives node. Each package.json declares
 * the same list.
 */
const PURE = ['core', 'crypto']
export const LAYERS = {
  core: [],
  crypto: ['core'],
  aggregation: PURE,
  reputation: PURE,
  consensus: PURE,
  network: ['core'],
  chain: [...PURE, 'consensus'],
  node: [...PURE, 'aggregation', 'reputation', 'consensus', 'network', 'chain'],
  cli: [...PURE, 'aggregation', 'reputation', 'consensus', 'network', 'chain', 'node']
}

const layerRules = Object.entries(LAYERS).map(([name, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((p) => p !== name && !allowed.includes(p))
  return {
    files: [`packages/${name}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...(forbidden.length > 0
              ? [
                  {
                    group: forbidden.map((p) => `@bbnp/${p}`),
                    message: `${name} may import only: ${allowed.join(', ') || 'nothing of ours'} (eslint.config.js LAYERS)`
                  }
                ]
              : []),
            {
              group: ['../../*/src/*', '../../../*/src/*'],
              message: 'import another package by its name (@bbnp/...), never by a path into it'
            }
          ]
        }
      ]
    }
  }
})

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
  },
  ...layerRules
)
