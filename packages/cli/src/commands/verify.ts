/**
 * `bbnp verify`: check a stopped consensus peer's store offline, the whole chain: every block
 * links to its parent's hash, every index entry and certificate exists and agrees, and every
 * certificate verifies against the genesis keys (one pairing check per block). One summary line
 * on stdout; exit 0 when it all checks out, 1 when something is wrong, 2 for a usage or
 * configuration problem (a bad flag, no store, a store in use or of another genesis).
 */
import { isStoreDamage } from '@bbnp/chain'
import { parseFlags } from '../args.ts'
import { openStoppedStore, STORE_FLAGS, stderrLine, throttled } from './export.ts'

export const VERIFY_USAGE = `usage: bbnp verify --config DIR --data-dir DIR

Checks a stopped consensus peer's store: hash links, the hash and slot indexes, and every commit
certificate against the genesis keys. Prints one line; exit 0 if all of it checks out, 1 if not,
2 for a bad flag or a missing, locked or foreign store.

  --config DIR     the directory bbnp setup wrote (genesis.json)
  --data-dir DIR   the peer's data directory (its chain is DIR/chain); the peer must be stopped
  --id ID          instead of --data-dir: the directory bbnp start uses for ID (e.g. DIR/data/cn-1)

--config, --id and --data-dir can also come from BBNP_CONFIG, BBNP_ID and BBNP_DATA_DIR, as for
bbnp start. Progress goes to stderr every few seconds.`

const say = (line: string) => void process.stdout.write(`${line}\n`)

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { help: { type: 'boolean', short: 'h' }, ...STORE_FLAGS })
  if (values.help) {
    process.stdout.write(`${VERIFY_USAGE}\n`)
    return 0
  }
  let opened: Awaited<ReturnType<typeof openStoppedStore>>
  try {
    opened = await openStoppedStore(values)
  } catch (e) {
    // Opening checks the head and the newest blocks: damage found there is a finding, not a usage error.
    if (!isStoreDamage(e)) throw e
    say(e.message)
    return 1
  }
  const { store, dir } = opened
  try {
    const head = store.head().height
    const progress = throttled(stderrLine)
    const report = await store.verifyStore({
      certificates: true,
      onProgress: (h) => progress.report(() => `bbnp verify: height ${h} of ${head} (${Math.floor((100 * h) / Math.max(1, head))}%)`)
    })
    const lost = store.lostBlocks()
    if (lost) {
      say(
        `store ${dir}: ${report.blocks} blocks check out, but blocks ${lost.from}..${lost.to} it once held are lost (its log was cut short); bbnp start fetches them again from its peers`
      )
      return 1
    }
    if (report.height === 0) say(`store ${dir}: no blocks yet (only the genesis); its schema and genesis check out`)
    else say(`store ${dir}: ${report.blocks} blocks, heights 1..${report.height}, every link, index and certificate checks out`)
    return 0
  } catch (e) {
    if (!isStoreDamage(e)) throw e
    say(e.message)
    return 1
  } finally {
    await store.close()
  }
}
