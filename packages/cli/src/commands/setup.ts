import { UsageError } from '@bbnp/core'

export async function run(_argv: string[]): Promise<number> {
  throw new UsageError('USAGE', '"setup" is not built yet')
}
