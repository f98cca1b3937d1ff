/**
 * `bbnp addresses`: show, check and change the address book (docs/deployment.md). Without --addr
 * it prints what a process of DIR would use (the book with this host's bbnp.json overrides),
 * checked against the genesis; with --addr it rewrites entries of the book file first, atomically,
 * keeping an entry's port when only a host is given.
 */
import { resolve } from 'node:path'
import {
  AddressBook,
  addressBookPath,
  dialAddress,
  listeningIds,
  loadAddressBook,
  loadGenesis,
  parseAddrFlag,
  placeAddress,
  readAddressBookFile,
  writeAddressBook
} from '@bbnp/node'
import { UsageError } from '@bbnp/core'
import { parseFlags, requireFlag } from '../args.ts'

export const ADDRESSES_USAGE = `usage: bbnp addresses --config DIR [--addr ID=WHERE ...]

Prints the address book the processes of DIR use (DIR/addresses.json with the "addresses" of
DIR/bbnp.json over it), checked against the genesis. With --addr, first changes entries of the
book file and writes it back (then copy it to every host and reload the processes: see
docs/deployment.md).

  --config DIR         the directory bbnp setup wrote (genesis.json, addresses.json)
  --address-book FILE  the book file (default DIR/addresses.json; also BBNP_ADDRESS_BOOK)
  --addr ID=WHERE      set the address of the gateway or cn-j (repeatable): an IP address or a DNS
                       name, either with :PORT (without one the entry keeps its port), or a multiaddr`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    config: { type: 'string' },
    'address-book': { type: 'string' },
    addr: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help) {
    process.stdout.write(`${ADDRESSES_USAGE}\n`)
    return 0
  }
  const configDir = resolve(requireFlag(values.config ?? process.env.BBNP_CONFIG, '--config'))
  const fileFlag = values['address-book'] ?? process.env.BBNP_ADDRESS_BOOK
  const file = addressBookPath(configDir, fileFlag === undefined || fileFlag === '' ? undefined : resolve(fileFlag))
  const genesis = loadGenesis(configDir)
  const sets = values.addr ?? []
  if (sets.length > 0) {
    const ids = listeningIds(genesis.consensus.length)
    const entries = readAddressBookFile(file, genesis)
    for (const a of sets) {
      const { id, spec } = parseAddrFlag(a)
      if (!ids.includes(id)) throw new UsageError('USAGE', `--addr ${a}: ${id} has no address (gateway, cn-1..cn-${ids.length - 1})`)
      // A host alone keeps the entry's port (0, refused, when the entry is missing or broken).
      let port = 0
      try {
        port = dialAddress(entries[id]).nodeAddress().port
      } catch {}
      const addr = placeAddress(spec, port, (msg) => {
        throw new UsageError('USAGE', `--addr ${a}: ${msg}`)
      })
      process.stdout.write(`${id}: ${entries[id] ?? '(none)'} -> ${addr}\n`)
      entries[id] = addr
    }
    // The whole book must still check out before it replaces the file.
    const book = new AddressBook(entries, ids, file)
    writeAddressBook(file, book.toJson(genesis.hash))
    process.stdout.write(`wrote ${file}\n`)
  }
  const book = loadAddressBook({ configDir, file }, genesis)
  for (const id of listeningIds(genesis.consensus.length)) process.stdout.write(`${id.padEnd(8)} ${book.address(id)}\n`)
  return 0
}
