/**
 * `GET /export`: the rows of `bbnp export` from a running peer (README "Export"), streamed with
 * chunked transfer encoding one page of blocks at a time, so a whole chain never sits in memory.
 * The range is fixed when the request arrives: blocks committed while it streams are not in it.
 */
import { BbnpError } from '@bbnp/core'
import type { BlockStore } from '@bbnp/chain'
import { EXPORT_CONTENT_TYPES, EXPORT_FORMATS, exportChunks, exportNetwork, exportRange, isExportFormat } from './export.ts'
import type { Genesis } from './genesis.ts'
import { intParam, type Route } from './http-api.ts'

const PARAMS = ['format', 'fromSlot', 'toSlot', 'fromHeight', 'toHeight']

function bad(message: string): never {
  throw new BbnpError('BAD_REQUEST', message)
}

export function exportRoutes(m: { genesis: Genesis; store: BlockStore }): Record<string, Route> {
  const net = exportNetwork(m.genesis)
  return {
    '/export': (_p, q) => {
      for (const k of q.keys()) if (!PARAMS.includes(k)) bad(`unknown parameter ${k} (one of: ${PARAMS.join(', ')})`)
      const format = q.get('format')
      if (!isExportFormat(format)) bad(`format must be ${EXPORT_FORMATS.join(' or ')}`)
      const bySlot = q.has('fromSlot') || q.has('toSlot')
      const byHeight = q.has('fromHeight') || q.has('toHeight')
      if (bySlot && byHeight) bad('give a slot range (fromSlot, toSlot) or a height range (fromHeight, toHeight), not both')
      const [fromName, toName] = bySlot ? ['fromSlot', 'toSlot'] : ['fromHeight', 'toHeight']
      const from = q.has(fromName) ? intParam(q.get(fromName), fromName) : undefined
      const to = q.has(toName) ? intParam(q.get(toName), toName) : undefined
      if (from !== undefined && to !== undefined && to < from) bad(`${toName} must not be below ${fromName}`)
      const range = exportRange(bySlot ? 'slot' : 'height', from, to, m.store.head())
      return { status: 200, body: null, contentType: EXPORT_CONTENT_TYPES[format], stream: exportChunks(m.store, range, format, net) }
    }
  }
}
