import { UsageError } from '@bbnp/core'

export async function run(_argv: string[]): Promise<number> {
  throw new UsageError('USAGE', '"simulate" is not built yet')
}
