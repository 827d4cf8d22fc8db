/**
 * One benchmark run inside a child process: import a module, call its
 * exported `main` with the given arguments plus `--json FILE`, and exit.
 *
 *   deno run -A bench/_train_child.ts examples/mf.ts OUT_TEMPLATE [module args...]
 *
 * The training benchmark runs the examples through it, and the policies
 * benchmark its one-node runs (`_policies_runs.ts`). Every such run gets a
 * fresh process (`_processes.ts`): a run that hangs can be killed at its
 * timeout without taking the benchmark down, and no run inherits another's
 * JIT state or heap. Under the launcher every node runs this same file, and
 * the module gets the template as its `--json`: it writes its own JSON with
 * `{node}` as its node's id (0 in a single process), as the examples do. The explicit exit keeps
 * a finished run from idling until its timeout should anything (a socket, a
 * timer) still hold the event loop.
 */
import process from "node:process"
import { pathToFileURL } from "node:url"
import { resolve } from "node:path"

const [file, template, ...args] = process.argv.slice(2)
if (file === undefined || template === undefined) {
  console.error("usage: _train_child.ts MODULE.ts OUT_TEMPLATE [module args...]")
  process.exit(2)
}
try {
  const imported = await import(pathToFileURL(resolve(file)).href)
  await imported.main([...args, "--json", template])
  process.exit(0)
} catch (error) {
  console.error(error)
  process.exit(1)
}
