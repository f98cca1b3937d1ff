/**
 * The API's contract: docs/openapi.json (OpenAPI 3.1) describes every route of every role and
 * every error; each role serves it at `/openapi.json`, read from the checkout on first use, so that
 * a process starts even where the file is missing (then that route alone answers 500).
 * packages/node/test/openapi.test.ts and e2e/contract.test.ts hold real answers against it.
 */
import { readFileSync } from 'node:fs'
import { projectPath } from '@bbnp/core'
import type { Route } from './http-api.ts'

export const OPENAPI_PATH = projectPath('docs', 'openapi.json')

export function openApiRoutes(): Record<string, Route> {
  let doc: Buffer | undefined
  return {
    '/openapi.json': () => ({ status: 200, body: (doc ??= readFileSync(OPENAPI_PATH)), contentType: 'application/json; charset=utf-8' })
  }
}
