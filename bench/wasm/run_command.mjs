// Node's V8 as the cold-start peer: runs a WASI command module's _start, as `berth-wasm` does,
// reading, compiling and instantiating it in a fresh process.
//   node run_command.mjs MODULE.wasm
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const wasi = new WASI({ version: "preview1", args: [process.argv[2]], env: {} });
const module = await WebAssembly.compile(readFileSync(process.argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
