/**
 * Whether objects are let go: a full garbage collection on demand (V8's `gc`,
 * exposed at run time), after the current job, whose WeakRef targets V8 keeps.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

/** True once nothing but weak references holds the target: collected after a full GC. */
export const isCollected = async (ref: WeakRef<object>): Promise<boolean> => {
  for (let attempt = 0; attempt < 3; attempt++) {
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    if (ref.deref() === undefined) return true
  }
  return false
}
