/**
 * The API's contract (docs/openapi.json) as a checker of real answers, shared by the in-process
 * test (openapi.test.ts) and the e2e test of real processes (e2e/contract.test.ts). Bodies are
 * validated by Ajv, a standard JSON Schema validator, with the 2020-12 dialect that OpenAPI 3.1
 * uses; the document's own `$ref`s resolve inside it.
 */
import { readFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import { OPENAPI_PATH } from '../src/api-contract.ts'

export type Role = 'consensus' | 'gateway' | 'meter'

/** A real answer, as read off the wire. */
export interface Answer {
  status: number
  contentType: string
  allow: string | null
  text: string
}

interface MediaType {
  schema?: object
  'x-line-schema'?: object
}
interface ResponseObject {
  $ref?: string
  description: string
  content?: Record<string, MediaType>
  headers?: Record<string, { schema: object }>
}
interface Operation {
  'x-roles': Role[]
  responses: Record<string, ResponseObject>
}
export interface OpenApiDocument {
  openapi: string
  paths: Record<string, { get: Operation }>
  components: { schemas: Record<string, object>; responses: Record<string, ResponseObject> }
}

const ID = 'https://bbnp.invalid/openapi.json'

/** JSON pointer escaping (RFC 6901), for a path such as "/blocks/{height}" inside the document. */
const escape = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1')

/** A route table's pattern ("/blocks/:height") as the document's path ("/blocks/{height}"), and back. */
export const docPath = (route: string) => route.replace(/:([A-Za-z]+)/g, '{$1}')
export const routePattern = (path: string) => path.replace(/\{([A-Za-z]+)\}/g, ':$1')

export function loadContract(path = OPENAPI_PATH): OpenApiDocument {
  return JSON.parse(readFileSync(path, 'utf8')) as OpenApiDocument
}

export class ApiContract {
  readonly doc: OpenApiDocument
  private readonly ajv: Ajv2020
  private readonly compiled = new Map<string, ValidateFunction>()

  constructor(doc: OpenApiDocument = loadContract()) {
    this.doc = doc
    // strict: a keyword Ajv does not know (a typo in the document) is an error, not ignored.
    this.ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true })
    // The document's non-schema parts are walked by JSON pointer only, never compiled as schemas.
    for (const k of ['openapi', 'info', 'tags', 'paths', 'components']) this.ajv.addKeyword(k)
    this.ajv.addSchema({ ...doc, $id: ID })
  }

  /** The paths the document lists for a role, in the route tables' form. */
  routesOf(role: Role): string[] {
    return Object.entries(this.doc.paths)
      .filter(([, item]) => item.get['x-roles'].includes(role))
      .map(([p]) => routePattern(p))
      .sort()
  }

  /** The compiled schema at a JSON pointer into the document. */
  validator(pointer: string): ValidateFunction {
    let v = this.compiled.get(pointer)
    if (!v) {
      v = this.ajv.getSchema(`${ID}#${pointer}`)
      if (!v) throw new Error(`no schema at ${pointer}`)
      this.compiled.set(pointer, v)
    }
    return v
  }

  /** Compile every schema of components/schemas: a malformed one throws. */
  compileAll(): void {
    for (const name of Object.keys(this.doc.components.schemas)) this.validator(`/components/schemas/${escape(name)}`)
  }

  /**
   * What is wrong with a real answer to GET `route` (a route table's pattern), or to a path the
   * role does not serve (`route` null: the document's NotFound). Empty when it conforms.
   */
  check(route: string | null, answer: Answer): string[] {
    const where = route === null ? 'an unknown path' : `GET ${route}`
    let base: string
    let response: ResponseObject | undefined
    if (route === null) {
      if (answer.status !== 404) return [`${where}: HTTP ${answer.status}, documented: 404`]
      base = '/components/responses/NotFound'
      response = this.doc.components.responses.NotFound
    } else {
      const path = docPath(route)
      const op = this.doc.paths[path]?.get
      if (!op) return [`${where}: not in the document`]
      base = `/paths/${escape(path)}/get/responses/${answer.status}`
      response = op.responses[String(answer.status)]
    }
    if (!response) return [`${where}: HTTP ${answer.status} is not documented`]
    if (response.$ref) {
      base = response.$ref.slice(1)
      response = this.doc.components.responses[response.$ref.split('/').at(-1)!]
    }
    const problems: string[] = []
    const allow = response.headers?.Allow
    if (allow) {
      const v = this.ajv.compile(allow.schema)
      if (!v(answer.allow)) problems.push(`${where}: Allow ${JSON.stringify(answer.allow)}: ${this.ajv.errorsText(v.errors)}`)
    }
    // The media type as served, or its essence without parameters ("application/json").
    const media = Object.keys(response.content ?? {})
    const type = [answer.contentType, answer.contentType.split(';')[0].trim()].find((t) => media.includes(t))
    if (!type) return [...problems, `${where}: HTTP ${answer.status} content-type ${answer.contentType}, documented: ${media.join(', ')}`]
    const at = `${base}/content/${escape(type)}`
    const content = response.content![type]
    const bodies =
      type === 'application/json'
        ? [{ pointer: `${at}/schema`, value: parse(answer.text) }]
        : content['x-line-schema']
          ? answer.text
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => ({ pointer: `${at}/x-line-schema`, value: parse(l) }))
          : [{ pointer: `${at}/schema`, value: answer.text as unknown }]
    for (const { pointer, value } of bodies) {
      const v = this.validator(pointer)
      if (!v(value)) problems.push(`${where}: HTTP ${answer.status}: ${this.ajv.errorsText(v.errors, { dataVar: 'body' })}`)
    }
    return problems
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return { notJson: text.slice(0, 200) }
  }
}

/** GET (or another method) and read the whole answer. */
export async function answer(url: string, method = 'GET'): Promise<Answer> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', allow: res.headers.get('allow'), text: await res.text() }
}
