/**
 * One example run inside a child process of the training benchmark: import
 * the example, call its exported `main` with the given arguments plus
 * `--json FILE`, and exit.
 *
 *   deno run -A bench/_train_child.ts examples/mf.ts OUT_TEMPLATE [example args...]
 *
 * Every run of the benchmark, in-process clusters and the plain twin
 * included, gets a fresh process: a run that hangs can be killed at its
 * timeout without taking the benchmark down, and no run inherits another's
 * JIT state or heap. Under the launcher every node runs this same file, so
 * `{node}` in the template becomes the node's id (`ROAM_NODE_ID`, 0 in a
 * single process) and each node writes its own JSON. The explicit exit keeps
 * a finished run from idling until its timeout should anything (a socket, a
 * timer) still hold the event loop.
 */
import process from "node:process"
import { pathToFileURL } from "node:url"
import { resolve } from "node:path"

const [example, template, ...args] = process.argv.slice(2)
if (example === undefined || template === undefined) {
  console.error("usage: _train_child.ts EXAMPLE.ts OUT_TEMPLATE [example args...]")
  process.exit(2)
}
const json = template.replaceAll("{node}", process.env.ROAM_NODE_ID ?? "0")
try {
  const module = await import(pathToFileURL(resolve(example)).href)
  await module.main([...args, "--json", json])
  process.exit(0)
} catch (error) {
  console.error(error)
  process.exit(1)
}
