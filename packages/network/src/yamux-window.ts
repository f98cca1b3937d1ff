/**
 * Yamux window updates as the reference implementation sends them. @chainsafe/libp2p-yamux 7.0.4
 * answers every data frame it reads with a WINDOW_UPDATE frame, so each gossip message costs a
 * second frame in the other direction (encrypted, written, read, decrypted): on a consensus peer
 * about a third of all socket writes (measured with strace, docs/performance.md). HashiCorp's
 * yamux, whose spec the library follows, sends an update only when a flag must go out or the
 * window has fallen below half (`sendWindowUpdate`: `if delta < max/2 && flags == 0 { return }`),
 * and so does this patch: a sender never blocks while it still has half a window (128 KiB at
 * least), and one that used up its window is unblocked by the update the next read sends.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

interface WindowState {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

let patched = false

export function sendYamuxWindowUpdatesAtHalf(): void {
  if (patched) return
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate(this: WindowState): void }
  const original = proto.sendWindowUpdate
  proto.sendWindowUpdate = function () {
    // No flag to send (SYN or ACK go out from Init and SYNReceived) and half the window left: nothing to do yet.
    const noFlags = this.state === StreamState.SYNSent || this.state === StreamState.Established
    if (noFlags && this.recvWindowCapacity >= this.recvWindow / 2) return
    original.call(this)
  }
  patched = true
}
